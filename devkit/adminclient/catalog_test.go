package adminclient_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cpibroker/cpibroker/devkit/adminclient"
	"github.com/cpibroker/cpibroker/devkit/testkit"
)

// TestCLIProvidersAndFlows pastes the simulator's service keys into a new
// provider, tests and discovers it, and manages its flows, all through
// `cpibroker admin`.
func TestCLIProvidersAndFlows(t *testing.T) {
	sys := testkit.Start(t, testkit.Options{})
	creds := "--credentials=" + filepath.Join(sys.DataDir, "demo-credentials.json")
	run := func(args ...string) (map[string]any, string, error) {
		var out, errOut bytes.Buffer
		err := adminclient.Run(context.Background(), args, &out, &errOut, func(string) string { return "" })
		var m map[string]any
		if err == nil && out.Len() > 0 {
			if jerr := json.Unmarshal(out.Bytes(), &m); jerr != nil {
				t.Fatalf("%v: output %q", args, out.String())
			}
		}
		return m, out.String(), err
	}
	demo, _ := sys.Broker.Catalog.Provider("demo")
	dir := t.TempDir()
	writeKey := func(name, id, secret string) string {
		b, _ := json.Marshal(map[string]any{"oauth": map[string]string{
			"clientid": id, "clientsecret": secret, "url": sys.Sim.URL(), "tokenurl": sys.Sim.TokenURL(), "createdate": "2026-01-01T00:00:00Z"}})
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return "@" + p
	}
	t.Setenv("CPIB_CLI_API_SECRET", demo.API.ClientSecret)
	m, out, err := run("providers", "create", creds, "--id", "acme", "--title", "ACME",
		"--runtime-key", writeKey("rt.json", demo.Runtime.ClientID, demo.Runtime.ClientSecret),
		"--api-key", writeKey("api.json", demo.API.ClientID, "ignored"), "--api-secret-env", "CPIB_CLI_API_SECRET")
	if err != nil || m["id"] != "acme" || strings.Contains(out, demo.Runtime.ClientSecret) || !strings.Contains(out, `"clientsecret": "***"`) {
		t.Fatalf("create: %v %s", err, out)
	}
	if p, _ := sys.Broker.Catalog.Provider("acme"); p.API.ClientSecret != "${CPIB_CLI_API_SECRET}" || !p.CSRF {
		t.Fatalf("stored provider: api secret %q, csrf %v", p.API.ClientSecret, p.CSRF)
	}
	if m, _, err = run("providers", "test", "acme", creds); err != nil || m["ok"] != true {
		t.Fatalf("test: %v %v", m, err)
	}
	// The periodic runner may have discovered the new provider first.
	if m, _, err = run("providers", "discover", "acme", creds); err != nil || m["endpoints"] != 3.0 || m["added"].(float64)+m["unchanged"].(float64) != 3 {
		t.Fatalf("discover: %v %v", m, err)
	}
	if m, _, err = run("flows", "list", creds, "--provider", "acme", "--status", "disabled"); err != nil || len(m["items"].([]any)) != 3 {
		t.Fatalf("flows list: %v %v", m, err)
	}
	if m, _, err = run("flows", "enable", "acme-echo", creds); err != nil || m["status"] != "enabled" {
		t.Fatalf("flows enable: %v %v", m, err)
	}
	if m, _, err = run("flows", "patch", "acme-echo", creds, "--title", "Echo for ACME", "--policy", `{"max_attempts":3}`); err != nil ||
		m["title"] != "Echo for ACME" || m["policy"].(map[string]any)["max_attempts"] != 3.0 {
		t.Fatalf("flows patch: %v %v", m, err)
	}
	if _, _, err = run("flows", "patch", "acme-echo", creds, "--policy", `{"max_attempts":0}`); err == nil || !strings.Contains(err.Error(), "invalid_request") {
		t.Fatalf("invalid policy: %v", err)
	}
	if m, _, err = run("providers", "patch", "acme", creds, "--auto-enable", "--discovery-interval", "10m"); err != nil || m["auto_enable"] != true {
		t.Fatalf("providers patch: %v %v", m, err)
	}
	if m, _, err = run("providers", "list", creds); err != nil || len(m["items"].([]any)) != 2 {
		t.Fatalf("providers list: %v %v", m, err)
	}
	if _, _, err = run("providers", "delete", "acme", creds); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if m, _, err = run("flows", "get", "acme-echo", creds); err != nil || m["status"] != "unavailable" {
		t.Fatalf("flow of a deleted provider: %v %v", m, err)
	}
	for _, args := range [][]string{{"providers", "create", creds, "--id", "x", "--api-key", "{}"}, {"flows", "patch", "acme-echo", creds}, {"providers", "get", creds}} {
		if _, _, err := run(args...); err == nil {
			t.Fatalf("%v accepted", args)
		}
	}
}
