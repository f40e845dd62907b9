package telemetry

import (
	"log/slog"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Defaults fills the observability dependencies a component's config
// leaves nil: a logger that discards, a tracer provider that records
// nothing, and W3C trace context propagation.
func Defaults(logger **slog.Logger, tp *trace.TracerProvider, prop *propagation.TextMapPropagator) {
	if *logger == nil {
		*logger = slog.New(slog.DiscardHandler)
	}
	if *tp == nil {
		*tp = noop.NewTracerProvider()
	}
	if *prop == nil {
		*prop = propagation.TraceContext{}
	}
}
