package jobs

import (
	"context"

	"github.com/cpibroker/cpibroker/internal/natsx"
	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/propagation"
)

// TraceHeader returns the headers that carry ctx's trace context (W3C
// traceparent through prop) with a job message or event, so a job is one
// trace from its submit to its callbacks.
func TraceHeader(ctx context.Context, prop propagation.TextMapPropagator) nats.Header {
	h := nats.Header{}
	prop.Inject(ctx, natsx.HeaderCarrier(h))
	return h
}

// QueueDestination names where the new jobs of client for flow are
// published, for a producer span's name.
func QueueDestination(client, flow string) string {
	return natsx.ConsumerSubject(natsx.KindQueue, client, flow)
}
