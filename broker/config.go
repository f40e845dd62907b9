package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/cpibroker/cpibroker/auth"
	"github.com/cpibroker/cpibroker/auth/idp"
	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/catalog/discovery"
	"github.com/cpibroker/cpibroker/console"
	"github.com/cpibroker/cpibroker/delivery"
	"github.com/cpibroker/cpibroker/dispatcher"
	"github.com/cpibroker/cpibroker/ingress"
	"github.com/cpibroker/cpibroker/internal/metrics"
	"github.com/cpibroker/cpibroker/internal/natsx"
	"github.com/cpibroker/cpibroker/internal/ssrf"
	"github.com/cpibroker/cpibroker/internal/telemetry"
	"github.com/cpibroker/cpibroker/jobs"
	"github.com/cpibroker/cpibroker/portal"
)

// Fsync modes.
const (
	FsyncInterval = "interval"
	FsyncAlways   = "always"
)

// Config says which roles run and how they reach NATS.
type Config struct {
	// DataDir holds the embedded JetStream store and the signing key.
	// Default ./data.
	DataDir string
	// NATS reaches an external cluster when NATS.URLs is set; otherwise a
	// server is embedded.
	NATS natsx.ConnectConfig
	// NATSListen exposes the embedded server on a TCP address (optional).
	NATSListen string
	// Fsync is interval (default) or always.
	Fsync string
	// Layout sizes streams and buckets.
	Layout natsx.Layout
	// SigningKey is the token signing key file. Default DataDir/signing-key.pem.
	SigningKey string
	// Ingress and Dispatcher enable the roles (serve runs both).
	Ingress, Dispatcher bool
	// DispatchPaused starts the dispatcher paused (Dispatcher.Resume starts
	// pulling): demo mode waits until its provider points at this run's
	// simulator.
	DispatchPaused bool
	// IngressConfig, DispatcherConfig and Jobs tune the components.
	IngressConfig    ingress.Config
	DispatcherConfig dispatcher.Config
	Jobs             jobs.Config
	// Seed, when set, is applied once the catalog is loaded: what is
	// missing is created; existing resources are kept unless SeedOverwrite.
	Seed          *catalog.Seed
	SeedOverwrite bool
	// IdPs are external identity providers whose tokens the ingress accepts.
	IdPs []idp.Config
	// TokenLimiter tunes the token endpoint's brute-force throttling.
	TokenLimiter auth.FailureLimiterConfig
	// Secrets says which ${…} references provider secrets may hold
	// (environment variables with a prefix, files in a directory); it is
	// applied at registration (ingress) and where secrets are used
	// (dispatcher, discovery). Zero allows variables starting with CPIB_.
	Secrets catalog.SecretRefs
	// Callbacks is the SSRF policy of webhooks and Callback-URLs, applied
	// at registration (ingress) and at dial time (dispatcher);
	// Callbacks.AllowPrivate is callbacks.allow_private.
	Callbacks ssrf.Config
	// Delivery tunes webhook delivery (dispatcher role). Its Guard,
	// logger and tracing are set from the fields above.
	Delivery delivery.Config
	// Metrics is where the instruments live and how /metrics serves them;
	// zero builds a Prometheus exposition with its own registry.
	Metrics metrics.Exposition
	// Console and Portal tune the operator console (/console, on the
	// admin listener when there is one) and the partner portal (/portal);
	// NoWeb leaves both out. They run where the ingress role runs.
	Console console.Config
	Portal  portal.Config
	NoWeb   bool
	// BacklogTTL is how often the one backlog count (max_backlog checks
	// and the backlog gauges) lists the JOBS consumers. Default 1s.
	BacklogTTL time.Duration
	// LanesTTL is how long the per-client delivery lane counts of
	// /metrics are cached. Default 10s.
	LanesTTL time.Duration
	// Discovery tunes provider discovery (Tick, MinRediscover, backoff);
	// the broker fills in the catalog, buckets, leases and logger.
	Discovery discovery.Config
	// Logger and Tracing are shared by every component.
	Logger  *slog.Logger
	Tracing telemetry.Tracing
}

func (c *Config) setDefaults() {
	if c.DataDir == "" {
		c.DataDir = "data"
	}
	if c.Fsync == "" {
		c.Fsync = FsyncInterval
	}
	if c.SigningKey == "" {
		c.SigningKey = filepath.Join(c.DataDir, "signing-key.pem")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports every impossible setting in one error.
func (c *Config) Validate() error {
	var errs []error
	if c.Fsync != FsyncInterval && c.Fsync != FsyncAlways {
		errs = append(errs, fmt.Errorf("--fsync must be interval or always, got %q", c.Fsync))
	}
	if !c.Ingress && !c.Dispatcher {
		errs = append(errs, errors.New("no role to run"))
	}
	return errors.Join(errs...)
}
