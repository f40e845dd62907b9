package metrics_test

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/cpibroker/cpibroker/internal/metrics"
)

// fixedState is a dispatcher's scheduling state at one moment.
type fixedState struct {
	breakers map[string]string
	waits    int64
	waiting  map[string]string
}

func (f fixedState) BreakerStates() map[string]string { return f.breakers }
func (f fixedState) QuotaWaits() int64                { return f.waits }
func (f fixedState) Waiting() map[string]string       { return f.waiting }

// Breaker states, quota waits and held-back queues are read from the
// dispatcher at each scrape, with bounded labels.
func TestDispatchStateSeries(t *testing.T) {
	exp, err := metrics.NewPrometheus()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = exp.Shutdown(context.Background()) })
	st := fixedState{
		breakers: map[string]string{"acme-orders": "open", "demo-echo": "closed", "demo-slow": "half-open"},
		waits:    7,
		waiting:  map[string]string{"acme/acme-orders": "quota", "beta/demo-slow": "concurrency", "malformed": "quota"},
	}
	if err := metrics.ObserveDispatch(exp.Provider, st); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(exp.Handler)
	t.Cleanup(srv.Close)
	fams := scrape(t, srv.URL)
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"cpibroker_breaker_state", map[string]string{"flow": "acme-orders"}, 2},
		{"cpibroker_breaker_state", map[string]string{"flow": "demo-slow"}, 1},
		{"cpibroker_breaker_state", map[string]string{"flow": "demo-echo"}, 0},
		{"cpibroker_quota_waits_total", nil, 7},
		{"cpibroker_waiting", map[string]string{"client": "acme", "flow": "acme-orders", "reason": "quota"}, 1},
		{"cpibroker_waiting", map[string]string{"client": "beta", "flow": "demo-slow", "reason": "concurrency"}, 1},
	} {
		if got := value(find(fams, c.name, c.labels)); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if n := len(fams["cpibroker_waiting"].GetMetric()); n != 2 {
		t.Errorf("%d waiting series, want 2 (a malformed pair is skipped)", n)
	}
}
