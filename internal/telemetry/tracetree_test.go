package telemetry_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/broker"
	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/devkit/cpisim"
	"github.com/cpibroker/cpibroker/devkit/testkit"
	"github.com/cpibroker/cpibroker/internal/telemetry"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

func attrs(s sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes() {
		m[kv.Key] = kv.Value
	}
	return m
}

// One job whose first CPI call answers 503 and whose retry succeeds, then
// called back, is one trace: the ingress server span, the publish
// (producer) span, two dispatch (consumer) spans with attempt 1 and 2, one
// CPI client span under each, and the callback attempt (a deliver span
// with its HTTP client span), with the job's attributes.
func TestOneTracePerJobRetriedAndCalledBack(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	sys := testkit.Start(t, testkit.Options{Configure: func(c *broker.Config) {
		c.Tracing = telemetry.Tracing{Provider: tp, Propagator: propagation.TraceContext{}}
	}})
	flow := sys.AddFlow(cpisim.IFlow{ID: "Retried", Address: "/t/retried",
		Faults: cpisim.Faults{ErrorRate: 1, ErrorStatus: 503}}, func(p *catalog.Policy) {
		p.BackoffBase = catalog.Duration(time.Second)
	})
	hooks := make(chan struct{}, 10)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
		hooks <- struct{}{}
	}))
	t.Cleanup(rcv.Close)

	sys.AllowCallbacks(rcv.URL + "/")
	p := sys.Partner()
	var j testkit.Job
	p.Submit(flow, "text/plain", []byte("retry me"), http.Header{"Callback-URL": {rcv.URL + "/cb"}}).JSON(t, &j)
	testkit.Eventually(t, 30*time.Second, "the first CPI call", func() bool { return sys.Sim.CallCount("Retried") >= 1 })
	if err := sys.Sim.SetFaults("Retried", cpisim.Faults{}); err != nil {
		t.Fatal(err)
	}
	if got := p.WaitJob(j.ID, 30*time.Second); got.Status != "succeeded" || got.Attempts != 2 {
		t.Fatalf("job %+v", got)
	}
	select {
	case <-hooks:
	case <-time.After(30 * time.Second):
		t.Fatal("no callback")
	}
	calls := sys.Sim.Calls("Retried")
	if len(calls) != 2 || calls[0].Status != 503 || calls[1].Status != 200 {
		t.Fatalf("CPI calls %+v", calls)
	}

	var (
		server, publish     sdktrace.ReadOnlySpan
		dispatch, cpi       []sdktrace.ReadOnlySpan
		deliver, callbackCl sdktrace.ReadOnlySpan
	)
	testkit.Eventually(t, 10*time.Second, "every span of the job ended", func() bool {
		server, publish, deliver, callbackCl = nil, nil, nil, nil
		dispatch, cpi = nil, nil
		for _, s := range rec.Ended() {
			a := attrs(s)
			switch {
			case s.SpanKind() == trace.SpanKindServer && a["job.id"].AsString() == j.ID:
				server = s
			case s.SpanKind() == trace.SpanKindProducer && a["job.id"].AsString() == j.ID:
				publish = s
			case s.SpanKind() == trace.SpanKindConsumer && a["job.id"].AsString() == j.ID:
				dispatch = append(dispatch, s)
			case s.SpanKind() == trace.SpanKindClient && s.Name() == "CPI POST "+calls[0].Path:
				cpi = append(cpi, s)
			case strings.HasPrefix(s.Name(), "deliver ") && a["job.id"].AsString() == j.ID:
				deliver = s
			case s.SpanKind() == trace.SpanKindClient && strings.HasPrefix(s.Name(), "callback "):
				callbackCl = s
			}
		}
		return server != nil && publish != nil && len(dispatch) == 2 && len(cpi) == 2 && deliver != nil && callbackCl != nil
	})
	tid := server.SpanContext().TraceID()
	for _, s := range append(append([]sdktrace.ReadOnlySpan{publish, deliver, callbackCl}, dispatch...), cpi...) {
		if s.SpanContext().TraceID() != tid {
			t.Fatalf("span %q is in trace %s, the job's is %s", s.Name(), s.SpanContext().TraceID(), tid)
		}
	}
	// The tree: server → publish → dispatch 1 → dispatch 2 (the retry
	// continues the first attempt's context); each CPI call under its
	// attempt; the callback client span under its deliver span, which
	// continues the run's terminal dispatch.
	if dispatch[0].StartTime().After(dispatch[1].StartTime()) {
		dispatch[0], dispatch[1] = dispatch[1], dispatch[0]
	}
	parent := func(s sdktrace.ReadOnlySpan) trace.SpanID { return s.Parent().SpanID() }
	if parent(publish) != server.SpanContext().SpanID() || parent(dispatch[0]) != publish.SpanContext().SpanID() ||
		parent(dispatch[1]) != dispatch[0].SpanContext().SpanID() {
		t.Fatal("publish and dispatch spans are not chained server → publish → attempt 1 → attempt 2")
	}
	for i, d := range dispatch {
		a := attrs(d)
		if a["attempt"].AsInt64() != int64(i+1) || a["run"].AsInt64() != 1 || a["client.id"].AsString() != "demo-partner" ||
			a["flow.id"].AsString() != flow || a["cpi.message_id"].AsString() == "" || a["queue.wait_ms"].Type() != attribute.INT64 {
			t.Fatalf("dispatch span %d attributes %v", i+1, a)
		}
		var under []sdktrace.ReadOnlySpan
		for _, c := range cpi {
			if parent(c) == d.SpanContext().SpanID() {
				under = append(under, c)
			}
		}
		if len(under) != 1 {
			t.Fatalf("attempt %d has %d CPI call spans", i+1, len(under))
		}
		if code := attrs(under[0])["http.response.status_code"].AsInt64(); code != int64(calls[i].Status) {
			t.Fatalf("attempt %d CPI span status %d", i+1, code)
		}
	}
	if attrs(dispatch[1])["cpi.message_id"].AsString() != calls[1].MessageID {
		t.Fatal("cpi.message_id is not the iFlow's MPL ID")
	}
	if len(dispatch[0].Events()) == 0 {
		t.Fatal("attempt 1 has no retry event")
	}
	if parent(callbackCl) != deliver.SpanContext().SpanID() {
		t.Fatal("the callback HTTP span is not under its deliver span")
	}
	if a := attrs(deliver); a["client.id"].AsString() != "demo-partner" || a["flow.id"].AsString() != flow || a["attempt"].AsInt64() != 1 || a["run"].AsInt64() != 1 {
		t.Fatalf("deliver span attributes %v", a)
	}
	if a := attrs(server); a["flow.id"].AsString() != flow {
		t.Fatalf("server span attributes %v", a)
	}
}
