package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/devkit/adminclient"
	"github.com/cpibroker/cpibroker/devkit/demo"
	"github.com/cpibroker/cpibroker/devkit/testkit"
)

// serveDemo runs `cpibroker serve --demo` in-process until the test's
// cancel, and returns the credentials it wrote.
func serveDemo(t *testing.T, dir string) (demo.Credentials, func()) {
	t.Helper()
	path := filepath.Join(dir, "demo-credentials.json")
	before, _ := os.Stat(path)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		errc <- run(ctx, []string{"serve", "--demo", "--data-dir", dir, "--listen", "127.0.0.1:0", "--log-level", "error"})
	}()
	var creds demo.Credentials
	testkit.Eventually(t, 30*time.Second, "demo credentials written", func() bool {
		select {
		case err := <-errc:
			t.Fatalf("serve exited: %v", err)
		default:
		}
		st, err := os.Stat(path)
		if err != nil || (before != nil && !st.ModTime().After(before.ModTime())) {
			return false
		}
		b, err := os.ReadFile(path)
		return err == nil && json.Unmarshal(b, &creds) == nil && creds.BaseURL != ""
	})
	return creds, func() {
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("serve returned %v after cancel", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop within 30s")
		}
	}
}

func TestServeDemoAndRestart(t *testing.T) {
	dir := t.TempDir()
	creds, stop := serveDemo(t, dir)
	if !strings.HasPrefix(creds.BaseURL, "http://127.0.0.1:") || creds.Partner.ClientID != demo.PartnerID ||
		!strings.HasPrefix(creds.Partner.WebhookSecret, "whsec_") || creds.Admin.ClientSecret == "" {
		t.Fatalf("credentials %+v", creds)
	}
	// With --listen on port 0, the issuer names the real port.
	meta, err := http.Get(creds.BaseURL + "/.well-known/oauth-authorization-server")
	if err != nil {
		t.Fatal(err)
	}
	var md struct {
		Issuer string `json:"issuer"`
	}
	if err := json.NewDecoder(meta.Body).Decode(&md); err != nil || md.Issuer != creds.BaseURL {
		t.Fatalf("issuer %q, want %q (%v)", md.Issuer, creds.BaseURL, err)
	}
	meta.Body.Close()
	p := &testkit.Partner{T: t, BaseURL: creds.BaseURL, HTTP: http.DefaultClient,
		Token: testkit.Token(t, creds.BaseURL, creds.Partner.ClientID, creds.Partner.ClientSecret, "")}
	var j testkit.Job
	p.Submit("demo-echo", "application/json", []byte(`{"hello":"cpi"}`), nil).JSON(t, &j)
	if done := p.WaitJob(j.ID, 30*time.Second); done.Status != "succeeded" {
		t.Fatalf("demo-echo job %+v", done)
	}
	stop()

	again, stop2 := serveDemo(t, dir)
	defer stop2()
	if again.Partner != creds.Partner || again.Admin != creds.Admin {
		t.Fatal("credentials changed across a restart on the same data dir")
	}
	p.BaseURL = again.BaseURL
	p.Token = testkit.Token(t, again.BaseURL, again.Partner.ClientID, again.Partner.ClientSecret, "")
	r := p.Do(http.MethodGet, "/v1/jobs/"+j.ID+"/result", nil, nil)
	if r.Status != 200 || string(r.Body) != `{"hello":"cpi"}` {
		t.Fatalf("result after restart: %d %s", r.Status, r.Body)
	}
}

func TestUnknownCommandAndRoleFlags(t *testing.T) {
	if err := run(context.Background(), []string{"nope"}); err == nil {
		t.Fatal("unknown command accepted")
	}
	if err := run(context.Background(), []string{"dispatcher"}); err == nil || !strings.Contains(err.Error(), "--nats-url") {
		t.Fatalf("dispatcher without --nats-url: %v", err)
	}
	if err := run(context.Background(), []string{"serve", "--fsync", "sometimes", "--data-dir", t.TempDir()}); err == nil {
		t.Fatal("bad --fsync accepted")
	}
}

// A bad listen address is named as such, before the data dir is touched.
func TestBadListenAddress(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	for flag, val := range map[string]string{"--listen": "nonsense", "--admin-listen": "127.0.0.1:99999"} {
		err := run(context.Background(), []string{"serve", flag, val, "--data-dir", dir})
		if err == nil || !strings.Contains(err.Error(), flag+` "`+val+`"`) || strings.Contains(err.Error(), "issuer") {
			t.Fatalf("%s %s: %v", flag, val, err)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("the data dir was created: %v", err)
	}
}

// The help lists every admin group, help exits 0, a wrong command line 2
// and a failed operation 1.
func TestHelpAndExitCodes(t *testing.T) {
	for _, g := range adminclient.Groups() {
		if !strings.Contains(usage(), g) {
			t.Errorf("cpibroker --help does not list admin %s", g)
		}
	}
	for _, args := range [][]string{{"--help"}, {"admin", "--help"}, {"admin", "dlq", "--help"}} {
		if code := exitCode(run(context.Background(), args), io.Discard); code != 0 {
			t.Errorf("%v: exit %d", args, code)
		}
	}
	for _, args := range [][]string{{"nope"}, {"admin", "clients", "explode"}, {"serve", "--no-such-flag"},
		{"serve", "--listen", "nonsense"}, {"admin", "clients", "rotate-secret", "x", "--overlap", "soon"}} {
		if code := exitCode(run(context.Background(), args), io.Discard); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	// An operation that fails: nothing listens at the URL.
	if code := exitCode(run(context.Background(), []string{"admin", "clients", "list", "--url", "http://127.0.0.1:1",
		"--client-id", "a", "--client-secret", "b"}), io.Discard); code != 1 {
		t.Errorf("failed operation: exit %d, want 1", code)
	}
}
