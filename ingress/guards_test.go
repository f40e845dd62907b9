package ingress_test

import (
	"context"
	"encoding/base64"
	"github.com/cpibroker/cpibroker/broker"
	"github.com/cpibroker/cpibroker/catalog"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/devkit/testkit"
)

// Issue 12 point 9: a cursor past the newest event is refused (it used to
// wrap to the start of the feed at 2^64-1), and results are never sniffed
// by a browser.
func TestEventCursorPastTheEndAndNosniff(t *testing.T) {
	sys := testkit.Start(t, testkit.Options{})
	p := sys.Partner()
	var j testkit.Job
	p.Submit("demo-echo", "text/html", []byte("<script>alert(1)</script>"), nil).JSON(t, &j)
	p.WaitJob(j.ID, 30*time.Second)

	waitFeedEvent(t, p, j.ID) // the event is published just after the record turns terminal
	page := readFeed(t, p, "")
	if len(page.Items) != 1 {
		t.Fatalf("feed has %d events, want 1", len(page.Items))
	}
	if pg := readFeed(t, p, "?after="+page.NextCursor); len(pg.Items) != 0 {
		t.Fatalf("the newest cursor gave %d events", len(pg.Items))
	}
	last, _ := strconv.ParseUint(page.NextCursor, 10, 64)
	for _, after := range []string{"18446744073709551615", strconv.FormatUint(last+1000, 10)} {
		expectProblem(t, p.Do(http.MethodGet, "/v1/events?after="+after, nil, nil), 400, "invalid_request")
		expectProblem(t, p.Do(http.MethodGet, "/v1/events?after="+after+"&wait=1s", nil, nil), 400, "invalid_request")
	}

	r := p.Do(http.MethodGet, "/v1/jobs/"+j.ID+"/result", nil, nil)
	if r.Status != 200 || r.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("result: %d %v", r.Status, r.Header)
	}
	r = p.Submit("demo-echo", "text/html", []byte("<b>x</b>"), http.Header{"Prefer": {"wait=10"}})
	if r.Status != 200 || r.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("Prefer: wait answer: %d %v", r.Status, r.Header)
	}
}

// Issue 12 point 3: callback prefixes and Callback-URLs are compared as
// URLs. A prefix names scheme, host and path and is stored normalised; a
// Callback-URL needs the prefix's scheme, host and port, a path on a
// segment boundary below the prefix's, and no user info.
func TestCallbackTargetsAreURLs(t *testing.T) {
	sys := testkit.Start(t, testkit.Options{})
	a := adminOf(t, sys)
	for _, bad := range []string{
		"http://127.0.0.1:",         // any port
		"https://example.com",       // no path
		"https://u@example.com/cb/", // user info
		"https://example.com/cb?x=1",
		"https://example.com:0/cb",
		"https://example.com/a/../b",
		"ftp://example.com/cb",
	} {
		expectProblem(t, sendJSON(a, http.MethodPatch, "/admin/v1/clients/demo-partner",
			map[string]any{"callback_prefixes": []string{bad}}), 400, "invalid_request")
	}
	var cl struct {
		CallbackPrefixes []string `json:"callback_prefixes"`
	}
	r := sendJSON(a, http.MethodPatch, "/admin/v1/clients/demo-partner",
		map[string]any{"callback_prefixes": []string{"HTTP://127.0.0.1:9099/cb", "https://Example.COM:443/hooks/"}})
	expectStatus(t, r, 200)
	r.JSON(t, &cl)
	if len(cl.CallbackPrefixes) != 2 || cl.CallbackPrefixes[0] != "http://127.0.0.1:9099/cb" || cl.CallbackPrefixes[1] != "https://example.com/hooks/" {
		t.Fatalf("stored prefixes %q", cl.CallbackPrefixes)
	}

	p := sys.Partner()
	for _, u := range []string{
		"http://127.0.0.1:@localhost:9099/cb/x", // user info: the request goes to localhost
		"http://127.0.0.1:9099@localhost:9099/cb",
		"http://127.0.0.1:19099/cb",             // another port
		"http://127.0.0.1/cb",                   // the default port is not 9099
		"https://127.0.0.1:9099/cb",             // another scheme
		"http://127.0.0.1:9099/cbx",             // not on a segment boundary
		"http://127.0.0.1:9099/cb/../admin",     // dot segments
		"http://127.0.0.1:9099/cb/%2e%2e/admin", // encoded dot segments
		"https://example.com.evil/hooks/x",      // another host with the prefix as its start
		"https://example.com/hooksx",
		"https://example.com:8443/hooks/x",
		"http://127.0.0.1:9099/cb#frag",
	} {
		r := p.Submit("demo-echo", "text/plain", []byte("x"), http.Header{"Callback-URL": {u}})
		if r.Status != 400 || !strings.Contains(string(r.Body), "callback_not_allowed") {
			t.Errorf("Callback-URL %s: %d %s", u, r.Status, r.Body)
		}
	}
	sys.Broker.Dispatcher.Pause() // nothing is delivered to these receivers
	for _, u := range []string{
		"http://127.0.0.1:9099/cb",
		"http://127.0.0.1:9099/cb/order-1?x=1",
		"HTTP://127.0.0.1:9099/cb/y",
		"https://example.com/hooks/a",
		"https://EXAMPLE.com:443/hooks/b",
	} {
		if r := p.Submit("demo-echo", "text/plain", []byte("x"), http.Header{"Callback-URL": {u}}); r.Status != 202 {
			t.Errorf("Callback-URL %s: %d %s", u, r.Status, r.Body)
		}
	}
}

