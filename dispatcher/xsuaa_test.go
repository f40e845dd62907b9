package dispatcher_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/broker"
	"github.com/cpibroker/cpibroker/devkit/cpisim"
	"github.com/cpibroker/cpibroker/devkit/testkit"
)

// adminOf is a client of the admin API as the demo operator.
func adminOf(t *testing.T, sys *testkit.System) *testkit.Partner {
	return &testkit.Partner{T: t, BaseURL: sys.BaseURL, HTTP: http.DefaultClient,
		Token: testkit.Token(t, sys.BaseURL, sys.Creds.Admin.ClientID, sys.Creds.Admin.ClientSecret, "")}
}

// connReport is the part of Test Connection's answer the tests read.
type connReport struct {
	OK      bool   `json:"ok"`
	Summary string `json:"summary"`
	API     *struct {
		OK      bool   `json:"ok"`
		Verdict string `json:"verdict"`
	} `json:"api"`
	Runtime *struct {
		OK      bool   `json:"ok"`
		Verdict string `json:"verdict"`
	} `json:"runtime"`
}

// TestStrictTokenEndpoints runs discovery (the demo setup discovers the
// tenant), Test Connection and the dispatcher against each strict XSUAA
// mode of the simulator, with the provider's default settings (token_auth
// body): no query strings, no decoding of Basic, strict decoding of Basic
// with "+" and "%" in the secrets, and tokens that live 2 seconds (the
// simulator's clock then jumps past their expiry, so the dispatcher meets
// a 401 and fetches a new token).
func TestStrictTokenEndpoints(t *testing.T) {
	for _, m := range cpisim.StrictModes() {
		t.Run(m.Name, func(t *testing.T) {
			var skew atomic.Int64
			cfg := cpisim.Config{
				RuntimeClientID: "sb-strict-rt!b1|it-rt-strict!b2", RuntimeClientSecret: "rt$secret=1",
				APIClientID: "sb-strict-api!b1|it!b2", APIClientSecret: "api$secret=1",
				Now:    func() time.Time { return time.Now().Add(time.Duration(skew.Load())) },
				Logger: testkit.Logger(t),
			}
			m.Apply(&cfg)
			sim, err := cpisim.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range cpisim.DemoIFlows() {
				if err := sim.Deploy(f); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := sim.Start("127.0.0.1:0"); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = sim.Close() })
			// Start discovers the tenant through its OData API (demo setup).
			sys := testkit.Start(t, testkit.Options{Sim: sim, SimCfg: cfg})

			var rep connReport
			adminOf(t, sys).Do(http.MethodPost, "/admin/v1/providers/demo/test", nil, nil).JSON(t, &rep)
			if !rep.OK || rep.API == nil || !rep.API.OK || rep.Runtime == nil || !rep.Runtime.OK ||
				!strings.Contains(rep.Runtime.Verdict, "issued a CSRF token") {
				t.Fatalf("Test Connection: %+v api %+v runtime %+v", rep, rep.API, rep.Runtime)
			}

			p := sys.Partner()
			run := func() {
				t.Helper()
				var j testkit.Job
				p.Submit("demo-echo", "text/plain", []byte("strict "+m.Name), nil).JSON(t, &j)
				if done := p.WaitJob(j.ID, 30*time.Second); done.Status != "succeeded" || done.Attempts != 1 {
					t.Fatalf("job %+v last_attempt %+v", done, done.LastAttempt)
				}
			}
			run()
			if m.Name == "short-lived-tokens" {
				skew.Add(int64(5 * time.Second)) // every token issued so far has expired
				run()
			}
		})
	}
}

// syncBuffer is a log sink tests read while the broker writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) count(sub string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Count(s.b.String(), sub)
}

