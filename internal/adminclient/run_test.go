package adminclient_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cpibroker/cpibroker/internal/adminclient"
	"github.com/cpibroker/cpibroker/internal/testkit"
)

// TestCLI drives `cpibroker admin` against a running broker with the
// demo credentials file, then with credentials from the environment.
func TestCLI(t *testing.T) {
	sys := testkit.Start(t, testkit.Options{})
	creds := filepath.Join(sys.DataDir, "demo-credentials.json")
	noEnv := func(string) string { return "" }
	run := func(getenv func(string) string, args ...string) (map[string]any, error) {
		var out, errOut bytes.Buffer
		err := adminclient.Run(context.Background(), args, &out, &errOut, getenv)
		var m map[string]any
		if err == nil && out.Len() > 0 {
			if jerr := json.Unmarshal(out.Bytes(), &m); jerr != nil {
				t.Fatalf("%v: output %q", args, out.String())
			}
		}
		return m, err
	}
	c := "--credentials=" + creds

	m, err := run(noEnv, "clients", "create", c, "--id", "acme", "--grants", "demo-echo,demo-slow", "--name", "ACME Corp")
	if err != nil || m["client_secret"] == "" || m["id"] != "acme" {
		t.Fatalf("create: %v %v", m, err)
	}
	secret := m["client_secret"].(string)
	testkit.Token(t, sys.BaseURL, "acme", secret, "flow:demo-slow")

	if m, err = run(noEnv, "clients", "get", "acme", c); err != nil || m["name"] != "ACME Corp" || m["client_secret"] != nil {
		t.Fatalf("get: %v %v", m, err)
	}
	if m, err = run(noEnv, "clients", "patch", "acme", c, "--enabled=false", "--grants", "demo-echo"); err != nil || m["enabled"] != false {
		t.Fatalf("patch: %v %v", m, err)
	}
	if m, err = run(noEnv, "clients", "list", c, "--limit", "1"); err != nil || m["next_cursor"] != "acme" {
		t.Fatalf("list: %v %v", m, err)
	}
	if m, err = run(noEnv, "clients", "rotate-secret", "acme", c, "--overlap", "1h"); err != nil || m["client_secret"] == secret {
		t.Fatalf("rotate-secret: %v %v", m, err)
	}
	if m, err = run(noEnv, "clients", "rotate-webhook-secret", "acme", c); err != nil || !strings.HasPrefix(m["webhook_secret"].(string), "whsec_") {
		t.Fatalf("rotate-webhook-secret: %v %v", m, err)
	}
	if _, err = run(noEnv, "clients", "delete", "acme", c); err != nil {
		t.Fatalf("delete: %v", err)
	}
	var apiErr *adminclient.APIError
	if _, err = run(noEnv, "clients", "get", "acme", c); !errors.As(err, &apiErr) || apiErr.Status != 404 || !strings.Contains(err.Error(), "not_found") {
		t.Fatalf("get deleted: %v", err)
	}

	// Credentials from the environment; keys and audit.
	env := map[string]string{"CPIB_ADMIN_CLIENT_ID": sys.Creds.Admin.ClientID, "CPIB_ADMIN_CLIENT_SECRET": sys.Creds.Admin.ClientSecret, "CPIB_URL": sys.BaseURL}
	getenv := func(k string) string { return env[k] }
	if m, err = run(getenv, "keys", "list"); err != nil || len(m["items"].([]any)) == 0 {
		t.Fatalf("keys list: %v %v", m, err)
	}
	if m, err = run(getenv, "audit", "--action", "client", "--actor", "demo-admin"); err != nil || m["items"] == nil {
		t.Fatalf("audit: %v %v", m, err)
	}
	if m, err = run(getenv, "dlq", "list", "--kind", "callback"); err != nil || m["items"] == nil {
		t.Fatalf("dlq list: %v %v", m, err)
	}
	if m, err = run(getenv, "dlq", "replay", "999"); err != nil || len(m["skipped"].([]any)) != 1 {
		t.Fatalf("dlq replay: %v %v", m, err)
	}
	if m, err = run(getenv, "breakers", "list"); err != nil || len(m["items"].([]any)) == 0 {
		t.Fatalf("breakers list: %v %v", m, err)
	}
	if m, err = run(getenv, "breakers", "reset", "demo-echo"); err != nil || m["state"] != "closed" {
		t.Fatalf("breakers reset: %v %v", m, err)
	}
	// A partner is refused.
	env["CPIB_ADMIN_CLIENT_ID"], env["CPIB_ADMIN_CLIENT_SECRET"] = sys.Creds.Partner.ClientID, sys.Creds.Partner.ClientSecret
	if _, err = run(getenv, "clients", "list"); err == nil || !strings.Contains(err.Error(), "invalid_scope") {
		t.Fatalf("partner: %v", err)
	}
	for _, args := range [][]string{{}, {"clients"}, {"clients", "explode"}, {"clients", "get", c}, {"clients", "create", c}} {
		if _, err := run(noEnv, args...); err == nil {
			t.Fatalf("%v accepted", args)
		}
	}
}
