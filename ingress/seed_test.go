package ingress_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/cpibroker/cpibroker/broker"
	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/devkit/testkit"
)

const seedYAML = `
providers:
  - id: acme-http
    type: http
    title: ACME backend
    runtime: {url: "https://backend.acme.example", tokenurl: "https://login.acme.example/token", clientid: rt, clientsecret: "${SEED_RT_SECRET}"}
flows:
  - id: acme-orders
    provider: acme-http
    url: https://backend.acme.example/orders
    status: enabled
    policy: {max_attempts: 3}
clients:
  - id: acme
    name: ACME Corp
    grants: [acme-orders, demo-echo]
    client_secret: "${SEED_ACME_SECRET}"
  - id: ops
    roles: [admin]
    client_secret: plain-text-ops-secret
`

// TestConfigSeed: --config creates providers, flows and clients from YAML
// with ${ENV} secrets, hashes client secrets, keeps live state on a later
// seed and replaces it only with overwrite.
func TestConfigSeed(t *testing.T) {
	env := map[string]string{"SEED_RT_SECRET": "rt-secret-value", "SEED_ACME_SECRET": "acme-seeded-secret"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	seed, err := catalog.ParseSeed([]byte(seedYAML), lookup)
	if err != nil {
		t.Fatal(err)
	}
	sys := testkit.Start(t, testkit.Options{Configure: func(c *broker.Config) { c.Seed = seed }})
	if got := sys.Broker.Seeded; got.Created != 4 {
		t.Fatalf("seed result %+v", got)
	}
	f, _ := sys.Broker.Catalog.Flow("acme-orders")
	if f.Policy.MaxAttempts != 3 || f.Policy.Timeout.D() == 0 || f.Status != catalog.FlowEnabled {
		t.Fatalf("flow policy defaults not applied: %+v", f)
	}
	p, _ := sys.Broker.Catalog.Provider("acme-http")
	if p.Runtime.ClientSecret != "rt-secret-value" {
		t.Fatal("provider secret not expanded")
	}
	acme := &testkit.Partner{T: t, BaseURL: sys.BaseURL, HTTP: http.DefaultClient,
		Token: testkit.Token(t, sys.BaseURL, "acme", "acme-seeded-secret", "")}
	expectStatus(t, acme.Submit("demo-echo", "", []byte("{}"), nil), http.StatusAccepted)
	ops := &testkit.Partner{T: t, BaseURL: sys.BaseURL, HTTP: http.DefaultClient,
		Token: testkit.Token(t, sys.BaseURL, "ops", "plain-text-ops-secret", "")}
	expectStatus(t, ops.Do(http.MethodGet, "/admin/v1/clients/acme", nil, nil), http.StatusOK)
	ctx := context.Background()
	e, err := sys.Broker.Resources.Clients.Get(ctx, "acme")
	if err != nil || strings.Contains(string(e.Value()), "acme-seeded-secret") || !strings.Contains(string(e.Value()), "$2a$") {
		t.Fatalf("stored client: %v", err)
	}

	// Live changes survive a second seed; overwrite replaces them.
	expectStatus(t, sendJSON(ops, http.MethodPatch, "/admin/v1/clients/acme", map[string]any{"name": "Changed live"}), http.StatusOK)
	if res, err := sys.Broker.Catalog.ApplySeed(ctx, seed, false); err != nil || res.Kept != 4 || res.Created != 0 {
		t.Fatalf("second seed: %+v %v", res, err)
	}
	if c, _ := sys.Broker.Catalog.Client("acme"); c.Name != "Changed live" {
		t.Fatalf("seed overwrote live state: %q", c.Name)
	}
	if res, err := sys.Broker.Catalog.ApplySeed(ctx, seed, true); err != nil || res.Overwritten != 4 {
		t.Fatalf("overwrite: %+v %v", res, err)
	}
	if c, _ := sys.Broker.Catalog.Client("acme"); c.Name != "ACME Corp" {
		t.Fatalf("overwrite kept %q", c.Name)
	}

	for name, bad := range map[string]string{
		"unset variable": "clients: [{id: x, client_secret: \"${NOPE}\"}]",
		"unknown field":  "clients: [{id: x, client_secret: s, colour: red}]",
		"unknown key":    "tenants: []",
		"not yaml":       "clients: [",
	} {
		if _, err := catalog.ParseSeed([]byte(bad), lookup); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := sys.Broker.Catalog.ApplySeed(ctx, &catalog.Seed{Clients: []catalog.SeedClient{{Client: catalog.Client{ID: "nosecret"}}}}, false); err == nil {
		t.Error("client without a secret seeded")
	}
}