// TestWrongRuntimeSecretIsProviderAuth: with a wrong runtime secret, jobs
// wait with waiting.reason provider_auth and a last_attempt naming the
// 401 after their first attempt, which is not counted; the provider's
// health says since when and why; one WARN line is logged for the change,
// not one per job; /metrics counts the refused token fetches; Test
// Connection says the runtime key is refused and the api key works. Fixing
// the secret with a PATCH lets the jobs succeed by themselves, and the
// health and log say so.
func TestWrongRuntimeSecretIsProviderAuth(t *testing.T) {
	logs := &syncBuffer{}
	sys := testkit.Start(t, testkit.Options{Configure: func(c *broker.Config) {
		c.DispatcherConfig.ProviderAuthRetry = time.Second
		c.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}})
	admin := adminOf(t, sys)
	patch := func(body string) {
		t.Helper()
		r := admin.Do(http.MethodPatch, "/admin/v1/providers/demo", strings.NewReader(body), http.Header{"Content-Type": {"application/json"}})
		if r.Status != http.StatusOK {
			t.Fatalf("PATCH: %d %s", r.Status, r.Body)
		}
	}
	patch(`{"runtime":{"clientsecret":"wrong-secret"}}`)

	p := sys.Partner()
	ids := make([]string, 3)
	for i := range ids {
		var j testkit.Job
		p.Submit("demo-echo", "text/plain", []byte("hello"), nil).JSON(t, &j)
		ids[i] = j.ID
	}
	var cur testkit.Job
	var raw []byte
	for _, id := range ids {
		testkit.Eventually(t, 20*time.Second, "waiting provider_auth", func() bool {
			r := p.Do(http.MethodGet, "/v1/jobs/"+id, nil, nil)
			raw = r.Body
			r.JSON(t, &cur)
			return cur.Status == "queued" && cur.Waiting != nil && cur.Waiting.Reason == "provider_auth"
		})
		if cur.Attempts != 0 || cur.LastAttempt == nil || cur.LastAttempt.Code != "provider_auth" ||
			!strings.Contains(cur.LastAttempt.Message, "answered 401") || strings.Contains(string(raw), "wrong-secret") {
			t.Fatalf("job %s", raw)
		}
	}
	t.Logf("GET /v1/jobs/%s -> %s", ids[2], raw)
	if sys.Sim.CallCount("Echo") != 0 {
		t.Fatalf("the iFlow was called %d times without a token", sys.Sim.CallCount("Echo"))
	}

	var prov struct {
		Health struct {
			Runtime *struct {
				Status string `json:"status"`
				Since  string `json:"since"`
				Reason string `json:"reason"`
			} `json:"runtime"`
		} `json:"health"`
	}
	r := admin.Do(http.MethodGet, "/admin/v1/providers/demo", nil, nil)
	t.Logf("GET /admin/v1/providers/demo -> %s", r.Body)
	r.JSON(t, &prov)
	if h := prov.Health.Runtime; h == nil || h.Status != "provider_auth" || h.Since == "" || !strings.Contains(h.Reason, "401") {
		t.Fatalf("health %s", r.Body)
	}
	const refused = "provider runtime credentials refused by CPI"
	if n := logs.count(refused); n != 1 {
		t.Fatalf("%d WARN lines %q for 3 jobs, want 1", n, refused)
	}
	m := admin.Do(http.MethodGet, "/metrics", nil, nil)
	if !strings.Contains(string(m.Body), `cpibroker_cpi_token_failures_total{provider="demo",reason="refused"}`) {
		t.Fatalf("/metrics has no refused token failures")
	}
	var rep connReport
	tc := admin.Do(http.MethodPost, "/admin/v1/providers/demo/test", nil, nil)
	t.Logf("POST /admin/v1/providers/demo/test -> %s", tc.Body)
	tc.JSON(t, &rep)
	if rep.OK || !rep.API.OK || rep.Runtime.OK || !strings.Contains(rep.Runtime.Verdict, "401") {
		t.Fatalf("Test Connection %s", tc.Body)
	}

	patch(`{"runtime":{"clientsecret":"` + sys.SimCfg.RuntimeClientSecret + `"}}`)
	for _, id := range ids {
		done := p.WaitJob(id, 30*time.Second)
		if done.Status != "succeeded" || done.Attempts != 1 || done.LastAttempt != nil {
			t.Fatalf("after the fix: %+v", done)
		}
	}
	admin.Do(http.MethodGet, "/admin/v1/providers/demo", nil, nil).JSON(t, &prov)
	if h := prov.Health.Runtime; h == nil || h.Status != "ok" {
		t.Fatalf("health after the fix %+v", h)
	}
	if n := logs.count("provider runtime credentials accepted again"); n != 1 {
		t.Fatalf("%d recovery lines, want 1", n)
	}
}

