package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/cpibroker/cpibroker/broker"
	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/devkit/cpisim"
	"github.com/cpibroker/cpibroker/devkit/demo"
	"github.com/cpibroker/cpibroker/internal/datadir"
	"github.com/cpibroker/cpibroker/internal/natsx"
	"github.com/cpibroker/cpibroker/internal/telemetry"
)

type role int

const (
	roleAll role = iota
	roleIngress
	roleDispatcher
)

// serveFlags are the common flags of serve, ingress and dispatcher.
type serveFlags struct {
	listen, adminListen, dataDir, natsURL, fsync, publicURL string
	tlsCert, tlsKey, logLevel, natsListen, signingKey       string
	natsUser, natsPassword, natsCreds, natsNKey, natsCA     string
	natsCert, natsKey                                       string
	replicas, concurrency, inlineMax                        int
	maxPayload                                              int64
	ackWait, shutdownGrace, drainDelay                      time.Duration
	trustedProxies                                          string
	traceURLTemplate                                        string
	noWeb                                                   bool
	demo                                                    bool
	discoveryRPS                                            float64
	providerAuthRetry                                       time.Duration
	accessLog                                               bool
	config                                                  string
	configOverwrite                                         bool
	secretEnvPrefix, secretsDir                             string
	idps                                                    idpFlags
	webhooks                                                webhookFlags
}

// register adds the flags of role r: the common ones, the ingress's
// (serve, ingress), the dispatcher's (serve, dispatcher) and serve's own.
// A flag of another role is refused, not silently ignored.
func (f *serveFlags) register(fs *flag.FlagSet, r role) {
	if r != roleDispatcher {
		f.registerIngress(fs)
	}
	if r != roleIngress {
		f.registerDispatcher(fs)
	}
	fs.StringVar(&f.adminListen, "admin-listen", "", "separate listener for /admin, /metrics and health (optional; then the partner listener serves neither /admin nor /metrics)")
	fs.DurationVar(&f.shutdownGrace, "shutdown-grace", 30*time.Second, "on SIGTERM, how long in-flight requests and jobs may finish; unfinished jobs are handed back to JetStream")
	fs.StringVar(&f.dataDir, "data-dir", "./data", "data directory (embedded JetStream store, signing key, demo credentials)")
	fs.StringVar(&f.natsURL, "nats-url", "", "comma-separated NATS URLs of an external cluster (default: embedded server)")
	fs.StringVar(&f.natsUser, "nats-user", "", "NATS user")
	fs.StringVar(&f.natsPassword, "nats-password", "", "NATS password")
	fs.StringVar(&f.natsCreds, "nats-creds", "", "NATS credentials file")
	fs.StringVar(&f.natsNKey, "nats-nkey", "", "NATS NKey seed file")
	fs.StringVar(&f.natsCA, "nats-ca", "", "CA file for NATS TLS")
	fs.StringVar(&f.natsCert, "nats-cert", "", "client certificate for NATS TLS")
	fs.StringVar(&f.natsKey, "nats-key", "", "client key for NATS TLS")
	fs.IntVar(&f.replicas, "replicas", 1, "stream and bucket replicas (3 on a cluster)")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.IntVar(&f.inlineMax, "inline-max", 256<<10, "payloads and results above this many bytes go to the object store")
	fs.DurationVar(&f.ackWait, "ack-wait", 30*time.Second, "redelivery delay of a job whose dispatcher died")
	fs.StringVar(&f.config, "config", "", "YAML seed of providers, flows and clients; creates what is missing (secrets as ${ENV} or plain text, stored hashed)")
	fs.BoolVar(&f.configOverwrite, "config-overwrite", false, "let --config replace existing providers, flows and clients")
	fs.StringVar(&f.secretEnvPrefix, "secret-env-prefix", catalog.DefaultSecretEnvPrefix, "provider secrets may reference ${NAME} environment variables with this prefix only")
	fs.StringVar(&f.secretsDir, "secrets-dir", "", "directory of files provider secrets may reference as ${file:NAME} (default: none allowed)")
	f.webhooks.register(fs)
	if r != roleDispatcher {
		fs.StringVar(&f.traceURLTemplate, "trace-url-template", "", "link jobs in the console to their trace: a URL with {trace_id} (Jaeger: http://jaeger:16686/trace/{trace_id})")
		fs.BoolVar(&f.noWeb, "no-web", false, "serve neither the operator console (/console) nor the partner portal (/portal)")
	}
	if r == roleAll {
		fs.StringVar(&f.natsListen, "nats-listen", "", "also expose the embedded NATS server on this address (e.g. 127.0.0.1:4222)")
		fs.StringVar(&f.fsync, "fsync", "interval", "embedded JetStream durability: interval (survives a killed process) or always (survives power loss)")
		fs.BoolVar(&f.demo, "demo", false, "also run a simulated CPI tenant with demo flows and credentials")
	}
}

