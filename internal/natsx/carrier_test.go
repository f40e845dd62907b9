package natsx_test

import (
	"context"
	"slices"
	"testing"

	"github.com/cpibroker/cpibroker/devkit/testkit"
	"github.com/cpibroker/cpibroker/internal/natsx"
	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// TestHeaderCarrier_traceparent_survives_JetStream: the trace context the
// ingress injects comes back out of the stored message unchanged, so the
// dispatcher's spans join the partner's trace.
func TestHeaderCarrier_traceparent_survives_JetStream(t *testing.T) {
	ctx := ctxT(t)
	_, _, res := testkit.NATS(t)
	prop := propagation.TraceContext{}

	ts, err := trace.ParseTraceState("vendor=opaque")
	if err != nil {
		t.Fatal(err)
	}
	sent := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:     trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
		TraceFlags: trace.FlagsSampled,
		TraceState: ts,
		Remote:     true,
	})
	msg := &nats.Msg{Subject: natsx.QueueSubject("acme", "echo", "01J00000000000000000000000"), Data: []byte("job"), Header: nats.Header{}}
	prop.Inject(trace.ContextWithSpanContext(context.Background(), sent), natsx.HeaderCarrier(msg.Header))

	carrier := natsx.HeaderCarrier(msg.Header)
	if got := carrier.Get("traceparent"); got != "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" {
		t.Fatalf("traceparent = %q", got)
	}
	keys := carrier.Keys()
	slices.Sort(keys)
	if !slices.Equal(keys, []string{"traceparent", "tracestate"}) {
		t.Fatalf("Keys = %v", keys)
	}

	if _, err := res.JS.PublishMsg(ctx, msg); err != nil {
		t.Fatalf("publish: %v", err)
	}
	stored, err := res.Jobs.GetLastMsgForSubject(ctx, msg.Subject)
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	got := trace.SpanContextFromContext(prop.Extract(context.Background(), natsx.HeaderCarrier(stored.Header)))
	if !got.Equal(sent) {
		t.Fatalf("extracted %+v, want %+v", got, sent)
	}
}

func TestHeaderCarrier_set_replaces(t *testing.T) {
	h := nats.Header{}
	c := natsx.HeaderCarrier(h)
	c.Set("traceparent", "a")
	c.Set("traceparent", "b")
	if vs := h.Values("traceparent"); !slices.Equal(vs, []string{"b"}) {
		t.Fatalf("values = %v", vs)
	}
	// NATS headers are case-sensitive: the W3C lowercase key is kept as is.
	if _, ok := h["traceparent"]; !ok {
		t.Fatalf("header keys = %v", c.Keys())
	}
	if c.Get("missing") != "" {
		t.Fatal("Get of a missing key is not empty")
	}
}