// catcher is a server of the attacker's (or an echoing misconfigured
// one): it records every request and answers 401 quoting the request's
// Authorization header and body, padded far beyond any sane error body.
type catcher struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []string
}

func newCatcher(t *testing.T) *catcher {
	c := &catcher{}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		seen := r.Header.Get("Authorization") + " " + string(b)
		c.mu.Lock()
		c.got = append(c.got, seen)
		c.mu.Unlock()
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"error":"invalid_client","echo":"`+seen+`","pad":"`+strings.Repeat("x", 5000)+`"}`)
	}))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *catcher) requests() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.got...)
}

// Issue 12 point 2: a stored provider secret never goes to a URL it was
// not registered with; ${ENV} references name only CPIB_ variables; a
// remote answer quoted by Test Connection or discovery is bounded and
// never shows the credentials sent.
func TestProviderSecretsCannotBeExfiltrated(t *testing.T) {
	sys := testkit.Start(t, testkit.Options{})
	admin := adminOf(t, sys)
	demoProv, _ := sys.Broker.Catalog.Provider("demo")
	rt := demoProv.Runtime
	evil := newCatcher(t)
	body := map[string]any{
		"id": "legacy", "type": "http",
		"runtime": map[string]any{"url": sys.Sim.URL() + "/http", "tokenurl": rt.TokenURL, "clientid": rt.ClientID, "clientsecret": rt.ClientSecret},
		"flows":   []map[string]any{{"id": "legacy-echo", "path": "/demo/echo"}},
	}
	expectStatus(t, sendJSON(admin, http.MethodPost, "/admin/v1/providers", body), http.StatusCreated)

	// Pointing a URL that receives the secret elsewhere needs the secret.
	for _, patch := range []string{
		`{"runtime":{"tokenurl":"` + evil.srv.URL + `/token"}}`,
		`{"runtime":{"tokenurl":"` + evil.srv.URL + `/token","clientsecret":"***"}}`,
		`{"runtime":{"url":"` + evil.srv.URL + `"}}`,
		`{"runtime":{"url":"` + evil.srv.URL + `","clientid":"other"}}`,
	} {
		p := expectProblem(t, sendJSON(admin, http.MethodPatch, "/admin/v1/providers/legacy", patch), 400, "invalid_request")
		if !strings.Contains(p.Detail, "runtime.clientsecret") {
			t.Fatalf("%s: detail %q does not name runtime.clientsecret", patch, p.Detail)
		}
	}
	sendJSON(admin, http.MethodPost, "/admin/v1/providers/legacy/test", nil)
	if got := evil.requests(); len(got) != 0 {
		t.Fatalf("the stored secret went to the new URL: %q", got)
	}
	if p, _ := sys.Broker.Catalog.Provider("legacy"); p.Runtime.TokenURL != rt.TokenURL || p.Runtime.URL != sys.Sim.URL()+"/http" {
		t.Fatalf("a refused patch changed the provider: %+v", p.Runtime)
	}

	// With the secret given again the change is the admin's own; the
	// remote answer quoted in the report is bounded and scrubbed of it.
	const mine = "s3cret-of-the-admin"
	expectStatus(t, sendJSON(admin, http.MethodPatch, "/admin/v1/providers/legacy",
		`{"runtime":{"tokenurl":"`+evil.srv.URL+`/token","clientsecret":"`+mine+`"}}`), http.StatusOK)
	r := sendJSON(admin, http.MethodPost, "/admin/v1/providers/legacy/test", nil)
	expectStatus(t, r, http.StatusOK)
	if got := evil.requests(); len(got) == 0 || !strings.Contains(strings.Join(got, " "), mine) {
		t.Fatalf("the token request did not carry the new secret: %q", got)
	}
	basic := base64.StdEncoding.EncodeToString([]byte(rt.ClientID + ":" + mine))
	for _, leak := range []string{mine, basic, rt.ClientSecret} {
		if strings.Contains(string(r.Body), leak) {
			t.Fatalf("the report shows a credential %q: %s", leak, r.Body)
		}
	}
	if !strings.Contains(string(r.Body), "invalid_client") || len(r.Body) > 8000 {
		t.Fatalf("report (%d bytes) does not quote a bounded answer: %.300s", len(r.Body), r.Body)
	}

	// ${NAME} names only variables with the allowed prefix; file
	// references need a secrets directory.
	for _, ref := range []string{"${HOME}", "${PATH}", "x${HOME}y", "${file:key}", "${CPIB_}"} {
		b := map[string]any{"id": "refs", "type": "http", "runtime": map[string]any{
			"url": sys.Sim.URL() + "/http", "tokenurl": rt.TokenURL, "clientid": rt.ClientID, "clientsecret": ref}}
		p := expectProblem(t, sendJSON(admin, http.MethodPost, "/admin/v1/providers", b), 400, "invalid_request")
		if !strings.Contains(p.Detail, "runtime.clientsecret") {
			t.Fatalf("%s: detail %q", ref, p.Detail)
		}
		expectProblem(t, sendJSON(admin, http.MethodPatch, "/admin/v1/providers/legacy",
			map[string]any{"runtime": map[string]any{"clientsecret": ref}}), 400, "invalid_request")
	}
	expectStatus(t, sendJSON(admin, http.MethodPatch, "/admin/v1/providers/legacy",
		`{"runtime":{"clientsecret":"${CPIB_LEGACY_SECRET}"}}`), http.StatusOK)
	expectStatus(t, sendJSON(admin, http.MethodPatch, "/admin/v1/providers/legacy",
		`{"runtime":{"clientsecret":"literal-${not a reference"}}`), http.StatusOK)

	// Discovery errors quote the API's answer bounded and without the
	// token it was sent.
	api := *demoProv.API
	t.Setenv("CPIB_DISC_SECRET", api.ClientSecret)
	expectStatus(t, sendJSON(admin, http.MethodPost, "/admin/v1/providers", map[string]any{
		"id": "echoing", "type": "cpi",
		"runtime": map[string]any{"url": sys.Sim.URL()},
		"api":     map[string]any{"url": evil.srv.URL, "tokenurl": api.TokenURL, "clientid": api.ClientID, "clientsecret": "${CPIB_DISC_SECRET}"},
	}), http.StatusCreated)
	r = sendJSON(admin, http.MethodPost, "/admin/v1/providers/echoing/discover", nil)
	expectStatus(t, r, http.StatusOK)
	var disc struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	r.JSON(t, &disc)
	tok := ""
	for _, g := range evil.requests() {
		if f := strings.Fields(g); len(f) > 1 && f[0] == "Bearer" {
			tok = f[1]
		}
	}
	if tok == "" {
		t.Fatal("discovery did not call the API with a token")
	}
	if disc.OK || disc.Error == "" || len(disc.Error) > 1100 || strings.Contains(disc.Error, tok) || strings.Contains(disc.Error, api.ClientSecret) {
		t.Fatalf("discovery error (%d bytes) %.400q; token %.20s…", len(disc.Error), disc.Error, tok)
	}
}

// Issue 12 point 8: a --config seed is validated like the admin API: the
// same defaults (webhooks enabled, csrf on), the same normal form of
// callback prefixes, and the same SSRF check at registration, before
// anything is written.
func TestConfigSeedValidatedLikeTheAPI(t *testing.T) {
	const good = `
