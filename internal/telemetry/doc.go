// Package telemetry owns cpibroker's OpenTelemetry and logging setup:
// the tracer provider built from the standard OTEL_* environment variables
// (through the SDK's autoexport, never hand-parsed), the W3C propagator,
// and the slog JSON logger that stamps every record with the trace ID.
package telemetry
