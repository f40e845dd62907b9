package ingress_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/broker"
	"github.com/cpibroker/cpibroker/devkit/testkit"
)

// freePort returns a loopback TCP port that was free a moment ago.
// startSecondIngress starts an ingress-only broker on the first system's
// JetStream, with its own signing key.
func startSecondIngress(t *testing.T, natsURL string) *broker.Broker {
	t.Helper()
	cfg := broker.Config{DataDir: t.TempDir(), Ingress: true, Logger: testkit.Logger(t)}
	cfg.NATS.URLs = natsURL
	cfg.IngressConfig.Listen = "127.0.0.1:0"
	cfg.IngressConfig.PublicURL = "http://127.0.0.1"
	ctx, cancel := context.WithCancel(context.Background())
	b, err := broker.Start(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatalf("second ingress: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		_ = b.Wait()
	})
	return b
}

// until polls cond every millisecond and returns how long it took to hold;
// it fails the test after deadline.
func until(t *testing.T, deadline time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > deadline {
			t.Fatalf("%s: not within %s", what, deadline)
		}
		time.Sleep(time.Millisecond)
	}
	return time.Since(start)
}

// TestRevocationReachesEveryIngress: two ingress processes on one
// JetStream. Grant removal, disabling and deletion done through the admin
// API of the first take effect on the second within 2 s, for a token
// already issued, with no restart (DESIGN 2.2).
func TestRevocationReachesEveryIngress(t *testing.T) {
	a := testkit.Start(t, testkit.Options{Configure: func(c *broker.Config) {
		c.NATSListen = "127.0.0.1:0" // a free port, chosen by the server itself
	}})
	b := startSecondIngress(t, a.Broker.Server.ClientURL())
	admin := adminOf(t, a)
	partner := addPartner(t, a, "acme", []string{"demo-echo", "demo-slow"})
	onB := &testkit.Partner{T: t, BaseURL: b.BaseURL(), Token: partner.Token, HTTP: http.DefaultClient}

	// Keys are shared through KV: A's token works on B, B's token on A.
	expectStatus(t, onB.Do(http.MethodGet, "/v1/flows", nil, nil), http.StatusOK)
	fromB := testkit.Token(t, b.BaseURL(), "acme", "secret-acme", "")
	onA := &testkit.Partner{T: t, BaseURL: a.BaseURL, Token: fromB, HTTP: http.DefaultClient}
	expectStatus(t, onA.Do(http.MethodGet, "/v1/flows", nil, nil), http.StatusOK)
	if a.Broker.Keys.SigningKey().KID() == b.Keys.SigningKey().KID() {
		t.Fatal("both ingresses sign with the same key")
	}

	granted := func(flow string) bool {
		r := onB.Do(http.MethodGet, "/v1/flows", nil, nil)
		return r.Status == http.StatusOK && strings.Contains(string(r.Body), `"`+flow+`"`)
	}
	status := func() int { return onB.Do(http.MethodGet, "/v1/flows", nil, nil).Status }

	expectStatus(t, sendJSON(admin, http.MethodPatch, "/admin/v1/clients/acme", map[string]any{"grants": []string{"demo-slow"}}), http.StatusOK)
	d1 := until(t, 2*time.Second, "grant removal on B", func() bool { return !granted("demo-echo") })
	expectProblem(t, onB.Submit("demo-echo", "", []byte("{}"), nil), http.StatusNotFound, "flow_not_found")

	expectStatus(t, sendJSON(admin, http.MethodPatch, "/admin/v1/clients/acme", map[string]any{"enabled": false}), http.StatusOK)
	d2 := until(t, 2*time.Second, "disabling on B", func() bool { return status() == http.StatusUnauthorized })

	expectStatus(t, sendJSON(admin, http.MethodPatch, "/admin/v1/clients/acme", map[string]any{"enabled": true}), http.StatusOK)
	until(t, 2*time.Second, "re-enabling on B", func() bool { return status() == http.StatusOK })

	expectStatus(t, sendJSON(admin, http.MethodDelete, "/admin/v1/clients/acme", nil), http.StatusNoContent)
	d3 := until(t, 2*time.Second, "deletion on B", func() bool { return status() == http.StatusUnauthorized })
	expectProblem(t, onB.Do(http.MethodGet, "/v1/flows", nil, nil), http.StatusUnauthorized, "invalid_token")
	t.Logf("propagation to the second ingress: grant removal %s, disable %s, delete %s", d1, d2, d3)
}
