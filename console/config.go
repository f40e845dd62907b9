package console

import (
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"time"
)

// Config tunes the console. Zero values take the documented defaults.
type Config struct {
	// TraceURLTemplate links a job to its trace: a URL with {trace_id}
	// (Jaeger: http://jaeger:16686/trace/{trace_id}; Tempo or Grafana
	// Explore likewise). Empty: no trace links.
	TraceURLTemplate string
	// SampleEvery is how often the overview's charts sample the metrics.
	// Default 15s.
	SampleEvery time.Duration
	// Window is how much history the charts keep. Default 1h.
	Window time.Duration
	// MaxSessions bounds the signed-in browsers kept. Default 1000.
	MaxSessions int
	// Now is the clock; Logger logs render failures.
	Now    func() time.Time
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.SampleEvery == 0 {
		c.SampleEvery = 15 * time.Second
	}
	if c.Window == 0 {
		c.Window = time.Hour
	}
	if c.MaxSessions == 0 {
		c.MaxSessions = 1000
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// ErrTraceTemplate is returned for a trace URL template that is not an
// http(s) URL with {trace_id}.
var ErrTraceTemplate = errors.New("console: --trace-url-template must be an http(s) URL containing {trace_id}")

// Validate reports an impossible setting.
func (c *Config) Validate() error {
	if t := c.TraceURLTemplate; t != "" {
		u, err := url.Parse(strings.ReplaceAll(t, "{trace_id}", "0"))
		if err != nil || !strings.Contains(t, "{trace_id}") || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return ErrTraceTemplate
		}
	}
	if c.SampleEvery < time.Second || c.Window < c.SampleEvery {
		return errors.New("console: sample interval must be at least 1s and within the window")
	}
	return nil
}

// TraceURL is the link to a trace, "" without a template or trace ID.
func (c *Config) TraceURL(traceID string) string {
	if c.TraceURLTemplate == "" || traceID == "" {
		return ""
	}
	return strings.ReplaceAll(c.TraceURLTemplate, "{trace_id}", url.PathEscape(traceID))
}