func runServe(ctx context.Context, args []string, r role) error {
	name := map[role]string{roleAll: "serve", roleIngress: "ingress", roleDispatcher: "dispatcher"}[r]
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	var f serveFlags
	f.register(fs, r)
	// A wrong flag is one line naming it, not the whole flag list before
	// it; -h prints the list to stdout.
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Printf("Usage: cpibroker %s [flags]\n\nFlags:\n", name)
			fs.SetOutput(os.Stdout)
			fs.PrintDefaults()
			return err
		}
		return flagError{fmt.Errorf("%s: %w (cpibroker %s -h lists the flags)", name, err, name)}
	}
	if r != roleAll && f.natsURL == "" {
		return flagError{errors.New(name + " needs --nats-url (only serve embeds a NATS server)")}
	}
	if err := f.validateListeners(r); err != nil {
		return flagError{err}
	}
	level, err := telemetry.ParseLevel(f.logLevel)
	if err != nil {
		return err
	}
	if r == roleAll {
		// Before anything reads or writes the data dir: a second serve on
		// the dir of a running one must not open its JetStream store or
		// rewrite its demo files.
		lock, err := datadir.Acquire(f.dataDir)
		if err != nil {
			return err
		}
		defer func() { _ = lock.Release() }()
	}
	log := telemetry.NewLogger(os.Stderr, level)
	tracing, err := telemetry.SetupTracing(ctx, "cpibroker")
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = tracing.Shutdown(sctx)
	}()
	cfg := broker.Config{
		DataDir: f.dataDir, NATSListen: f.natsListen, Fsync: f.fsync, SigningKey: f.signingKey,
		NATS: natsx.ConnectConfig{
			URLs: f.natsURL, User: f.natsUser, Password: f.natsPassword, CredsFile: f.natsCreds,
			NKeyFile: f.natsNKey, CAFile: f.natsCA, CertFile: f.natsCert, KeyFile: f.natsKey,
		},
		Layout:     natsx.Layout{Replicas: f.replicas, AckWait: f.ackWait},
		Ingress:    r != roleDispatcher,
		Dispatcher: r != roleIngress,
		Logger:     log,
		Tracing:    tracing,
		// The demo provider still names the last run's simulator until
		// demo.Setup updates it: jobs queued across a restart must not be
		// sent there (their calls would fail and open the flows' breakers).
		DispatchPaused: f.demo && r != roleIngress,
	}
	cfg.IdPs = f.idps
	cfg.Secrets = catalog.SecretRefs{EnvPrefix: f.secretEnvPrefix, Dir: f.secretsDir}
	if err := cfg.Secrets.Validate(); err != nil {
		return fmt.Errorf("--secret-env-prefix: %w", err)
	}
	if f.config != "" {
		if cfg.Seed, err = catalog.LoadSeed(f.config); err != nil {
			return err
		}
		cfg.SeedOverwrite = f.configOverwrite
	}
	cfg.IngressConfig.Listen, cfg.IngressConfig.PublicURL = f.listen, f.publicURL
	cfg.IngressConfig.TLSCert, cfg.IngressConfig.TLSKey = f.tlsCert, f.tlsKey
	cfg.IngressConfig.AdminListen = f.adminListen
	cfg.IngressConfig.AccessLog = f.accessLog
	cfg.IngressConfig.TrustedProxies = splitList(f.trustedProxies)
	cfg.IngressConfig.DrainDelay, cfg.IngressConfig.ShutdownGrace = f.drainDelay, f.shutdownGrace
	cfg.DispatcherConfig.Grace = f.shutdownGrace
	cfg.IngressConfig.MaxPayload = f.maxPayload
	cfg.Jobs.InlineMax = f.inlineMax
	cfg.Console.TraceURLTemplate, cfg.NoWeb = f.traceURLTemplate, f.noWeb
	cfg.DispatcherConfig.Concurrency = f.concurrency
	cfg.DispatcherConfig.ProviderAuthRetry = f.providerAuthRetry
	cfg.Discovery.RequestsPerSecond = f.discoveryRPS
	f.webhooks.apply(&cfg, f.demo)

	var (
		sim    *cpisim.Sim
		simCfg cpisim.Config
	)
	if f.demo {
		if sim, simCfg, err = demo.SimIn(log, f.dataDir); err != nil {
			return fmt.Errorf("demo simulator: %w", err)
		}
		defer func() { _ = sim.Close() }()
	}
	b, err := broker.Start(ctx, cfg)
	if err != nil {
		return err
	}
	log.Info("cpibroker started", "role", name, "listen", b.BaseURL(), "admin", b.AdminURL(), "data_dir", f.dataDir,
		"console", b.ConsoleURL(), "portal", b.PortalURL())
	if f.demo {
		creds, err := demo.Setup(ctx, b.Catalog, b.Discovery, sim, simCfg, b.BaseURL(), f.dataDir)
		if err != nil {
			_ = b.Stop()
			return fmt.Errorf("demo setup: %w", err)
		}
		if b.Dispatcher != nil {
			b.Dispatcher.Resume()
		}
		printDemo(creds, sim, f.dataDir, b.ConsoleURL(), b.PortalURL())
	}
	began := make(chan time.Time, 1)
	go func() {
		select {
		case <-ctx.Done():
			began <- time.Now()
			log.Info("shutting down", "role", name, "drain_delay", f.drainDelay.String(), "grace", f.shutdownGrace.String())
		case <-b.Done():
		}
	}()
	err = b.Wait()
	took := ""
	select {
	case t := <-began:
		took = time.Since(t).Round(time.Millisecond).String()
	default:
	}
	if err != nil {
		log.Error("stopped", "role", name, "took", took, "err", err)
		return err
	}
	log.Info("stopped", "role", name, "took", took)
	return nil
}

