package telemetry

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Tracing is the process's tracing setup.
type Tracing struct {
	Provider   trace.TracerProvider
	Propagator propagation.TextMapPropagator
	// Shutdown flushes and stops the exporter.
	Shutdown func(context.Context) error
}

// unset marks "OTEL_TRACES_EXPORTER not set": cpibroker then exports
// nothing instead of autoexport's default of OTLP to localhost.
type unset struct{}

func (unset) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (unset) Shutdown(context.Context) error                             { return nil }

// SetupTracing builds the tracer provider from the OTEL_* variables:
// OTEL_TRACES_EXPORTER=otlp|console|none (unset: none), and the
// OTEL_EXPORTER_OTLP_* and OTEL_SERVICE_NAME/OTEL_RESOURCE_ATTRIBUTES
// variables, all interpreted by the OpenTelemetry SDK itself.
func SetupTracing(ctx context.Context, service string) (Tracing, error) {
	prop := propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	exp, err := autoexport.NewSpanExporter(ctx, autoexport.WithFallbackSpanExporter(
		func(context.Context) (sdktrace.SpanExporter, error) { return unset{}, nil }))
	if err != nil {
		return Tracing{}, fmt.Errorf("telemetry: span exporter: %w", err)
	}
	if _, none := exp.(unset); none || autoexport.IsNoneSpanExporter(exp) {
		return Tracing{Provider: noop.NewTracerProvider(), Propagator: prop, Shutdown: exp.Shutdown}, nil
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(semconv.ServiceName(service)))
	if err != nil && !errors.Is(err, resource.ErrSchemaURLConflict) {
		return Tracing{}, fmt.Errorf("telemetry: resource: %w", err)
	}
	env, err := resource.New(ctx, resource.WithFromEnv())
	if err == nil {
		if merged, merr := resource.Merge(res, env); merr == nil {
			res = merged
		}
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return Tracing{Provider: tp, Propagator: prop, Shutdown: tp.Shutdown}, nil
}
