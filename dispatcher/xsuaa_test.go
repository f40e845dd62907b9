package dispatcher_test

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/internal/broker"
	"github.com/cpibroker/cpibroker/internal/cpisim"
	"github.com/cpibroker/cpibroker/internal/testkit"
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

// TestWrongRuntimeSecretIsProviderAuth: with a wrong runtime secret, a job
// waits with waiting.reason provider_auth and a last_attempt naming the
// 401 after its first attempt, which is not counted; the provider's health
// says since when and why; fixing the secret with a PATCH lets the job
// succeed by itself, and the health says so.
func TestWrongRuntimeSecretIsProviderAuth(t *testing.T) {
	sys := testkit.Start(t, testkit.Options{Configure: func(c *broker.Config) {
		c.DispatcherConfig.ProviderAuthRetry = time.Second
	}})
	admin := adminOf(t, sys)
	patch := func(secret string) {
		t.Helper()
		r := admin.Do(http.MethodPatch, "/admin/v1/providers/demo", strings.NewReader(`{"runtime":{"clientsecret":"`+secret+`"}}`),
			http.Header{"Content-Type": {"application/json"}})
		if r.Status != http.StatusOK {
			t.Fatalf("PATCH: %d %s", r.Status, r.Body)
		}
	}
	patch("wrong-secret")

	p := sys.Partner()
	var j testkit.Job
	p.Submit("demo-echo", "text/plain", []byte("hello"), nil).JSON(t, &j)
	var cur testkit.Job
	var raw []byte
	testkit.Eventually(t, 20*time.Second, "waiting provider_auth", func() bool {
		r := p.Do(http.MethodGet, "/v1/jobs/"+j.ID, nil, nil)
		raw = r.Body
		r.JSON(t, &cur)
		return cur.Status == "queued" && cur.Waiting != nil && cur.Waiting.Reason == "provider_auth"
	})
	t.Logf("GET /v1/jobs/%s -> %s", j.ID, raw)
	if cur.Attempts != 0 || cur.LastAttempt == nil || cur.LastAttempt.Code != "provider_auth" ||
		!strings.Contains(cur.LastAttempt.Message, "answered 401") || strings.Contains(string(raw), "wrong-secret") {
		t.Fatalf("job %s", raw)
	}
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

	patch(sys.SimCfg.RuntimeClientSecret)
	done := p.WaitJob(j.ID, 30*time.Second)
	if done.Status != "succeeded" || done.Attempts != 1 || done.LastAttempt != nil {
		t.Fatalf("after the fix: %+v", done)
	}
	admin.Do(http.MethodGet, "/admin/v1/providers/demo", nil, nil).JSON(t, &prov)
	if h := prov.Health.Runtime; h == nil || h.Status != "ok" {
		t.Fatalf("health after the fix %+v", h)
	}
}
