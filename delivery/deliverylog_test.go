package delivery_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/broker"
	"github.com/cpibroker/cpibroker/devkit/testkit"
)

// logCounter counts log records by message.
type logCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (l *logCounter) Enabled(context.Context, slog.Level) bool { return true }
func (l *logCounter) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if r.Level >= slog.LevelWarn {
		l.n[r.Message]++
	}
	return nil
}
func (l *logCounter) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logCounter) WithGroup(string) slog.Handler      { return l }
func (l *logCounter) count(msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n[msg]
}

type attemptView struct {
	At         string  `json:"at"`
	Target     string  `json:"target"`
	EventID    string  `json:"event_id"`
	Attempt    int     `json:"attempt"`
	Status     int     `json:"status"`
	Outcome    string  `json:"outcome"`
	DurationMS float64 `json:"duration_ms"`
	Error      string  `json:"error"`
}

// Every callback attempt is listed, oldest first, by GET
// /v1/jobs/{id}/deliveries (the owner only) and GET
// /admin/v1/jobs/{id}/deliveries: time, target, status, duration and
// error. A failing endpoint is logged at WARN once when it starts failing
// and once when it recovers (not at every retry), and /metrics counts the
// failing endpoints.
func TestDeliveryLog(t *testing.T) {
	logs := &logCounter{n: map[string]int{}}
	sys := testkit.Start(t, testkit.Options{Configure: func(c *broker.Config) {
		seconds(3)(c)
		c.Logger = slog.New(logs)
	}})
	a := admin(t, sys)
	cb := newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n <= 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, "down for maintenance")
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	p := sys.Partner()
	target := cb.url("/cb/order-9")
	sys.AllowCallbacks(cb.url("/cb/"))
	job := submit(t, p, "demo-echo", `{"n":9}`, http.Header{"Callback-URL": {target}})
	for range 3 {
		cb.next(30 * time.Second)
	}
	var page struct {
		Items []attemptView `json:"items"`
	}
	testkit.Eventually(t, 30*time.Second, "three logged attempts", func() bool {
		call(t, p, http.MethodGet, "/v1/jobs/"+job+"/deliveries", nil, http.StatusOK, &page)
		return len(page.Items) == 3
	})
	for i, at := range page.Items {
		if at.Target != target || at.Attempt != i+1 || at.EventID != "evt_"+job+"_1" || at.At == "" || at.DurationMS <= 0 {
			t.Fatalf("attempt %d: %+v", i+1, at)
		}
	}
	if f := page.Items[0]; f.Status != 503 || f.Outcome != "retry" || !strings.Contains(f.Error, "down for maintenance") {
		t.Fatalf("first attempt %+v", f)
	}
	if l := page.Items[2]; l.Status != 204 || l.Outcome != "delivered" || l.Error != "" {
		t.Fatalf("last attempt %+v", l)
	}
	var adminPage struct {
		Items []attemptView `json:"items"`
	}
	call(t, a, http.MethodGet, "/admin/v1/jobs/"+job+"/deliveries", nil, http.StatusOK, &adminPage)
	if len(adminPage.Items) != 3 || adminPage.Items[2] != page.Items[2] {
		t.Fatalf("admin view %+v", adminPage.Items)
	}
	var aj struct {
		ID     string `json:"id"`
		Client string `json:"client"`
		Status string `json:"status"`
	}
	call(t, a, http.MethodGet, "/admin/v1/jobs/"+job, nil, http.StatusOK, &aj)
	if aj.ID != job || aj.Client != "demo-partner" || aj.Status != "succeeded" {
		t.Fatalf("admin job %+v", aj)
	}
	var found struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	call(t, a, http.MethodGet, "/admin/v1/jobs?client=demo-partner&flow=demo-echo&status=succeeded", nil, http.StatusOK, &found)
	if len(found.Items) != 1 || found.Items[0].ID != job {
		t.Fatalf("search %+v", found.Items)
	}
	// The partner lists its own recent jobs; the admin (as a partner) has none.
	call(t, p, http.MethodGet, "/v1/jobs?flow=demo-echo", nil, http.StatusOK, &found)
	if len(found.Items) != 1 || found.Items[0].ID != job {
		t.Fatalf("own jobs %+v", found.Items)
	}
	call(t, a, http.MethodGet, "/v1/jobs", nil, http.StatusOK, &found)
	if len(found.Items) != 0 {
		t.Fatalf("another client's jobs listed: %+v", found.Items)
	}
	call(t, p, http.MethodGet, "/v1/jobs?client=demo-admin", nil, http.StatusBadRequest, nil)
	call(t, a, http.MethodGet, "/admin/v1/jobs?status=lost", nil, http.StatusBadRequest, nil)
	call(t, a, http.MethodGet, "/admin/v1/jobs?client=Bad.Client", nil, http.StatusBadRequest, nil)
	// Another client (the admin, as a partner) does not see the job.
	call(t, a, http.MethodGet, "/v1/jobs/"+job+"/deliveries", nil, http.StatusNotFound, nil)
	call(t, p, http.MethodGet, "/v1/jobs/not-a-job/deliveries", nil, http.StatusNotFound, nil)

	if n := logs.count("delivery: endpoint failing"); n != 1 {
		t.Fatalf("endpoint failing logged %d times, want once", n)
	}
	if n := logs.count("delivery: endpoint recovered"); n != 1 {
		t.Fatalf("endpoint recovered logged %d times, want once", n)
	}
	// Resend delivers the event once more to the same target.
	var resent struct {
		Queued int `json:"queued"`
	}
	call(t, p, http.MethodPost, "/v1/jobs/"+job+"/deliveries/resend", nil, http.StatusAccepted, &resent)
	if resent.Queued != 1 {
		t.Fatalf("resend queued %d", resent.Queued)
	}
	if h := cb.next(30 * time.Second); h.path != "/cb/order-9" || h.header.Get("webhook-id") != "evt_"+job+"_1" {
		t.Fatalf("resent %s %v", h.path, h.header)
	}
	testkit.Eventually(t, 30*time.Second, "the resend logged", func() bool {
		call(t, p, http.MethodGet, "/v1/jobs/"+job+"/deliveries", nil, http.StatusOK, &page)
		return len(page.Items) == 4 && page.Items[3].Outcome == "delivered"
	})
	call(t, a, http.MethodPost, "/v1/jobs/"+job+"/deliveries/resend", nil, http.StatusNotFound, nil)
	plain := submit(t, p, "demo-echo", `{}`, nil)
	p.WaitJob(plain, 30*time.Second)
	call(t, p, http.MethodPost, "/v1/jobs/"+plain+"/deliveries/resend", nil, http.StatusConflict, nil)

	r := p.Do(http.MethodGet, "/metrics", nil, nil)
	if !strings.Contains(string(r.Body), `cpibroker_callbacks_failing_endpoints{client="demo-partner"`) {
		t.Fatalf("/metrics has no failing-endpoints gauge")
	}
}
