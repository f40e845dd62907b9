package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/internal/cpitoken"
	"github.com/cpibroker/cpibroker/internal/lease"
	"github.com/nats-io/nats.go/jetstream"
)

// DefaultRequestsPerSecond is the default pace of OData API reads.
const DefaultRequestsPerSecond = 2

// Config configures a Runner.
type Config struct {
	// Store is the catalog.
	Store *catalog.Store
	// KV is the cpib-catalog bucket, where discovery outcomes are kept.
	KV jetstream.KeyValue
	// Leases takes the per-provider discovery lease.
	Leases *lease.Manager
	// HTTP is the base client for token and API calls. Default: a client
	// with a 30s timeout.
	HTTP *http.Client
	// Secrets resolves ${NAME} and ${file:NAME} secret references; zero
	// allows environment variables starting with CPIB_ only.
	Secrets catalog.SecretRefs
	// Lookup, when set, reads the environment for Secrets (tests).
	Lookup func(string) (string, bool)
	// Tick is how often the runner checks which providers are due.
	// Default 2s.
	Tick time.Duration
	// MinRediscover is the shortest time between two rediscoveries
	// triggered by a 404 from a flow. Default 10s.
	MinRediscover time.Duration
	// BackoffBase and BackoffCap bound the backoff of API calls answered
	// 429 or 5xx. Defaults 500ms and 30s.
	BackoffBase, BackoffCap time.Duration
	// RequestsPerSecond paces a provider's OData API reads. SAP limits
	// Cloud Integration's APIs per tenant and per user (design-time
	// artifacts 10/s per user, runtime artifacts 50/s); the default is well
	// under both. Each 429 halves the pace for the rest of that discovery.
	// Default 2.
	RequestsPerSecond float64
	// TokenMemory keeps what token_auth "auto" found per token URL; share
	// one with the dispatcher of the same process. Default: the Runner's own.
	TokenMemory *cpitoken.Memory
	// Sleep waits between API retries; tests inject one. Default: a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now is the clock of due dates and outcomes. Default time.Now.
	Now func() time.Time
	// Log receives discovery outcomes. Default: discard.
	Log *slog.Logger
}

func (c *Config) setDefaults() {
	if c.HTTP == nil {
		c.HTTP = &http.Client{Timeout: 30 * time.Second}
	}
	if c.Lookup != nil {
		c.Secrets.LookupEnv = c.Lookup
	}
	if c.Tick == 0 {
		c.Tick = 2 * time.Second
	}
	if c.MinRediscover == 0 {
		c.MinRediscover = 10 * time.Second
	}
	if c.BackoffBase == 0 {
		c.BackoffBase = 500 * time.Millisecond
	}
	if c.BackoffCap == 0 {
		c.BackoffCap = 30 * time.Second
	}
	if c.RequestsPerSecond == 0 {
		c.RequestsPerSecond = DefaultRequestsPerSecond
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.TokenMemory == nil {
		c.TokenMemory = &cpitoken.Memory{}
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
}

// Validate reports a Runner that cannot work.
func (c *Config) Validate() error {
	switch {
	case c.Store == nil || c.KV == nil || c.Leases == nil:
		return errors.New("discovery: Store, KV and Leases are required")
	case c.Tick <= 0 || c.MinRediscover < 0:
		return errors.New("discovery: Tick must be > 0 and MinRediscover >= 0")
	case c.BackoffBase <= 0 || c.BackoffCap < c.BackoffBase:
		return errors.New("discovery: BackoffBase must be > 0 and <= BackoffCap")
	case c.RequestsPerSecond <= 0 || c.RequestsPerSecond > 1000:
		return fmt.Errorf("discovery: RequestsPerSecond %g must be > 0 and <= 1000", c.RequestsPerSecond)
	}
	return nil
}
