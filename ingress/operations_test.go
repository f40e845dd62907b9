package ingress_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/broker"
	"github.com/cpibroker/cpibroker/devkit/testkit"
	"github.com/cpibroker/cpibroker/internal/clock"
)

// An expired token of the broker gets a 401 that says so (RFC 6750
// error_description and the problem's detail); a missing or forged token
// does not, and neither discloses more.
func TestExpiredTokenSaysExpired(t *testing.T) {
	clk := clock.NewManual(time.Now())
	sys := testkit.Start(t, testkit.Options{Configure: func(c *broker.Config) { c.IngressConfig.Now = clk.Now }})
	p := sys.Partner()
	if r := p.Do(http.MethodGet, "/v1/flows", nil, nil); r.Status != 200 {
		t.Fatalf("fresh token: %d %s", r.Status, r.Body)
	}
	clk.Advance(2 * time.Hour)
	r := p.Do(http.MethodGet, "/v1/flows", nil, nil)
	prob := expectProblem(t, r, http.StatusUnauthorized, "invalid_token")
	if ch := r.Header.Get("WWW-Authenticate"); !strings.Contains(ch, `error="invalid_token"`) || !strings.Contains(ch, `error_description="the access token expired"`) {
		t.Fatalf("challenge %q", ch)
	}
	if !strings.Contains(prob.Detail, "expired") {
		t.Fatalf("detail %q", prob.Detail)
	}
	for name, tok := range map[string]string{"missing": "", "forged": p.Token[:len(p.Token)-4] + "AAAA"} {
		q := *p
		q.Token = tok
		r := q.Do(http.MethodGet, "/v1/flows", nil, nil)
		prob := expectProblem(t, r, http.StatusUnauthorized, "invalid_token")
		if strings.Contains(r.Header.Get("WWW-Authenticate")+prob.Detail, "expired") {
			t.Fatalf("%s token: %q %q", name, r.Header.Get("WWW-Authenticate"), prob.Detail)
		}
	}
}

// Silent acceptance, no more: grants of unknown flows are named in the
// answer's warnings, a malformed admin query string is a 400, and so is a
// Callback-URL port no receiver can have.
func TestNoSilentAcceptance(t *testing.T) {
	sys := testkit.Start(t, testkit.Options{})
	admin := adminOf(t, sys)
	r := admin.Do(http.MethodPost, "/admin/v1/clients", strings.NewReader(`{"id":"acme","grants":["demo-echo","no-such-flow","nor-this"]}`),
		http.Header{"Content-Type": {"application/json"}})
	if r.Status != http.StatusCreated || !strings.Contains(string(r.Body), `"warnings":["granted flows that do not exist (yet): no-such-flow, nor-this"]`) {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	r = admin.Do(http.MethodPatch, "/admin/v1/clients/acme", strings.NewReader(`{"grants":["demo-echo"]}`),
		http.Header{"Content-Type": {"application/json"}})
	if r.Status != http.StatusOK || strings.Contains(string(r.Body), "warnings") {
		t.Fatalf("patch to known flows: %d %s", r.Status, r.Body)
	}
	for _, path := range []string{"/admin/v1/clients?cursor=%%%", "/admin/v1/audit?cursor=%%%", "/admin/v1/dlq?cursor=%zz"} {
		expectProblem(t, admin.Do(http.MethodGet, path, nil, nil), http.StatusBadRequest, "invalid_request")
	}
	p := sys.Partner()
	expectProblem(t, p.Do(http.MethodGet, "/v1/events?after=%%%", nil, nil), http.StatusBadRequest, "invalid_request")
	for _, u := range []string{"http://127.0.0.1:99999/hook", "http://127.0.0.1:0/hook"} {
		r := p.Submit("demo-echo", "application/json", []byte(`{}`), http.Header{"Callback-URL": {u}})
		if prob := expectProblem(t, r, http.StatusBadRequest, "callback_not_allowed"); !strings.Contains(prob.Detail, "port") {
			t.Fatalf("%s: %+v", u, prob)
		}
	}
}

// syncBuffer is a log sink safe for the handlers' goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The access log is off by default; with it on, every request is one info
// line with method, route, status, duration, client and job ID, and no
// token, secret or query string.
func TestAccessLog(t *testing.T) {
	for _, on := range []bool{false, true} {
		var buf syncBuffer
		sys := testkit.Start(t, testkit.Options{Configure: func(c *broker.Config) {
			c.Logger = slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
			c.IngressConfig.AccessLog = on
		}})
		p := sys.Partner()
		var j testkit.Job
		p.Submit("demo-echo", "application/json", []byte(`{"secret-payload":1}`), nil).JSON(t, &j)
		p.Do(http.MethodGet, "/v1/jobs/"+j.ID+"?wait=1s&token=not-logged", nil, nil)
		var lines []map[string]any
		for l := range strings.SplitSeq(buf.String(), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "http request" {
				lines = append(lines, m)
			}
		}
		if !on {
			if len(lines) > 0 {
				t.Fatalf("access log off, yet %v", lines)
			}
			continue
		}
		var submit, get map[string]any
		for _, l := range lines {
			switch l["route"] {
			case "/v1/flows/:flow/jobs":
				submit = l
			case "/v1/jobs/:id":
				get = l
			}
		}
		for name, l := range map[string]map[string]any{"submit": submit, "get": get} {
			if l == nil || l["level"] != "INFO" || l["job_id"] != j.ID || l["client_id"] != "demo-partner" ||
				l["method"] == nil || l["status"] == nil || l["duration_ms"] == nil || l["source"] == nil {
				t.Fatalf("%s line %v (all: %v)", name, l, lines)
			}
		}
		if out := buf.String(); strings.Contains(out, p.Token) || strings.Contains(out, sys.Creds.Partner.ClientSecret) ||
			strings.Contains(out, "not-logged") || strings.Contains(out, "secret-payload") {
			t.Fatal("the log holds a token, secret, query string or payload")
		}
	}
}
