package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/cpibroker/cpibroker/auth"
	"github.com/cpibroker/cpibroker/auth/idp"
	"github.com/cpibroker/cpibroker/auth/keyring"
	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/catalog/discovery"
	"github.com/cpibroker/cpibroker/console"
	"github.com/cpibroker/cpibroker/delivery"
	"github.com/cpibroker/cpibroker/dispatcher"
	"github.com/cpibroker/cpibroker/ingress"
	"github.com/cpibroker/cpibroker/internal/audit"
	"github.com/cpibroker/cpibroker/internal/cpitoken"
	"github.com/cpibroker/cpibroker/internal/health"
	"github.com/cpibroker/cpibroker/internal/metrics"
	"github.com/cpibroker/cpibroker/internal/natsx"
	"github.com/cpibroker/cpibroker/internal/ssrf"
	"github.com/cpibroker/cpibroker/jobs"
	"github.com/cpibroker/cpibroker/portal"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/metric"
	"golang.org/x/sync/errgroup"
)

// Broker is a started system. Its fields are for wiring, tests and the
// benchmark; they are valid after Start returns.
type Broker struct {
	Config Config
	// tokenMemory is what token_auth "auto" found per token URL, shared
	// by the dispatcher, discovery and Test Connection of this process.
	tokenMemory cpitoken.Memory
	Server      *server.Server // nil with an external cluster
	NC          *nats.Conn
	Resources   *natsx.Resources
	Catalog     *catalog.Store
	Jobs        *jobs.Store
	Ingress     *ingress.Server        // nil when the role is off
	Dispatcher  *dispatcher.Dispatcher // nil when the role is off
	Deliverer   *delivery.Deliverer    // nil when the dispatcher role is off
	Discovery   *discovery.Runner      // runs periodically where the dispatcher role runs
	Guard       *ssrf.Guard            // the SSRF policy of callbacks
	Audit       *audit.Log
	Keys        *keyring.Ring // nil when the ingress role is off
	// Console and Portal are the web pages (nil without the ingress role
	// or with NoWeb).
	Console *console.Console
	Portal  *portal.Portal
	// Seeded counts what the --config seed did (zero without one).
	Seeded catalog.SeedResult
	// Health answers /healthz and /readyz for every role.
	Health *health.Checker
	// Metrics are the instruments every role records into;
	// MetricsHandler serves them at /metrics; Backlog caches the queue
	// gauges.
	Metrics        *metrics.Metrics
	MetricsHandler http.Handler
	Backlog        *metrics.BacklogSampler
	// Moved is what the start's upgrade step moved from the previous
	// release's queue subjects (jobs.Store.MoveLegacyJobs).
	Moved jobs.Moved
	// OpsAddr is the admin listener of a process without the ingress role
	// (nil otherwise: the ingress serves its own).
	OpsAddr net.Addr

	stopMetrics func(context.Context) error
	meters      metric.MeterProvider
	dispatching running
	opsLn       net.Listener

	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// Start brings the system up and returns once the catalog is loaded and
// the ingress listens. The system runs until ctx ends or Stop is called.
func Start(ctx context.Context, cfg Config) (*Broker, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	b := &Broker{Config: cfg, done: make(chan struct{})}
	runCtx, cancel := context.WithCancel(ctx)
	b.cancel = cancel
	ok := false
	defer func() {
		if !ok {
			cancel()
			b.close()
		}
	}()
	if err := b.connect(); err != nil {
		return nil, err
	}
	var err error
	if b.Resources, err = natsx.Ensure(ctx, b.Resources.JS, cfg.Layout); err != nil {
		return nil, err
	}
	b.Catalog = catalog.NewStore(b.Resources.Catalog, b.Resources.Clients, cfg.Logger)
	if err := b.newDiscovery(); err != nil {
		return nil, err
	}
	b.Audit = audit.New(b.Resources.JS, cfg.Logger, nil)
	if err := b.setupOps(); err != nil {
		return nil, err
	}
	jc := cfg.Jobs
	if jc.Observer == nil {
		jc.Observer = b.Metrics
	}
	if jc.BlockOnFailure == nil {
		cat := b.Catalog
		jc.BlockOnFailure = func(flow string) bool {
			f, ok := cat.Flow(flow)
			return !ok || f.Policy.OnFailure.Mode() == catalog.OnFailureBlock
		}
	}
	if jc.Logger == nil {
		jc.Logger = cfg.Logger
	}
	if b.Jobs, err = jobs.NewStore(b.Resources, jc); err != nil {
		return nil, err
	}
	// Upgrade step: job messages the previous release queued on subjects
	// without the job ID are moved to today's subjects before anything
	// dispatches.
	if b.Moved, err = b.Jobs.MoveLegacyJobs(ctx); err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	if err := metrics.ObserveSequences(b.meters, b.Jobs.BlockedSequences, b.Config.BacklogTTL); err != nil {
		return nil, err
	}
	if b.Guard, err = ssrf.New(cfg.Callbacks); err != nil {
		return nil, err
	}
	if cfg.Ingress {
		if err := b.newIngress(runCtx); err != nil {
			return nil, err
		}
	}
	if cfg.Dispatcher {
		dc := cfg.DispatcherConfig
		if dc.Secrets.EnvPrefix == "" && dc.Secrets.Dir == "" {
			dc.Secrets = cfg.Secrets
		}
		dc.Logger, dc.TracerProvider, dc.Propagator = cfg.Logger, cfg.Tracing.Provider, cfg.Tracing.Propagator
		dc.Observer = b.Metrics
		dc.Rediscoverer = b.Discovery
		dc.TokenMemory = &b.tokenMemory
		if b.Dispatcher, err = dispatcher.New(dc, b.NC, b.Resources, b.Jobs, b.Catalog); err != nil {
			return nil, err
		}
		if err := metrics.ObserveDispatch(b.meters, b.Dispatcher); err != nil {
			return nil, err
		}
		if cfg.DispatchPaused {
			b.Dispatcher.Pause()
		}
		vc := cfg.Delivery
		vc.Guard, vc.Logger, vc.TracerProvider, vc.Propagator = b.Guard, cfg.Logger, cfg.Tracing.Provider, cfg.Tracing.Propagator
		vc.Observer = b.Metrics
		b.Health.Add("dispatcher", b.dispatching.check("the dispatcher"))
		if cfg.IngressConfig.AdminListen != "" && !cfg.Ingress {
			if b.opsLn, err = net.Listen("tcp", cfg.IngressConfig.AdminListen); err != nil {
				return nil, fmt.Errorf("broker: admin listener: %w", err)
			}
			b.OpsAddr = b.opsLn.Addr()
		}
		if b.Deliverer, err = delivery.New(vc, b.Resources, b.Catalog); err != nil {
			return nil, err
		}
	}
	g, gctx := errgroup.WithContext(runCtx)
	g.Go(func() error { return b.Catalog.Run(gctx) })
	g.Go(func() error { return b.Audit.Run(gctx) })
	if b.Keys != nil {
		g.Go(func() error { return b.Keys.Run(gctx) })
	}
	select {
	case <-b.Catalog.Ready():
	case <-ctx.Done():
		cancel()
		_ = g.Wait()
		return nil, ctx.Err()
	}
	if cfg.Seed != nil {
		if err := b.seed(ctx); err != nil {
			cancel()
			_ = g.Wait()
			return nil, err
		}
	}
	if b.Ingress != nil {
		g.Go(func() error { return b.Ingress.Run(gctx) })
	}
	if b.Console != nil {
		g.Go(func() error { return b.Console.Run(gctx) })
	}
	if b.Dispatcher != nil {
		g.Go(func() error { return b.dispatching.track(func() error { return b.Dispatcher.Run(gctx) }) })
		g.Go(func() error { return b.Discovery.Run(gctx) })
	}
	if b.opsLn != nil {
		g.Go(func() error { return b.runOps(gctx, b.opsLn) })
	}
	g.Go(func() error {
		// Shutdown starts: every probe answers 503 at once.
		<-gctx.Done()
		b.Health.Drain()
		return nil
	})
	if b.Deliverer != nil {
		g.Go(func() error { return b.Deliverer.Run(gctx) })
	}
	go func() {
		b.err = g.Wait()
		b.close()
		close(b.done)
	}()
	if b.Ingress != nil {
		select {
		case <-b.Ingress.Ready():
		case <-b.done:
			return nil, fmt.Errorf("broker: %w", b.err)
		}
	}
	ok = true
	return b, nil
}

func (b *Broker) connect() error {
	cfg := b.Config
	cc := cfg.NATS
	cc.Logger = cfg.Logger
	if cc.Name == "" {
		cc.Name = "cpibroker"
	}
	if cc.URLs == "" {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return fmt.Errorf("broker: data dir: %w", err)
		}
		srv, err := natsx.StartEmbedded(natsx.EmbeddedConfig{
			StoreDir: cfg.DataDir, SyncAlways: cfg.Fsync == FsyncAlways,
			Listen: cfg.NATSListen, Logger: cfg.Logger,
		})
		if err != nil {
			return err
		}
		b.Server = srv
		cc.Server = srv
	}
	nc, js, err := natsx.Connect(cc)
	if err != nil {
		return err
	}
	b.NC = nc
	b.Resources = &natsx.Resources{JS: js}
	return nil
}

