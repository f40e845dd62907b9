package telemetry

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"go.opentelemetry.io/otel/trace"
)

// ParseLevel reads --log-level (debug, info, warn, error).
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(s))); err != nil {
		return 0, fmt.Errorf("telemetry: log level %q: use debug, info, warn or error", s)
	}
	return l, nil
}

// NewLogger returns a JSON slog logger that adds trace_id and span_id from
// the record's context when a span is active, and replaces the value of any
// attribute named like a secret with "[redacted]" (a second line of
// defence: components never log secrets, tokens or payloads).
func NewLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(traceHandler{slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: redact})})
}

// secretKeys are attribute names whose values never reach a log.
var secretKeys = map[string]bool{
	"secret": true, "client_secret": true, "clientsecret": true, "webhook_secret": true,
	"password": true, "token": true, "access_token": true, "refresh_token": true,
	"authorization": true, "cookie": true, "set-cookie": true, "signature": true,
}

func redact(_ []string, a slog.Attr) slog.Attr {
	if secretKeys[strings.ToLower(a.Key)] {
		return slog.String(a.Key, "[redacted]")
	}
	return a
}

type traceHandler struct{ slog.Handler }

func (h traceHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

func (h traceHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return traceHandler{h.Handler.WithAttrs(as)}
}

func (h traceHandler) WithGroup(name string) slog.Handler {
	return traceHandler{h.Handler.WithGroup(name)}
}
