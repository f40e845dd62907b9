package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/catalog/discovery"
	"github.com/cpibroker/cpibroker/devkit/cpisim"
)

// ProviderID is the demo provider.
const ProviderID = "demo"

// Sim starts the simulated CPI tenant with the demo iFlows on a loopback port.
// It returns the simulator and the configuration (credentials) it runs with.
func Sim(log *slog.Logger) (*cpisim.Sim, cpisim.Config, error) {
	return startSim(log, simState{RuntimeSecret: secret(""), APISecret: secret("")})
}

// SimIn is Sim for a data directory: the simulator keeps its port and
// service-key secrets across restarts (dataDir/demo-simulator.json), so the
// demo provider and its flows stay valid while the restarted broker
// resumes queued jobs, before discovery has run again. When the old port
// is taken, a new one is used and discovery updates the flows.
func SimIn(log *slog.Logger, dataDir string) (*cpisim.Sim, cpisim.Config, error) {
	path := filepath.Join(dataDir, "demo-simulator.json")
	st := simState{}
	if b, err := os.ReadFile(path); err == nil {
		_ = json.Unmarshal(b, &st) // unreadable: start over
	}
	if st.RuntimeSecret == "" || st.APISecret == "" {
		st = simState{RuntimeSecret: secret(""), APISecret: secret("")}
	}
	sim, cfg, err := startSim(log, st)
	if err != nil {
		return nil, cfg, err
	}
	st.Listen = strings.TrimPrefix(sim.URL(), "http://")
	b, _ := json.Marshal(st)
	if err := os.MkdirAll(dataDir, 0o700); err == nil {
		err = os.WriteFile(path, b, 0o600)
	}
	if err != nil {
		log.Warn("demo: simulator state not saved; it gets a new port next time", "err", err)
	}
	return sim, cfg, nil
}

// simState is what SimIn keeps of the simulator.
type simState struct {
	Listen        string `json:"listen"`
	RuntimeSecret string `json:"runtime_client_secret"`
	APISecret     string `json:"api_client_secret"`
}

func startSim(log *slog.Logger, st simState) (*cpisim.Sim, cpisim.Config, error) {
	cfg := cpisim.Config{
		RuntimeClientID: "sb-demo-rt!b1|it-rt-demo!b2", RuntimeClientSecret: st.RuntimeSecret,
		APIClientID: "sb-demo-api!b1|it!b2", APIClientSecret: st.APISecret,
		Logger: log,
	}
	sim, err := cpisim.New(cfg)
	if err != nil {
		return nil, cfg, err
	}
	for _, f := range cpisim.DemoIFlows() {
		if err := sim.Deploy(f); err != nil {
			return nil, cfg, err
		}
	}
	if strings.HasPrefix(st.Listen, "127.0.0.1:") { // loopback only: /sim/v1 is unauthenticated
		if _, err := sim.Start(st.Listen); err == nil {
			return sim, cfg, nil
		}
	}
	if _, err := sim.Start("127.0.0.1:0"); err != nil {
		return nil, cfg, err
	}
	return sim, cfg, nil
}

// Discoverer discovers a provider's flows (catalog/discovery.Runner).
type Discoverer interface {
	Discover(ctx context.Context, provider string) (discovery.Result, error)
}