func (b *Broker) newIngress(ctx context.Context) error {
	cfg := b.Config
	ic := cfg.IngressConfig
	ic.Logger, ic.TracerProvider, ic.Propagator = cfg.Logger, cfg.Tracing.Provider, cfg.Tracing.Propagator
	if ic.Secrets.EnvPrefix == "" && ic.Secrets.Dir == "" {
		ic.Secrets = cfg.Secrets
	}
	if ic.DataRetention == 0 {
		ic.DataRetention = cfg.Layout.Retention // 0 keeps the layout's default
	}
	if ic.Listen == "" {
		ic.Listen = "127.0.0.1:8080"
	}
	if _, port, err := net.SplitHostPort(ic.Listen); err == nil && port == "0" && ic.PublicURL == "" && ic.Listener == nil {
		// A random port: listen now, so the token issuer names the real one.
		ln, err := net.Listen("tcp", ic.Listen)
		if err != nil {
			return fmt.Errorf("broker: listen %s: %w", ic.Listen, err)
		}
		ic.Listener, ic.Listen = ln, ln.Addr().String()
		defer func() {
			if b.Ingress == nil {
				_ = ln.Close()
			}
		}()
	}
	if ic.PublicURL == "" {
		ic.PublicURL = "http://" + ic.Listen
	}
	ring, err := keyring.New(keyring.Config{
		KV: b.Resources.Catalog, SigningKeyPath: cfg.SigningKey,
		Retain: auth.DefaultTokenTTL + auth.DefaultLeeway, Now: ic.Now, Logger: cfg.Logger,
	})
	if err != nil {
		return err
	}
	if err := ring.Load(ctx); err != nil {
		return fmt.Errorf("broker: signing key: %w", err)
	}
	b.Keys = ring
	issuer, err := auth.NewIssuer(auth.IssuerConfig{Issuer: ic.PublicURL, Signer: ring.SigningKey, Now: ic.Now})
	if err != nil {
		return err
	}
	verifier, err := auth.NewVerifier(auth.VerifierConfig{Issuer: ic.PublicURL, Keys: ring, Now: ic.Now})
	if err != nil {
		return err
	}
	limiter, err := auth.NewFailureLimiter(cfg.TokenLimiter)
	if err != nil {
		return err
	}
	var idps []*idp.Provider
	for _, c := range cfg.IdPs {
		if c.Logger == nil {
			c.Logger = cfg.Logger
		}
		p, err := idp.New(ctx, c)
		if err != nil {
			return fmt.Errorf("broker: %w", err)
		}
		idps = append(idps, p)
	}
	var mountConsole, mountPortal func(http.Handler) http.Handler
	if !cfg.NoWeb {
		cc, pc := cfg.Console, cfg.Portal
		if cc.Logger == nil {
			cc.Logger = cfg.Logger
		}
		if pc.Logger == nil {
			pc.Logger = cfg.Logger
		}
		if pc.PublicURL == "" {
			pc.PublicURL = ic.PublicURL
		}
		if b.Console, err = console.New(cc); err != nil {
			return err
		}
		if b.Portal, err = portal.New(pc); err != nil {
			return err
		}
		mountConsole, mountPortal = b.Console.Handler, b.Portal.Handler
	}
	srv, err := ingress.New(ic, ingress.Deps{
		Jobs: b.Jobs, Catalog: b.Catalog, Resources: b.Resources,
		Issuer: issuer, Verifier: verifier, JWKS: ring.JWKS, Limiter: limiter,
		Audit: b.Audit, Keys: ring, IdPs: idps, Guard: b.Guard, Discovery: b.Discovery,
		Health: b.Health, Metrics: b.Metrics, Backlog: b.Backlog, MetricsHandler: b.MetricsHandler,
		EndpointBreakers: b.endpointBreakers(),
		Console:          mountConsole, Portal: mountPortal,
	})
	if err != nil {
		return err
	}
	b.Ingress = srv
	return nil
}

