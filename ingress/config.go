package ingress

import (
	"errors"
	"log/slog"
	"net"
	"net/url"
	"time"

	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/internal/telemetry"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Config configures the HTTP API. Zero values take the documented defaults.
type Config struct {
	// Secrets says which ${…} references a provider secret may hold at
	// registration; zero allows environment variables starting with
	// CPIB_ only.
	Secrets catalog.SecretRefs
	// Listen is the partner listener address. Default 127.0.0.1:8080.
	Listen string
	// PublicURL is the base URL partners use; the token issuer.
	// Default "http://" + Listen.
	PublicURL string
	// MaxPayload is the largest request body accepted (413 above).
	// Default 64 MiB.
	MaxPayload int64
	// MaxWait caps ?wait= and Prefer: wait. Default 60s.
	MaxWait time.Duration
	// MaxJobTTL caps the Job-TTL header. Default 7 days.
	MaxJobTTL time.Duration
	// DataRetention is how long job records, results, events and DLQ
	// entries are kept (the JetStream layout's retention). Default 7 days.
	// A deleted client's ID stays retired for DataRetention + MaxJobTTL +
	// 24h (see ClientRetirement).
	DataRetention time.Duration
	// TrustedProxies are the CIDRs whose X-Forwarded-For is believed.
	// Default none: the socket address is the client address.
	TrustedProxies []string
	// ReadHeaderTimeout, ReadTimeout (whole request incl. body),
	// WriteTimeout (above the longest long-poll) and IdleTimeout of the
	// HTTP server. Defaults 10s, 5m, MaxWait+30s, 2m.
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// MaxHeaderBytes bounds request headers. Default 64 KiB.
	MaxHeaderBytes int
	// Listener, when set, is used instead of listening on Listen (the
	// broker opens it early when Listen has port 0, to know the real
	// address for PublicURL).
	Listener net.Listener
	// AdminListen, when set, is a second listener that serves /admin/v1,
	// /metrics and the health endpoints (and the token endpoint, so an
	// operator can get an admin token there); the partner listener then
	// serves neither /admin nor /metrics. AdminListener, when set, is used
	// instead of listening on AdminListen.
	AdminListen   string
	AdminListener net.Listener
	// DrainDelay is how long, after shutdown starts, the listeners stay
	// open answering 503 to new work (so load balancers see /readyz fail
	// and stop sending) before they close. Default 0.
	DrainDelay time.Duration
	// ShutdownGrace bounds the wait for in-flight requests once the
	// listeners close. Default 30s.
	ShutdownGrace time.Duration
	// AccessLog logs every request at info level (method, route, status,
	// duration, client address, client and job IDs; no secrets). Default
	// off: requests are then logged at debug level only.
	AccessLog bool
	// TLSCert and TLSKey enable HTTPS when both are set (on both listeners).
	TLSCert, TLSKey string
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger, TracerProvider and Propagator; defaults discard.
	Logger         *slog.Logger
	TracerProvider trace.TracerProvider
	Propagator     propagation.TextMapPropagator
}

func (c *Config) setDefaults() {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8080"
	}
	if c.PublicURL == "" {
		c.PublicURL = "http://" + c.Listen
	}
	if c.MaxPayload == 0 {
		c.MaxPayload = 64 << 20
	}
	if c.MaxWait == 0 {
		c.MaxWait = 60 * time.Second
	}
	if c.MaxJobTTL == 0 {
		c.MaxJobTTL = 7 * 24 * time.Hour
	}
	if c.DataRetention == 0 {
		c.DataRetention = 7 * 24 * time.Hour
	}
	if c.ReadHeaderTimeout == 0 {
		c.ReadHeaderTimeout = 10 * time.Second
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = 5 * time.Minute
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = c.MaxWait + 30*time.Second
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 2 * time.Minute
	}
	if c.MaxHeaderBytes == 0 {
		c.MaxHeaderBytes = 64 << 10
	}
	if c.ShutdownGrace == 0 {
		c.ShutdownGrace = 30 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	telemetry.Defaults(&c.Logger, &c.TracerProvider, &c.Propagator)
}

// ClientRetirement is how long the ID of a deleted client cannot be
// created again: until every job of the old client has expired and every
// record, result, event, DLQ entry and idempotency key of it has aged out
// (DataRetention + MaxJobTTL), plus a day of margin (token lifetimes,
// retries, clock skew).
func (c *Config) ClientRetirement() time.Duration {
	return c.DataRetention + c.MaxJobTTL + 24*time.Hour
}

// Validate reports every impossible setting in one error.
func (c *Config) Validate() error {
	var errs []error
	if err := c.Secrets.Validate(); err != nil {
		errs = append(errs, errors.New("ingress: "+err.Error()))
	}
	if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, errors.New("ingress: public URL must be an absolute http(s) URL"))
	}
	if c.MaxPayload < 1 {
		errs = append(errs, errors.New("ingress: max payload must be positive"))
	}
	if c.DataRetention < 0 || c.MaxJobTTL < 0 {
		errs = append(errs, errors.New("ingress: data retention and max job TTL cannot be negative"))
	}
	if c.WriteTimeout <= c.MaxWait {
		errs = append(errs, errors.New("ingress: write timeout must exceed the longest wait"))
	}
	if c.DrainDelay < 0 || c.ShutdownGrace < 0 {
		errs = append(errs, errors.New("ingress: drain delay and shutdown grace cannot be negative"))
	}
	if c.MaxHeaderBytes < 4<<10 {
		errs = append(errs, errors.New("ingress: max header bytes must be at least 4 KiB"))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("ingress: --tls-cert and --tls-key go together"))
	}
	return errors.Join(errs...)
}
