package delivery

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/cpibroker/cpibroker/internal/ssrf"
	"github.com/cpibroker/cpibroker/internal/telemetry"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// DefaultSchedule returns the wait before each retry (Svix's schedule):
// with the first attempt, eight attempts over about 27.5 hours. Each call
// returns a new slice, so no Config shares (and can change) another's.
func DefaultSchedule() []time.Duration {
	return []time.Duration{
		5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour,
		5 * time.Hour, 10 * time.Hour, 10 * time.Hour,
	}
}

// Config tunes a Deliverer. Zero values take the documented defaults.
type Config struct {
	// Schedule is the wait before retry 1, 2, …; a delivery is given up
	// after len(Schedule)+1 attempts. Each wait is jittered by ±20% and
	// is at least the receiver's Retry-After (capped at MaxRetryAfter).
	// Schedules fire with whole-second precision. Default DefaultSchedule().
	Schedule []time.Duration
	// MaxRetryAfter caps a receiver's Retry-After. Default 24h.
	MaxRetryAfter time.Duration
	// Timeout bounds one attempt (connect, TLS, request, response
	// headers, and reading the answer). Default 15s.
	Timeout time.Duration
	// EndpointConcurrency is how many attempts to one endpoint (lane) run
	// at once in this process. Default 8.
	EndpointConcurrency int
	// Breaker configures the circuit breaker of each endpoint.
	Breaker BreakerConfig
	// MaxResponseBody is how much of a receiver's answer is read (and
	// discarded). Default 64 KiB.
	MaxResponseBody int64
	// IdleWait is how long an empty lane waits for a task per pull.
	// Default 5s.
	IdleWait time.Duration
	// ReconcileInterval is how often lanes started elsewhere (another
	// process, a DLQ replay) are looked for. Default 2s.
	ReconcileInterval time.Duration
	// IdleLaneTTL: a lane with nothing to deliver for this long gives up
	// its consumer. Default 10m.
	IdleLaneTTL time.Duration
	// Guard refuses internal addresses at dial time (DESIGN 7.2).
	// Default: a guard that allows no private address.
	Guard *ssrf.Guard
	// UserAgent is sent with every attempt. Default "cpibroker-webhooks/1".
	UserAgent string
	// Now is the clock; Rand draws jitter. Injectable for tests.
	Now  func() time.Time
	Rand func() float64
	// Observer receives every attempt's outcome; default none.
	Observer Observer
	// Logger, TracerProvider and Propagator; defaults discard.
	Logger         *slog.Logger
	TracerProvider trace.TracerProvider
	Propagator     propagation.TextMapPropagator
}

// BreakerConfig configures the circuit breaker of one endpoint: after
// ConsecutiveFailures failed attempts it opens for OpenFor; while open,
// attempts fail at once (and are retried on the schedule) without a
// request; then HalfOpenProbes attempts probe the receiver.
type BreakerConfig struct {
	// ConsecutiveFailures opens the breaker. Default 5.
	ConsecutiveFailures int
	// OpenFor is how long it stays open. Default 30s.
	OpenFor time.Duration
	// HalfOpenProbes is how many attempts probe a half-open breaker.
	// Default 1.
	HalfOpenProbes int
}

func (c *Config) setDefaults() {
	if c.Schedule == nil {
		c.Schedule = DefaultSchedule()
	}
	if c.MaxRetryAfter == 0 {
		c.MaxRetryAfter = 24 * time.Hour
	}
	if c.Timeout == 0 {
		c.Timeout = 15 * time.Second
	}
	if c.EndpointConcurrency == 0 {
		c.EndpointConcurrency = 8
	}
	if c.Breaker.ConsecutiveFailures == 0 {
		c.Breaker.ConsecutiveFailures = 5
	}
	if c.Breaker.OpenFor == 0 {
		c.Breaker.OpenFor = 30 * time.Second
	}
	if c.Breaker.HalfOpenProbes == 0 {
		c.Breaker.HalfOpenProbes = 1
	}
	if c.MaxResponseBody == 0 {
		c.MaxResponseBody = 64 << 10
	}
	if c.IdleWait == 0 {
		c.IdleWait = 5 * time.Second
	}
	if c.ReconcileInterval == 0 {
		c.ReconcileInterval = 2 * time.Second
	}
	if c.IdleLaneTTL == 0 {
		c.IdleLaneTTL = 10 * time.Minute
	}
	if c.UserAgent == "" {
		c.UserAgent = "cpibroker-webhooks/1"
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Rand == nil {
		c.Rand = rand.Float64
	}
	if c.Observer == nil {
		c.Observer = noObserver{}
	}
	telemetry.Defaults(&c.Logger, &c.TracerProvider, &c.Propagator)
}

// Validate reports every impossible setting in one error.
func (c *Config) Validate() error {
	var errs []error
	for i, d := range c.Schedule {
		if d < time.Second {
			errs = append(errs, fmt.Errorf("delivery: schedule entry %d (%s) must be at least 1s", i+1, d))
		}
	}
	if c.Timeout < 100*time.Millisecond {
		errs = append(errs, errors.New("delivery: timeout must be at least 100ms"))
	}
	if c.EndpointConcurrency < 1 || c.EndpointConcurrency > 256 {
		errs = append(errs, errors.New("delivery: endpoint concurrency must be 1..256"))
	}
	if c.Breaker.ConsecutiveFailures < 1 || c.Breaker.HalfOpenProbes < 1 || c.Breaker.OpenFor < time.Second {
		errs = append(errs, errors.New("delivery: breaker needs consecutive failures >= 1, half-open probes >= 1, open for >= 1s"))
	}
	if c.IdleWait < 100*time.Millisecond || c.ReconcileInterval < 10*time.Millisecond {
		errs = append(errs, errors.New("delivery: idle wait must be >= 100ms and reconcile interval >= 10ms"))
	}
	return errors.Join(errs...)
}