// seed applies the --config seed and audits what it did.
func (b *Broker) seed(ctx context.Context) error {
	// Validated as the admin API validates (defaults, fields, secret
	// references, SSRF) before anything is written.
	if err := b.Config.Seed.Check(ctx, b.Guard, b.Config.Secrets); err != nil {
		return fmt.Errorf("broker: --config: %w", err)
	}
	res, err := b.Catalog.ApplySeed(ctx, b.Config.Seed, b.Config.SeedOverwrite)
	if err != nil {
		return fmt.Errorf("broker: --config: %w", err)
	}
	b.Seeded = res
	b.Config.Logger.Info("config seed applied", "created", res.Created, "overwritten", res.Overwritten, "kept", res.Kept)
	b.Audit.Record(audit.Event{
		Actor: "", Action: audit.ActionSeedApplied, Outcome: audit.OutcomeSuccess,
		Detail: fmt.Sprintf("created=%d overwritten=%d kept=%d", res.Created, res.Overwritten, res.Kept),
	})
	return nil
}

// BaseURL is the ingress's reachable URL (its actual listening address).
func (b *Broker) BaseURL() string {
	if b.Ingress == nil {
		return ""
	}
	scheme := "http"
	if b.Config.IngressConfig.TLSCert != "" {
		scheme = "https"
	}
	return scheme + "://" + b.Ingress.Addr().String()
}

