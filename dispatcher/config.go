package dispatcher

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/internal/cpitoken"
	"github.com/cpibroker/cpibroker/internal/telemetry"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Rediscoverer rediscovers a provider's flows (catalog/discovery).
type Rediscoverer interface {
	Rediscover(ctx context.Context, providerID string) error
}

// Config tunes a Dispatcher. Zero values take the documented defaults.
type Config struct {
	// Secrets resolves the ${…} references of provider secrets; zero
	// allows environment variables starting with CPIB_ only.
	Secrets catalog.SecretRefs
	// Concurrency is the number of CPI calls in flight in this process.
	// Default 256.
	Concurrency int
	// BatchSize is the most jobs pulled from one consumer at once. Kept
	// at most the free dispatch slots, and every pulled job starts at once
	// on its own goroutine, so none waits long enough to outrun AckWait.
	// Default 64.
	BatchSize int
	// IdleWait is how long a pull on an empty consumer waits for a job.
	// Default 5s.
	IdleWait time.Duration
	// ReconcileInterval is how often consumers are listed to find new ones
	// and queue subjects that lost theirs. Default 2s.
	ReconcileInterval time.Duration
	// IdleConsumerTTL: a consumer with nothing pending for this long is
	// deleted. Default 10m.
	IdleConsumerTTL time.Duration
	// Grace is how long in-flight jobs may finish after Run's ctx ends.
	// Default 25s.
	Grace time.Duration
	// HTTPClient is the base client for CPI calls; its transport is wrapped
	// with otelhttp. Default: a tuned client.
	HTTPClient *http.Client
	// SweepInterval is how often the expiry sweeper (one dispatcher at a
	// time, by KV lease) looks for queued jobs past their expires_at that
	// are not being pulled. Default 30s.
	SweepInterval time.Duration
	// SequenceRepairGrace is how long the head of an ordered sequence may
	// stay unqueued after its cursor named it (its writer died in between)
	// before the repair pass queues it. Default 30s.
	SequenceRepairGrace time.Duration
	// SweepBatch bounds the messages one sweep step reads. Default 10000.
	SweepBatch int
	// RunningAfter is how long a CPI call lasts before its job's record is
	// written as running (status running, attempts counted, DELETE
	// refused). A shorter call writes its start together with its outcome:
	// one record write per attempt. Default a tenth of the JOBS
	// consumers' AckWait (3s with the default 30s), so the job shows
	// running well before the first in-progress signal.
	RunningAfter time.Duration
	// QuotaHoldTTL is how long budget leased from cpib-quota stays held
	// without renewal; the budget of a dispatcher that died comes back after
	// it. Default 10s.
	QuotaHoldTTL time.Duration
	// ProviderAuthRetry is how long a job waits (waiting.reason
	// provider_auth, no attempt consumed) before it tries again after CPI
	// refused the provider's credentials. Default 15s.
	ProviderAuthRetry time.Duration
	// TokenMemory keeps what token_auth "auto" found per token URL; share
	// one with discovery in the same process. Default: the dispatcher's own.
	TokenMemory *cpitoken.Memory
	// Now is the clock of quotas, expiry and backoff; Rand draws backoff
	// jitter. Both injectable for tests.
	Now  func() time.Time
	Rand func() float64
	// Observer receives measurements (CPI calls, terminal runs); default none.
	Observer Observer
	// Rediscoverer, when set, is asked to rediscover a flow's provider
	// when the iFlow answers 404, before the job fails.
	Rediscoverer Rediscoverer
	// Logger, TracerProvider and Propagator; defaults discard.
	Logger         *slog.Logger
	TracerProvider trace.TracerProvider
	Propagator     propagation.TextMapPropagator
}

func (c *Config) setDefaults() {
	if c.Concurrency == 0 {
		c.Concurrency = 256
	}
	if c.BatchSize == 0 {
		c.BatchSize = 64
	}
	if c.IdleWait == 0 {
		c.IdleWait = 5 * time.Second
	}
	if c.ReconcileInterval == 0 {
		c.ReconcileInterval = 2 * time.Second
	}
	if c.IdleConsumerTTL == 0 {
		c.IdleConsumerTTL = 10 * time.Minute
	}
	if c.SweepInterval == 0 {
		c.SweepInterval = 30 * time.Second
	}
	if c.SequenceRepairGrace == 0 {
		c.SequenceRepairGrace = 30 * time.Second
	}
	if c.SweepBatch == 0 {
		c.SweepBatch = 10_000
	}
	if c.QuotaHoldTTL == 0 {
		c.QuotaHoldTTL = 10 * time.Second
	}
	if c.Grace == 0 {
		c.Grace = 25 * time.Second
	}
	if c.TokenMemory == nil {
		c.TokenMemory = &cpitoken.Memory{}
	}
	if c.ProviderAuthRetry == 0 {
		c.ProviderAuthRetry = 15 * time.Second
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			MaxIdleConns:        1024,
			MaxIdleConnsPerHost: 512,
			IdleConnTimeout:     90 * time.Second,
			TLSHandshakeTimeout: 10 * time.Second,
			ForceAttemptHTTP2:   true,
		}}
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

// Validate reports impossible settings.
func (c *Config) Validate() error {
	var errs []error
	if err := c.Secrets.Validate(); err != nil {
		errs = append(errs, errors.New("dispatcher: "+err.Error()))
	}
	if c.Concurrency < 1 {
		errs = append(errs, errors.New("dispatcher: concurrency must be >= 1"))
	}
	if c.BatchSize < 1 || c.BatchSize > 256 {
		errs = append(errs, errors.New("dispatcher: batch size must be 1..256"))
	}
	if c.QuotaHoldTTL < time.Second {
		errs = append(errs, errors.New("dispatcher: quota hold TTL must be >= 1s"))
	}
	if c.IdleWait < 100*time.Millisecond {
		errs = append(errs, errors.New("dispatcher: idle wait must be >= 100ms"))
	}
	if c.ProviderAuthRetry < time.Second {
		errs = append(errs, errors.New("dispatcher: provider auth retry must be >= 1s"))
	}
	return errors.Join(errs...)
}