// Setup registers the simulator as provider "demo" (auto-enabling, with
// both service keys), discovers its flows through the simulator's OData
// API, grants them to the demo partner, makes sure the demo clients exist,
// and writes dataDir/demo-credentials.json. Live state is kept on restart:
// flows keep their status and policy, clients their secrets.
func Setup(ctx context.Context, cat *catalog.Store, disc Discoverer, sim *cpisim.Sim, rt cpisim.Config, baseURL, dataDir string) (Credentials, error) {
	path := filepath.Join(dataDir, "demo-credentials.json")
	creds, fresh, err := loadOrNewCredentials(path)
	if err != nil {
		return Credentials{}, err
	}
	creds.BaseURL = baseURL
	prov := catalog.Provider{
		ID: ProviderID, Type: catalog.ProviderCPI, Title: "Simulated CPI tenant (demo)",
		Runtime: catalog.Endpoint{URL: sim.URL(), TokenURL: sim.TokenURL(), ClientID: rt.RuntimeClientID, ClientSecret: rt.RuntimeClientSecret},
		API:     &catalog.Endpoint{URL: sim.URL(), TokenURL: sim.TokenURL(), ClientID: rt.APIClientID, ClientSecret: rt.APIClientSecret},
		CSRF:    true, AutoEnable: true,
	}
	// The simulator listens on a new port each start: the provider follows.
	if err := cat.PutProvider(ctx, prov, false); err != nil {
		return Credentials{}, err
	}
	_, flakyExisted := cat.Flow("demo-flaky")
	res, err := disc.Discover(ctx, ProviderID)
	if err != nil {
		return Credentials{}, fmt.Errorf("demo: discovering the simulated tenant: %w", err)
	}
	var grants []string
	for _, f := range cpisim.DemoIFlows() {
		id := "demo-" + strings.ToLower(f.ID) // the flow ID discovery gives artifact f.ID
		if _, ok := cat.Flow(id); !ok {
			return Credentials{}, fmt.Errorf("demo: flow %s not discovered (%+v)", id, res)
		}
		grants = append(grants, id)
	}
	if !flakyExisted {
		// Enough attempts that a 50% flaky iFlow usually succeeds, and a
		// breaker that its designed flakiness does not trip (the default
		// opens at a 50% failure ratio), so the demo shows retries.
		if _, err := cat.UpdateFlow(ctx, "demo-flaky", func(f *catalog.Flow) error {
			f.Policy.MaxAttempts = 5
			f.Policy.Breaker.ConsecutiveFailures = 10
			f.Policy.Breaker.FailureRatio = 0.9
			f.Policy.Breaker.OpenFor = catalog.Duration(5 * time.Second)
			return nil
		}); err != nil {
			return Credentials{}, err
		}
	}
	if err := ensureClient(ctx, cat, catalog.Client{
		ID: PartnerID, Name: "Demo partner", Roles: []string{catalog.RolePartner}, Enabled: true,
		Grants: grants, CallbackPrefixes: []string{"http://127.0.0.1:9099/", "http://localhost:9099/"},
		WebhookSecret: creds.Partner.WebhookSecret, Weight: 1,
	}, creds.Partner.ClientSecret, fresh); err != nil {
		return Credentials{}, err
	}
	if err := ensureClient(ctx, cat, catalog.Client{
		ID: AdminID, Name: "Demo operator", Roles: []string{catalog.RoleAdmin}, Enabled: true, Grants: []string{},
		CallbackPrefixes: []string{},
	}, creds.Admin.ClientSecret, fresh); err != nil {
		return Credentials{}, err
	}
	if err := writeCredentials(path, creds); err != nil {
		return Credentials{}, err
	}
	return creds, nil
}

// ensureClient creates a demo client, or re-keys it when the credentials
// file is new (lost). An existing client keeps its live settings.
func ensureClient(ctx context.Context, cat *catalog.Store, c catalog.Client, secret string, fresh bool) error {
	cur, ok := cat.Client(c.ID)
	if ok && !fresh {
		if _, err := cat.VerifySecret(c.ID, secret); err == nil || !cur.Enabled {
			return upgradePrefixes(ctx, cat, cur, c.CallbackPrefixes)
		}
	}
	if ok {
		ws := c.WebhookSecret
		c = cur
		if ws != "" {
			c.WebhookSecret = ws
		}
	}
	h, err := catalog.HashSecret(secret)
	if err != nil {
		return err
	}
	c.SecretHashes = []string{h}
	if err := cat.PutClient(ctx, c, false); err != nil {
		return fmt.Errorf("demo: client %s: %w", c.ID, err)
	}
	return nil
}

// upgradePrefixes replaces the callback prefixes of a demo client kept
// from an older release ("http://127.0.0.1:", any port) that are no longer
// valid (a prefix names scheme, host, port and path) with the current
// demo prefixes, so the kept client can still be changed.
func upgradePrefixes(ctx context.Context, cat *catalog.Store, cur catalog.Client, prefixes []string) error {
	for _, p := range cur.CallbackPrefixes {
		if _, err := catalog.NormalizeCallbackPrefix(p); err != nil {
			_, err := cat.UpdateClient(ctx, cur.ID, func(c *catalog.Client) error {
				c.CallbackPrefixes = prefixes
				return nil
			})
			return err
		}
	}
	return nil
}
