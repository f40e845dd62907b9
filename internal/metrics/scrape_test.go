package metrics_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/devkit/cpisim"
	"github.com/cpibroker/cpibroker/devkit/testkit"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape GETs /metrics and parses the Prometheus text format.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// find returns the sample of family name whose labels include want, or nil.
func find(fams map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	f := fams[name]
	if f == nil {
		return nil
	}
next:
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue next
			}
		}
		return m
	}
	return nil
}

func value(m *dto.Metric) float64 {
	switch {
	case m == nil:
		return -1
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Histogram != nil:
		return float64(m.GetHistogram().GetSampleCount())
	}
	return -1
}

// After a few jobs (two succeeded with a callback each, one failed with
// CPI's 400), /metrics has every series of DESIGN 8 with bounded labels
// and the right values; the backlog gauge showed the queued jobs while
// dispatching was paused.
func TestMetricsScrape(t *testing.T) {
	sys := testkit.Start(t, testkit.Options{})
	broken := sys.AddFlow(cpisim.IFlow{ID: "Broken", Address: "/t/broken",
		Faults: cpisim.Faults{ErrorRate: 1, ErrorStatus: 400}}, nil)
	var callbacks atomic.Int32
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		callbacks.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rcv.Close)
	sys.AllowCallbacks(rcv.URL + "/")
	p := sys.Partner()
	sys.Broker.Dispatcher.Pause()
	var ids []string
	for range 2 {
		var j testkit.Job
		p.Submit("demo-echo", "text/plain", []byte("m"), http.Header{"Callback-URL": {rcv.URL + "/cb"}}).JSON(t, &j)
		ids = append(ids, j.ID)
	}
	var j testkit.Job
	p.Submit(broken, "text/plain", []byte("b"), nil).JSON(t, &j)
	ids = append(ids, j.ID)
	var canceled testkit.Job
	p.Submit("demo-slow", "text/plain", []byte("c"), nil).JSON(t, &canceled)
	if r := p.Do(http.MethodDelete, "/v1/jobs/"+canceled.ID, nil, nil); r.Status != 200 {
		t.Fatalf("cancel: %d %s", r.Status, r.Body)
	}

	fams := scrape(t, sys.BaseURL)
	if v := value(find(fams, "cpibroker_backlog", map[string]string{"client": "demo-partner", "flow": "demo-echo", "kind": "queued"})); v != 2 {
		t.Fatalf("backlog of demo-echo while paused = %v, want 2", v)
	}
	sys.Broker.Dispatcher.Resume()
	for _, id := range ids {
		p.WaitJob(id, 30*time.Second)
	}
	testkit.Eventually(t, 30*time.Second, "two callbacks counted", func() bool {
		fams = scrape(t, sys.BaseURL)
		return value(find(fams, "cpibroker_callbacks_total", map[string]string{"outcome": "delivered"})) == 2
	})
	if n := callbacks.Load(); n != 2 {
		t.Fatalf("receiver got %d callbacks", n)
	}
	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"cpibroker_jobs_accepted_total", map[string]string{"client": "demo-partner", "flow": "demo-echo"}, 2},
		{"cpibroker_jobs_accepted_total", map[string]string{"client": "demo-partner", "flow": broken}, 1},
		{"cpibroker_jobs_completed_total", map[string]string{"client": "demo-partner", "flow": "demo-echo", "status": "succeeded", "code": ""}, 2},
		{"cpibroker_jobs_completed_total", map[string]string{"client": "demo-partner", "flow": broken, "status": "failed", "code": "cpi_error"}, 1},
		{"cpibroker_jobs_completed_total", map[string]string{"client": "demo-partner", "flow": "demo-slow", "status": "canceled", "code": "canceled"}, 1},
		{"cpibroker_cpi_call_duration_seconds", map[string]string{"flow": "demo-echo", "outcome": "2xx"}, 2},
		{"cpibroker_cpi_call_duration_seconds", map[string]string{"flow": broken, "outcome": "4xx"}, 1},
	}
	for _, c := range checks {
		if got := value(find(fams, c.name, c.labels)); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	// The histogram's buckets span milliseconds to minutes.
	h := find(fams, "cpibroker_cpi_call_duration_seconds", map[string]string{"flow": "demo-echo"}).GetHistogram()
	if b := h.GetBucket(); len(b) < 10 || b[0].GetUpperBound() > 0.01 || b[len(b)-1].GetUpperBound() < 300 {
		t.Errorf("latency buckets %v", b)
	}
	// Families that exist before any event: breaker states and quota
	// waits are declared (their series appear with the first event).
	for _, name := range []string{"cpibroker_inflight", "go_goroutines", "process_resident_memory_bytes"} {
		if fams[name] == nil {
			t.Errorf("no %s family", name)
		}
	}
	// Bounded cardinality: no job ID anywhere in a label.
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				for _, id := range ids {
					if l.GetValue() == id || l.GetName() == "job_id" {
						t.Fatalf("%s has a job label %s=%s", name, l.GetName(), l.GetValue())
					}
				}
			}
		}
	}
}

// A partner limited to one CPI call at a time: while its second job
// waits, /metrics shows the queue held back for concurrency and counts
// the wait; the flow's breaker is reported closed.
func TestQuotaWaitAndBreakerSeries(t *testing.T) {
	sys := testkit.Start(t, testkit.Options{})
	cl, _ := sys.Broker.Catalog.Client("demo-partner")
	cl.Quota = &catalog.Quota{Concurrency: 1}
	if err := sys.Broker.Catalog.PutClient(context.Background(), cl, false); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, "the quota is live", func() bool {
		c, _ := sys.Broker.Catalog.Client("demo-partner")
		return c.Quota != nil
	})
	p := sys.Partner()
	var ids []string
	for range 3 {
		var j testkit.Job
		p.Submit("demo-slow", "text/plain", []byte("q"), nil).JSON(t, &j)
		ids = append(ids, j.ID)
	}
	held := map[string]string{"client": "demo-partner", "flow": "demo-slow", "reason": "concurrency"}
	testkit.Eventually(t, 20*time.Second, "the queue held back for concurrency", func() bool {
		fams := scrape(t, sys.BaseURL)
		return value(find(fams, "cpibroker_waiting", held)) == 1 && value(find(fams, "cpibroker_quota_waits_total", nil)) >= 1
	})
	for _, id := range ids {
		p.WaitJob(id, 30*time.Second)
	}
	fams := scrape(t, sys.BaseURL)
	if v := value(find(fams, "cpibroker_breaker_state", map[string]string{"flow": "demo-slow"})); v != 0 {
		t.Fatalf("breaker state of demo-slow = %v, want 0 (closed)", v)
	}
}