providers:
  - id: seeded
    type: http
    runtime: {url: "https://backend.seed.example"}
clients:
  - id: hooked
    client_secret: seeded-secret-1
    callback_prefixes: ["HTTPS://Hooks.Seed.Example:443/cb"]
    webhooks: [{id: w1, url: "https://hooks.seed.example/h", events: [job.succeeded]}]
`
	seed, err := catalog.ParseSeed([]byte(good), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	sys := testkit.Start(t, testkit.Options{Configure: func(c *broker.Config) { c.Seed = seed }})
	a := adminOf(t, sys)
	expectStatus(t, sendJSON(a, http.MethodPost, "/admin/v1/clients", map[string]any{
		"id": "viaapi", "callback_prefixes": []string{"HTTPS://Hooks.Seed.Example:443/cb"},
		"webhooks": []map[string]any{{"id": "w1", "url": "https://hooks.seed.example/h", "events": []string{"job.succeeded"}}},
	}), http.StatusCreated)
	expectStatus(t, sendJSON(a, http.MethodPost, "/admin/v1/providers", map[string]any{
		"id": "viaapi", "type": "http", "runtime": map[string]any{"url": "https://backend.seed.example"},
	}), http.StatusCreated)
	type shape struct {
		CallbackPrefixes []string `json:"callback_prefixes"`
		Webhooks         []struct {
			Enabled bool `json:"enabled"`
		} `json:"webhooks"`
		CSRF      bool   `json:"csrf"`
		TokenAuth string `json:"token_auth"`
	}
	var seededC, apiC, seededP, apiP shape
	a.Do(http.MethodGet, "/admin/v1/clients/hooked", nil, nil).JSON(t, &seededC)
	a.Do(http.MethodGet, "/admin/v1/clients/viaapi", nil, nil).JSON(t, &apiC)
	a.Do(http.MethodGet, "/admin/v1/providers/seeded", nil, nil).JSON(t, &seededP)
	a.Do(http.MethodGet, "/admin/v1/providers/viaapi", nil, nil).JSON(t, &apiP)
	if len(seededC.Webhooks) != 1 || !seededC.Webhooks[0].Enabled || !apiC.Webhooks[0].Enabled {
		t.Fatalf("webhook enabled: seeded %+v, API %+v", seededC, apiC)
	}
	if len(seededC.CallbackPrefixes) != 1 || seededC.CallbackPrefixes[0] != apiC.CallbackPrefixes[0] || apiC.CallbackPrefixes[0] != "https://hooks.seed.example/cb" {
		t.Fatalf("prefixes: seeded %q, API %q", seededC.CallbackPrefixes, apiC.CallbackPrefixes)
	}
	if !seededP.CSRF || seededP.CSRF != apiP.CSRF || seededP.TokenAuth != apiP.TokenAuth {
		t.Fatalf("provider defaults: seeded %+v, API %+v", seededP, apiP)
	}

	// What the API refuses, a seed cannot bring in: start fails naming
	// the resource and field, and nothing is written.
	for name, bad := range map[string]string{
		"webhook at metadata":                    `clients: [{id: x1, client_secret: s, webhooks: [{id: w, url: "https://169.254.169.254/h", events: [job.failed]}]}]`,
		"prefix at a name resolving to metadata": `clients: [{id: x2, client_secret: s, callback_prefixes: ["https://meta.seed.test/cb/"]}]`,
		"prefix without a port":                  `clients: [{id: x3, client_secret: s, callback_prefixes: ["http://127.0.0.1:"]}]`,
		"provider secret naming HOME":            `providers: [{id: x4, type: http, runtime: {url: "https://b.example", clientsecret: "$${HOME}"}}]`,
	} {
		t.Run(name, func(t *testing.T) {
			seed, err := catalog.ParseSeed([]byte(strings.ReplaceAll(bad, "$$", "$")), func(k string) (string, bool) {
				return "${" + k + "}", true // leave references as written
			})
			if err != nil {
				t.Fatal(err)
			}
			resolver := testkit.NewResolver()
			resolver.Set("meta.seed.test", "169.254.169.254")
			cfg := broker.Config{DataDir: t.TempDir(), Ingress: true, Seed: seed}
			cfg.IngressConfig.Listen, cfg.IngressConfig.PublicURL = "127.0.0.1:0", "http://127.0.0.1"
			cfg.Callbacks.AllowPrivate, cfg.Callbacks.Resolver = true, resolver
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			b, err := broker.Start(ctx, cfg)
			if err == nil {
				cancel()
				_ = b.Wait()
				t.Fatal("a seed the admin API would refuse was applied")
			}
			if !strings.Contains(err.Error(), "--config") {
				t.Fatalf("error %v", err)
			}
		})
	}
}

// lanesOf reads cpibroker_callback_lanes of client from /metrics (-1:
// no series).
func lanesOf(t *testing.T, baseURL, client string) int {
	t.Helper()
	resp, err := http.Get(baseURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "cpibroker_callback_lanes{") && strings.Contains(line, `client="`+client+`"`) {
			f := strings.Fields(line)
			n, _ := strconv.ParseFloat(f[len(f)-1], 64)
			return int(n)
		}
	}
	return -1
}

// Issue 12 point 4: one partner cannot open unbounded callback lanes: the
// distinct Callback-URL origins of a client are bounded (429
// too_many_callback_targets past max_callback_targets, configurable per
// client), /metrics shows the lanes per client, and idle lanes retire.
func TestCallbackTargetsBoundedPerClient(t *testing.T) {
	sys := testkit.Start(t, testkit.Options{Configure: func(c *broker.Config) {
		c.LanesTTL = time.Millisecond
		c.Delivery.IdleLaneTTL = 2 * time.Second
	}})
	a := adminOf(t, sys)
	var hits atomic.Int64
	var urls, prefixes []string
	for range 4 {
		rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			hits.Add(1)
			w.WriteHeader(http.StatusNoContent)
		}))
		t.Cleanup(rc.Close)
		urls = append(urls, rc.URL+"/cb")
		prefixes = append(prefixes, rc.URL+"/")
	}
	expectStatus(t, sendJSON(a, http.MethodPatch, "/admin/v1/clients/demo-partner",
		map[string]any{"callback_prefixes": prefixes, "max_callback_targets": 3}), http.StatusOK)
	expectProblem(t, sendJSON(a, http.MethodPatch, "/admin/v1/clients/demo-partner",
		map[string]any{"max_callback_targets": 100000}), 400, "invalid_request")

	p := sys.Partner()
	cb := func(u string) http.Header { return http.Header{"Callback-URL": {u}} }
	for _, u := range urls[:3] {
		expectStatus(t, p.Submit("demo-echo", "text/plain", []byte("x"), cb(u)), http.StatusAccepted)
	}
	r := p.Submit("demo-echo", "text/plain", []byte("x"), cb(urls[3]))
	expectProblem(t, r, http.StatusTooManyRequests, "too_many_callback_targets")
	if r.Header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	// An origin already in use stays usable, under another path too.
	expectStatus(t, p.Submit("demo-echo", "text/plain", []byte("x"), cb(urls[0]+"/again")), http.StatusAccepted)
	// The bound is per client and configurable.
	expectStatus(t, sendJSON(a, http.MethodPatch, "/admin/v1/clients/demo-partner",
		map[string]any{"max_callback_targets": 4}), http.StatusOK)
	expectStatus(t, p.Submit("demo-echo", "text/plain", []byte("x"), cb(urls[3])), http.StatusAccepted)

	testkit.Eventually(t, 30*time.Second, "every callback delivered", func() bool { return hits.Load() == 5 })
	testkit.Eventually(t, 30*time.Second, "4 lanes of demo-partner in /metrics", func() bool {
		return lanesOf(t, sys.BaseURL, "demo-partner") == 4
	})
	// Idle lanes give their consumers back.
	testkit.Eventually(t, 60*time.Second, "idle lanes retired", func() bool {
		n := lanesOf(t, sys.BaseURL, "demo-partner")
		return n == 0 || n == -1
	})
}
