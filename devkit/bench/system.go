package bench

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cpibroker/cpibroker/broker"
	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/devkit/cpisim"
)

// IDs of what the benchmark registers in the broker's catalog.
const (
	benchProvider = "bench"
	benchFlow     = "bench-echo"
	benchClient   = "bench-partner"
	benchIFlow    = "Bench"
	benchAddress  = "/bench/echo"
)

// system is a running broker with the simulator as provider "bench", the
// unlimited flow "bench-echo" and the client "bench-partner" holding a token.
type system struct {
	sim    *cpisim.Sim
	simSrv *http.Server
	simURL string
	b      *broker.Broker
	token  string
	submit string // the submit URL of the bench flow
}

// startSystem starts the simulator and the broker on dir. With paused, the
// dispatcher is paused before anything can be queued.
func startSystem(ctx context.Context, cfg Config, dir string, paused bool) (*system, error) {
	sim, err := cpisim.New(cpisim.Config{MaxRecordedCalls: -1, Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("bench: simulator: %w", err)
	}
	if err := sim.Deploy(cpisim.IFlow{
		ID: benchIFlow, Name: "Benchmark echo", Address: benchAddress,
		CSRF: false, Faults: cpisim.Faults{Latency: cfg.CPILatency},
	}); err != nil {
		return nil, fmt.Errorf("bench: deploy iFlow: %w", err)
	}
	// The simulator's handler on a server of our own, which stop closes
	// at once: Sim.Close's graceful shutdown waits 5s for connections the
	// dispatcher's pool dialed but never used (net/http treats a new
	// connection as active for 5s).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("bench: simulator listen: %w", err)
	}
	s := &system{sim: sim, simURL: "http://" + ln.Addr().String()}
	s.simSrv = &http.Server{Handler: sim.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.simSrv.Serve(ln) }()
	bc := broker.Config{
		DataDir: dir, Fsync: cfg.Fsync, Ingress: true, Dispatcher: true, Logger: cfg.Logger,
	}
	bc.NATS.URLs, bc.Layout.Replicas = cfg.NATSURL, cfg.Replicas
	bc.IngressConfig.Listen = "127.0.0.1:0"
	bc.IngressConfig.PublicURL = "http://127.0.0.1"
	if s.b, err = broker.Start(ctx, bc); err != nil {
		s.stop()
		return nil, fmt.Errorf("bench: broker: %w", err)
	}
	if paused {
		s.b.Dispatcher.Pause()
	}
	if err := s.register(ctx, cfg); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// register puts the provider, flow and client and fetches a token.
func (s *system) register(ctx context.Context, cfg Config) error {
	cat := s.b.Catalog
	if err := cat.PutProvider(ctx, catalog.Provider{
		ID: benchProvider, Type: catalog.ProviderCPI, Title: "Simulated CPI tenant (benchmark)",
		Runtime: catalog.Endpoint{
			URL: s.simURL, TokenURL: s.simURL + "/oauth/token",
			ClientID: cpisim.DefaultRuntimeClientID, ClientSecret: cpisim.DefaultRuntimeClientSecret,
		},
		CSRF: false,
	}, false); err != nil {
		return fmt.Errorf("bench: provider: %w", err)
	}
	policy := catalog.DefaultPolicy()
	// The bench measures the broker, not a policy: the flow is unlimited
	// (DESIGN 10: clients without limits), unless --non-binding-limits sets
	// limits far above what the machine can reach, to measure what
	// enforcing them costs.
	policy.Rate, policy.Concurrency = 0, 0
	var quota *catalog.Quota
	if cfg.NonBindingLimits {
		policy.Rate, policy.Concurrency = 1e6, 100_000
		quota = &catalog.Quota{Rate: 1e6, Burst: 1_000_000, Concurrency: 100_000, Allow: 1_000_000_000, Interval: "day"}
	}
	policy.Timeout = catalog.Duration(max(time.Minute, cfg.CPILatency+30*time.Second))
	if err := cat.PutFlow(ctx, catalog.Flow{
		ID: benchFlow, Provider: benchProvider, ArtifactID: benchIFlow, Address: benchAddress,
		Title: "Benchmark echo", Protocol: "REST", URL: s.simURL + "/http" + benchAddress,
		Status: catalog.FlowEnabled, Policy: policy,
	}, false); err != nil {
		return fmt.Errorf("bench: flow: %w", err)
	}
	secret, err := newSecret()
	if err != nil {
		return err
	}
	hash, err := catalog.HashSecret(secret)
	if err != nil {
		return err
	}
	if err := cat.PutClient(ctx, catalog.Client{
		ID: benchClient, Name: "Benchmark partner", Roles: []string{catalog.RolePartner}, Enabled: true,
		Grants: []string{benchFlow}, CallbackPrefixes: []string{}, Weight: 1, SecretHashes: []string{hash},
		Quota: quota, MaxBacklog: 10_000_000,
	}, false); err != nil {
		return fmt.Errorf("bench: client: %w", err)
	}
	base := s.b.BaseURL()
	if s.token, err = fetchToken(ctx, base, benchClient, secret); err != nil {
		return err
	}
	s.submit = base + "/v1/flows/" + benchFlow + "/jobs"
	return nil
}

// target is the submit request of the bench flow.
func (s *system) target(payload []byte) target {
	h := http.Header{}
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Authorization", "Bearer "+s.token)
	return target{url: s.submit, payload: payload, header: h}
}

// stop ends the broker, then the simulator (no call is in flight then).
func (s *system) stop() {
	if s.b != nil {
		_ = s.b.Stop()
	}
	_ = s.simSrv.Close()
	_ = s.sim.Close()
}

// fetchToken gets an access token with client credentials (HTTP Basic,
// form-encoded per RFC 6749 2.3.1), as a partner does.
func fetchToken(ctx context.Context, baseURL, id, secret string) (string, error) {
	form := url.Values{"grant_type": {"client_credentials"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, baseURL+"/oauth/token", strings.NewReader(form.Encode()))
	if err != nil {
		return "", fmt.Errorf("bench: token request: %w", err)
	}
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("bench: token: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return "", fmt.Errorf("bench: token: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("bench: token: status %d: %s", resp.StatusCode, b)
	}
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(b, &body); err != nil || body.AccessToken == "" {
		return "", errors.Join(errors.New("bench: token: no access_token in answer"), err)
	}
	return body.AccessToken, nil
}

func newSecret() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("bench: secret: %w", err)
	}
	return "cs_" + base64.RawURLEncoding.EncodeToString(b), nil
}
