package adminclient_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cpibroker/cpibroker/devkit/adminclient"
	"github.com/cpibroker/cpibroker/devkit/testkit"
	"gopkg.in/yaml.v3"
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
	if _, err = run(getenv, "clients", "list"); err == nil || !strings.Contains(err.Error(), "invalid_scope") ||
		!strings.Contains(err.Error(), `client "demo-partner" lacks the admin role`) || errors.Is(err, adminclient.ErrUsage) {
		t.Fatalf("partner: %v", err)
	}
	for _, args := range [][]string{{}, {"clients"}, {"clients", "explode"}, {"clients", "get", c}, {"clients", "create", c},
		{"frobs", "list"}, {"clients", "rotate-secret", "demo-partner", c, "--overlap", "soon"}, {"clients", "list", c, "-o", "xml"}} {
		if _, err := run(noEnv, args...); !errors.Is(err, adminclient.ErrUsage) {
			t.Fatalf("%v: %v, want a usage error", args, err)
		}
	}
}

// Help goes to stdout and is no error; a wrong command line says what is
// wrong first and does not bury it under the whole usage.
func TestCLIHelpAndUsageErrors(t *testing.T) {
	noEnv := func(string) string { return "" }
	for _, args := range [][]string{{"--help"}, {"help"}, {"clients", "--help"}, {"clients", "list", "-h"}} {
		var out, errOut bytes.Buffer
		if err := adminclient.Run(context.Background(), args, &out, &errOut, noEnv); err != nil || !strings.Contains(out.String(), "cpibroker admin clients list") || errOut.Len() > 0 {
			t.Fatalf("%v: %v\nstdout %q\nstderr %q", args, err, out.String(), errOut.String())
		}
	}
	var out, errOut bytes.Buffer
	err := adminclient.Run(context.Background(), []string{"clients", "explode"}, &out, &errOut, noEnv)
	if !errors.Is(err, adminclient.ErrUsage) || out.Len()+errOut.Len() > 0 ||
		!strings.Contains(err.Error(), `unknown command "admin clients explode"`) || !strings.Contains(err.Error(), "rotate-secret") {
		t.Fatalf("unknown verb: %v (printed %q %q)", err, out.String(), errOut.String())
	}
	err = adminclient.Run(context.Background(), []string{"clients", "rotate-secret", "acme", "--overlap", "soon"}, &out, &errOut, noEnv)
	if err == nil || !strings.Contains(err.Error(), `--overlap "soon" is not a duration`) || strings.Contains(err.Error(), "JSON") {
		t.Fatalf("bad overlap: %v", err)
	}
}

// Tables for people, -o json and -o yaml for scripts; a provider test that
// fails is a failed command.
func TestCLIOutputAndFailedTest(t *testing.T) {
	sys := testkit.Start(t, testkit.Options{})
	c := "--credentials=" + filepath.Join(sys.DataDir, "demo-credentials.json")
	noEnv := func(string) string { return "" }
	run := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := adminclient.Run(context.Background(), append(args, c), &out, &errOut, noEnv)
		return out.String(), err
	}
	out, err := run("clients", "list", "-o", "table")
	if err != nil || !regexp.MustCompile(`(?m)^ID\s+NAME\s+ROLES\s+ENABLED\s+GRANTS$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^demo-partner\s+.*\s+partner\s+true\s+demo-echo,`).MatchString(out) {
		t.Fatalf("table: %v\n%s", err, out)
	}
	out, err = run("keys", "list", "-o", "table")
	if err != nil || !regexp.MustCompile(`(?m)^JWK_KID\s+STATE\s+SIGNING\s+CREATED_AT`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^\S+\s+active\s+true\s+20`).MatchString(out) {
		t.Fatalf("keys table: %v\n%s", err, out)
	}
	out, err = run("clients", "get", "demo-partner", "-o", "yaml")
	var y map[string]any
	if err != nil || yaml.Unmarshal([]byte(out), &y) != nil || y["id"] != "demo-partner" || !strings.HasPrefix(out, "id: demo-partner\n") {
		t.Fatalf("yaml: %v\n%s", err, out)
	}
	out, err = run("clients", "get", "demo-partner", "-o", "table")
	if err != nil || !regexp.MustCompile(`(?m)^ID\s+demo-partner$`).MatchString(out) {
		t.Fatalf("object table: %v\n%s", err, out)
	}
	out, err = run("clients", "get", "demo-partner")
	if err != nil || !json.Valid([]byte(out)) {
		t.Fatalf("not a terminal: JSON by default: %v\n%s", err, out)
	}

	// A provider whose API credentials are wrong: the test reports it and
	// the command fails.
	key := `{"oauth":{"url":"` + sys.Sim.URL() + `","tokenurl":"` + sys.Sim.URL() + `/oauth/token","clientid":"nobody","clientsecret":"wrong"}}`
	if _, err := run("providers", "create", "--id", "broken", "--runtime-key", key, "--api-key", key); err != nil {
		t.Fatalf("create provider: %v", err)
	}
	out, err = run("providers", "test", "broken", "-o", "table")
	if !errors.Is(err, adminclient.ErrFailed) || errors.Is(err, adminclient.ErrUsage) || !strings.Contains(out, "STEPS:") {
		t.Fatalf("failed test: %v\n%s", err, out)
	}
	if _, err := run("providers", "test", "demo"); err != nil {
		t.Fatalf("a passing test: %v", err)
	}
}