// AdminURL is the admin listener's URL ("" without one).
func (b *Broker) AdminURL() string {
	addr := b.OpsAddr
	if b.Ingress != nil {
		addr = b.Ingress.AdminAddr()
	}
	if addr == nil {
		return ""
	}
	scheme := "http"
	if b.Config.IngressConfig.TLSCert != "" && b.Ingress != nil {
		scheme = "https"
	}
	return scheme + "://" + addr.String()
}

// ConsoleURL is where the operator console is served ("" without it): on
// the admin listener when there is one, else on the partner listener.
func (b *Broker) ConsoleURL() string {
	if b.Console == nil {
		return ""
	}
	if u := b.AdminURL(); u != "" {
		return u + "/console/"
	}
	return b.BaseURL() + "/console/"
}

// PortalURL is where the partner portal is served ("" without it).
func (b *Broker) PortalURL() string {
	if b.Portal == nil {
		return ""
	}
	return b.BaseURL() + "/portal/"
}

// Done is closed when the system has stopped.
func (b *Broker) Done() <-chan struct{} { return b.done }

// Wait blocks until the system stops and returns why.
func (b *Broker) Wait() error {
	<-b.done
	if errors.Is(b.err, context.Canceled) {
		return nil
	}
	return b.err
}

// Stop ends the system and waits for it.
func (b *Broker) Stop() error {
	if b.cancel != nil {
		b.cancel()
	}
	return b.Wait()
}

func (b *Broker) close() {
	if b.opsLn != nil {
		_ = b.opsLn.Close()
	}
	if b.stopMetrics != nil {
		_ = b.stopMetrics(context.Background())
	}
	if b.NC != nil {
		// Flush first: acknowledgements and hand-backs (NAKs) of the last
		// jobs must reach the server before it (embedded) or we go away,
		// or JetStream would hold those jobs until AckWait.
		_ = b.NC.FlushTimeout(2 * time.Second)
		closed := make(chan struct{})
		b.NC.SetClosedHandler(func(*nats.Conn) { close(closed) })
		if b.NC.Drain() == nil {
			// Wait for the drain: it also withdraws this process's open
			// pull requests, so released jobs go to other dispatchers.
			select {
			case <-closed:
			case <-time.After(5 * time.Second):
			}
		}
	}
	if b.Server != nil {
		b.Server.Shutdown()
		b.Server.WaitForShutdown()
	}
}

// endpointBreakers lists the callback endpoint breakers of this process's
// deliverer for the admin API; nil when the process delivers no callbacks.
// The ingress is built before the deliverer, so the list is read at call
// time.
func (b *Broker) endpointBreakers() ingress.EndpointBreakers {
	if !b.Config.Dispatcher {
		return nil
	}
	return func() []ingress.EndpointBreaker {
		if b.Deliverer == nil {
			return nil
		}
		var out []ingress.EndpointBreaker
		for _, e := range b.Deliverer.Breakers() {
			out = append(out, ingress.EndpointBreaker{Client: e.Client, Lane: e.Lane, State: e.State})
		}
		return out
	}
}