// TestRuntimeRoleRefusedIsProviderAuth: a token the iFlow refuses with 403
// after a new token (here the api plan's key used as the runtime key: the
// token endpoint issues it, the iFlow refuses its role) is a provider
// problem too; Test Connection names the role.
func TestRuntimeRoleRefusedIsProviderAuth(t *testing.T) {
	sys := testkit.Start(t, testkit.Options{Configure: func(c *broker.Config) {
		c.DispatcherConfig.ProviderAuthRetry = time.Second
	}})
	admin := adminOf(t, sys)
	body := `{"runtime":{"clientid":"` + sys.SimCfg.APIClientID + `","clientsecret":"` + sys.SimCfg.APIClientSecret + `"}}`
	if r := admin.Do(http.MethodPatch, "/admin/v1/providers/demo", strings.NewReader(body), http.Header{"Content-Type": {"application/json"}}); r.Status != http.StatusOK {
		t.Fatalf("PATCH: %d %s", r.Status, r.Body)
	}
	p := sys.Partner()
	var j testkit.Job
	p.Submit("demo-echo", "text/plain", []byte("x"), nil).JSON(t, &j)
	var cur testkit.Job
	testkit.Eventually(t, 20*time.Second, "waiting provider_auth", func() bool {
		p.Do(http.MethodGet, "/v1/jobs/"+j.ID, nil, nil).JSON(t, &cur)
		return cur.Waiting != nil && cur.Waiting.Reason == "provider_auth"
	})
	if cur.Attempts != 0 || cur.LastAttempt == nil || cur.LastAttempt.StatusCode != 403 || cur.LastAttempt.Code != "provider_auth" {
		t.Fatalf("job %+v last_attempt %+v", cur, cur.LastAttempt)
	}
	var rep connReport
	admin.Do(http.MethodPost, "/admin/v1/providers/demo/test", nil, nil).JSON(t, &rep)
	if rep.Runtime == nil || rep.Runtime.OK || !strings.Contains(rep.Runtime.Verdict, "ESBMessaging.send") {
		t.Fatalf("Test Connection runtime %+v", rep.Runtime)
	}
}

// TestTokenAuthValidated: token_auth takes the four documented values;
// anything else is a 400 naming the field.
func TestTokenAuthValidated(t *testing.T) {
	sys := testkit.Start(t, testkit.Options{})
	admin := adminOf(t, sys)
	r := admin.Do(http.MethodPatch, "/admin/v1/providers/demo", strings.NewReader(`{"token_auth":"digest"}`), http.Header{"Content-Type": {"application/json"}})
	if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), "token_auth") {
		t.Fatalf("bad token_auth: %d %s", r.Status, r.Body)
	}
	r = admin.Do(http.MethodPatch, "/admin/v1/providers/demo", strings.NewReader(`{"token_auth":"auto"}`), http.Header{"Content-Type": {"application/json"}})
	if r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"token_auth":"auto"`) {
		t.Fatalf("auto: %d %s", r.Status, r.Body)
	}
	var j testkit.Job
	p := sys.Partner()
	p.Submit("demo-echo", "text/plain", []byte("x"), nil).JSON(t, &j)
	if done := p.WaitJob(j.ID, 30*time.Second); done.Status != "succeeded" {
		t.Fatalf("job with token_auth auto: %+v", done)
	}
}
