package ingress_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/broker"
	"github.com/cpibroker/cpibroker/devkit/testkit"
	"github.com/cpibroker/cpibroker/internal/telemetry"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

func TestIdempotencyKey(t *testing.T) {
	sys := testkit.Start(t, testkit.Options{})
	p := sys.Partner()
	key := http.Header{"Idempotency-Key": {"order-4711"}}
	first := p.Submit("demo-echo", "application/json", []byte(`{"n":1}`), key)
	if first.Status != 202 || first.Header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("first: %d %v", first.Status, first.Header)
	}
	var j testkit.Job
	first.JSON(t, &j)
	p.WaitJob(j.ID, 30*time.Second)
	again := p.Submit("demo-echo", "application/json", []byte(`{"n":1}`), key)
	var j2 testkit.Job
	again.JSON(t, &j2)
	if again.Status != 200 || again.Header.Get("Idempotent-Replayed") != "true" || j2.ID != j.ID || j2.Status != "succeeded" {
		t.Fatalf("replay: %d %v %+v", again.Status, again.Header, j2)
	}
	if again.Header.Get("Location") != "/v1/jobs/"+j.ID {
		t.Fatalf("replay Location %q", again.Header.Get("Location"))
	}
	expectProblem(t, p.Submit("demo-echo", "application/json", []byte(`{"n":2}`), key), 422, "idempotency_key_reused")
	if n := sys.Sim.CallCount("Echo"); n != 1 {
		t.Fatalf("CPI called %d times for one idempotent job", n)
	}
	// Keys are per client: another partner may use the same key.
	other := addPartner(t, sys, "other-partner", []string{"demo-echo"})
	if r := other.Submit("demo-echo", "application/json", []byte(`{"n":1}`), key); r.Status != 202 || r.Header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("other client's key: %d %v", r.Status, r.Header)
	}
}

func TestDemoFlakyEndsTerminal(t *testing.T) {
	sys := testkit.Start(t, testkit.Options{})
	p := sys.Partner()
	var ids []string
	for range 6 {
		var j testkit.Job
		p.Submit("demo-flaky", "text/plain", []byte("maybe"), nil).JSON(t, &j)
		ids = append(ids, j.ID)
	}
	for _, id := range ids {
		j := p.WaitJob(id, 60*time.Second)
		switch {
		case j.Status == "succeeded" && j.Attempts >= 1:
		case j.Status == "failed" && j.Error != nil && j.Error.Code == "attempts_exhausted" && j.Attempts == 5:
		default:
			t.Fatalf("flaky job ended %+v %+v", j, j.Error)
		}
	}
}

// A restart on the same data dir keeps credentials, queued jobs and records.
func TestRestartKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	sys := testkit.Start(t, testkit.Options{DataDir: dir})
	sys.Broker.Dispatcher.Pause()
	p := sys.Partner()
	var done testkit.Job
	p.Submit("demo-echo", "text/plain", []byte("before"), nil).JSON(t, &done)
	sys.Broker.Dispatcher.Resume()
	p.WaitJob(done.ID, 30*time.Second)
	sys.Broker.Dispatcher.Pause()
	var queued []string
	for i := range 5 {
		var j testkit.Job
		p.Submit("demo-echo", "text/plain", []byte{'0' + byte(i)}, nil).JSON(t, &j)
		queued = append(queued, j.ID)
	}
	if err := sys.Broker.Stop(); err != nil {
		t.Fatal(err)
	}

	again := testkit.Start(t, testkit.Options{DataDir: dir})
	if again.Creds.Partner.ClientSecret != sys.Creds.Partner.ClientSecret {
		t.Fatal("demo credentials changed across a restart")
	}
	p2 := again.Partner()
	// The old token still verifies: same signing key, same issuer.
	p.BaseURL = again.BaseURL
	var before testkit.Job
	p.Do(http.MethodGet, "/v1/jobs/"+done.ID, nil, nil).JSON(t, &before)
	if before.Status != "succeeded" {
		t.Fatalf("record after restart: %+v", before)
	}
	for i, id := range queued {
		j := p2.WaitJob(id, 30*time.Second)
		if j.Status != "succeeded" {
			t.Fatalf("queued job after restart: %+v", j)
		}
		r := p2.Do(http.MethodGet, "/v1/jobs/"+id+"/result", nil, nil)
		if !bytes.Equal(r.Body, []byte{'0' + byte(i)}) {
			t.Fatalf("result of %s: %q", id, r.Body)
		}
	}
}

// The ingress span's traceparent travels in the NATS headers; the
// dispatcher's spans and the CPI call continue the same trace.
func TestTraceContinuesThroughJetStream(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	sys := testkit.Start(t, testkit.Options{Configure: func(c *broker.Config) {
		c.Tracing = telemetry.Tracing{Provider: tp, Propagator: propagation.TraceContext{}}
	}})
	p := sys.Partner()
	var j testkit.Job
	p.Submit("demo-echo", "text/plain", []byte("traced"), nil).JSON(t, &j)
	p.WaitJob(j.ID, 30*time.Second)
	var server, publish, dispatch trace.SpanContext
	var cpiParent trace.SpanID
	testkit.Eventually(t, 10*time.Second, "spans ended", func() bool {
		for _, s := range rec.Ended() {
			switch {
			case s.SpanKind() == trace.SpanKindServer && strings.Contains(s.Name(), "/v1/flows/"):
				server = s.SpanContext()
			case s.SpanKind() == trace.SpanKindProducer:
				publish = s.SpanContext()
			case s.SpanKind() == trace.SpanKindConsumer:
				dispatch = s.SpanContext()
			case s.SpanKind() == trace.SpanKindClient && strings.HasPrefix(s.Name(), "CPI POST"):
				cpiParent = s.Parent().SpanID()
			}
		}
		return server.IsValid() && publish.IsValid() && dispatch.IsValid() && cpiParent.IsValid()
	})
	if publish.TraceID() != server.TraceID() || dispatch.TraceID() != server.TraceID() {
		t.Fatalf("traces differ: server %s publish %s dispatch %s", server.TraceID(), publish.TraceID(), dispatch.TraceID())
	}
	if cpiParent != dispatch.SpanID() {
		t.Fatal("the CPI call is not a child of the dispatch span")
	}
	var sawTrace bool
	for _, c := range sys.Sim.Calls("Echo") {
		sawTrace = sawTrace || strings.Contains(c.Traceparent, server.TraceID().String())
	}
	if !sawTrace {
		t.Fatal("the iFlow did not receive the job's traceparent")
	}
}

// With tracing off, a partner's traceparent still reaches the iFlow.
func TestTraceparentPassesThroughWithTracingOff(t *testing.T) {
	sys := testkit.Start(t, testkit.Options{})
	p := sys.Partner()
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	var j testkit.Job
	p.Submit("demo-echo", "text/plain", []byte("x"), http.Header{"Traceparent": {tp}}).JSON(t, &j)
	p.WaitJob(j.ID, 30*time.Second)
	calls := sys.Sim.Calls("Echo")
	if len(calls) != 1 || !strings.Contains(calls[0].Traceparent, "4bf92f3577b34da6a3ce929d0e0e4736") {
		t.Fatalf("iFlow saw traceparent %+v", calls)
	}
}
