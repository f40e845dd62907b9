package telemetry

import (
	"net/http"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Enabled reports whether tp records spans. With tracing off, components
// skip the otelgin/otelhttp instrumentation (which builds attributes and
// metric sets per request even for a no-op provider) and only pass W3C
// trace context through.
func Enabled(tp trace.TracerProvider) bool {
	if tp == nil {
		return false
	}
	_, isNoop := tp.(noop.TracerProvider)
	return !isNoop
}

// PropagatingTransport injects the request context's trace context into
// outgoing headers without creating spans: with tracing off, a partner's
// traceparent still reaches the iFlow.
type PropagatingTransport struct {
	Base       http.RoundTripper
	Propagator propagation.TextMapPropagator
}

// RoundTrip implements http.RoundTripper.
func (t PropagatingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if trace.SpanContextFromContext(r.Context()).IsValid() {
		r = r.Clone(r.Context())
		t.Propagator.Inject(r.Context(), propagation.HeaderCarrier(r.Header))
	}
	return t.Base.RoundTrip(r)
}