// validateListeners checks the listen addresses before anything starts, so
// a mistyped one is named as such (not as an issuer built from it).
func (f *serveFlags) validateListeners(r role) error {
	var errs []error
	if r != roleDispatcher {
		if err := checkListenAddr(f.listen); err != nil {
			errs = append(errs, fmt.Errorf("--listen %q: %w", f.listen, err))
		}
	}
	if f.adminListen != "" {
		if err := checkListenAddr(f.adminListen); err != nil {
			errs = append(errs, fmt.Errorf("--admin-listen %q: %w", f.adminListen, err))
		}
	}
	if f.natsListen != "" {
		if err := checkListenAddr(f.natsListen); err != nil {
			errs = append(errs, fmt.Errorf("--nats-listen %q: %w", f.natsListen, err))
		}
	}
	return errors.Join(errs...)
}

// checkListenAddr accepts host:port (host may be empty) with a port 0-65535.
func checkListenAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return errors.New("not a listen address; use host:port, e.g. 127.0.0.1:8080 or :8080")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return errors.New("the port must be a number from 0 to 65535")
	}
	return nil
}

func printDemo(c demo.Credentials, sim *cpisim.Sim, dataDir, consoleURL, portalURL string) {
	if consoleURL == "" {
		consoleURL = "(off)"
	}
	if portalURL == "" {
		portalURL = "(off)"
	}
	fmt.Printf(`
cpibroker demo is running.

  partner API       %[1]s
  operator console  %[9]s  (sign in as the admin below)
  partner portal    %[10]s  (sign in as the partner below)
  simulated CPI     %[2]s  (admin: %[2]s/sim/v1/iflows)
  credentials file  %[3]s/demo-credentials.json

  partner  client_id=%[4]s client_secret=%[5]s
           webhook_secret=%[6]s
  admin    client_id=%[7]s client_secret=%[8]s

Try it:

  TOKEN=$(curl -s -u '%[4]s:%[5]s' -d grant_type=client_credentials %[1]s/oauth/token |
          sed -E 's/.*"access_token":"([^"]+)".*/\1/')
  JOB=$(curl -si -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
       -d '{"order":42}' %[1]s/v1/flows/demo-slow/jobs | sed -n 's/^Location: \(.*\)\r$/\1/p')
  curl -s -H "Authorization: Bearer $TOKEN" "%[1]s$JOB?wait=10s"    # held ~0.5 s, until the job ends
  curl -si -H "Authorization: Bearer $TOKEN" "%[1]s$JOB/result"

The walkthrough in README.md goes on from here with the same tools (curl and sed).

Flows: demo-echo (echo), demo-slow (500 ms), demo-flaky (503 half the time, retried).
Stop with Ctrl-C; state and credentials survive a restart with the same --data-dir.
`, c.BaseURL, sim.URL(), dataDir, c.Partner.ClientID, c.Partner.ClientSecret, c.Partner.WebhookSecret,
		c.Admin.ClientID, c.Admin.ClientSecret, consoleURL, portalURL)
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
