package ingress

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/internal/audit"
	"github.com/cpibroker/cpibroker/internal/auth"
	"github.com/cpibroker/cpibroker/internal/idp"
	"github.com/cpibroker/cpibroker/internal/jobs"
	"github.com/cpibroker/cpibroker/internal/keyring"
	"github.com/cpibroker/cpibroker/internal/natsx"
	"github.com/cpibroker/cpibroker/internal/ssrf"
	"github.com/cpibroker/cpibroker/internal/telemetry"
	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/contrib/instrumentation/github.com/gin-gonic/gin/otelgin"
	"go.opentelemetry.io/otel/propagation"
)

// Deps are the components the API serves from.
type Deps struct {
	Jobs      *jobs.Store
	Catalog   *catalog.Store
	Resources *natsx.Resources
	Issuer    *auth.Issuer
	Verifier  *auth.Verifier
	// JWKS returns the current public keys document.
	JWKS func() []byte
	// Limiter throttles repeated token failures; nil disables it.
	Limiter *auth.FailureLimiter
	// Audit records security events; nil records nothing.
	Audit *audit.Log
	// Keys is the shared signing key ring, for the admin keys API; nil
	// disables that API.
	Keys *keyring.Ring
	// IdPs are the external identity providers whose tokens are accepted.
	IdPs []*idp.Provider
	// Guard checks webhook URLs, callback prefixes and Callback-URLs at
	// registration (DESIGN 7.2); nil refuses every private address.
	Guard *ssrf.Guard
}

// Server is the HTTP API.
type Server struct {
	cfg    Config
	deps   Deps
	engine *gin.Engine
	queues *queueCache
	log    *slog.Logger

	draining atomic.Bool
	addrMu   sync.Mutex
	addr     net.Addr
	ready    chan struct{}
}

// New builds the API. Nothing listens until Run.
func New(cfg Config, deps Deps) (*Server, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Jobs == nil || deps.Catalog == nil || deps.Resources == nil || deps.Issuer == nil || deps.Verifier == nil || deps.JWKS == nil {
		return nil, errors.New("ingress: missing dependency")
	}
	if deps.Guard == nil {
		g, err := ssrf.New(ssrf.Config{})
		if err != nil {
			return nil, err
		}
		deps.Guard = g
	}
	s := &Server{cfg: cfg, deps: deps, log: cfg.Logger, ready: make(chan struct{})}
	s.queues = newQueueCache(deps.Resources, cfg.QueueCacheTTL, cfg.Now)
	if err := s.routes(); err != nil {
		return nil, err
	}
	return s, nil
}

// Handler returns the API as an http.Handler (for tests and embedding).
func (s *Server) Handler() http.Handler { return s.engine }

// Ready is closed once Run listens; Addr is then valid.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addr is the listening address.
func (s *Server) Addr() net.Addr {
	s.addrMu.Lock()
	defer s.addrMu.Unlock()
	return s.addr
}

// Drain makes the API answer 503 to new work while in-flight requests end.
func (s *Server) Drain() { s.draining.Store(true) }

func (s *Server) routes() error {
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.ContextWithFallback = true
	e.HandleMethodNotAllowed = true
	if err := e.SetTrustedProxies(s.cfg.TrustedProxies); err != nil {
		return fmt.Errorf("ingress: trusted proxies: %w", err)
	}
	if telemetry.Enabled(s.cfg.TracerProvider) {
		e.Use(s.recoverer(), otelgin.Middleware("cpibroker",
			otelgin.WithTracerProvider(s.cfg.TracerProvider), otelgin.WithPropagators(s.cfg.Propagator)))
	} else {
		e.Use(s.recoverer(), s.propagate())
	}
	e.NoRoute(func(c *gin.Context) { writeProblem(c, problem(http.StatusNotFound, "not_found", "no such route")) })
	e.NoMethod(func(c *gin.Context) {
		writeProblem(c, problem(http.StatusMethodNotAllowed, "invalid_request", "method not allowed on this route"))
	})
	e.GET("/healthz", func(c *gin.Context) { c.String(http.StatusOK, "ok\n") })
	e.GET("/readyz", s.readyz)
	if err := s.tokenRoutes(e); err != nil {
		return err
	}
	v1 := e.Group("/v1", s.authenticate())
	v1.GET("/flows", s.listFlows)
	v1.POST("/flows/:flow/jobs", s.submit)
	v1.GET("/jobs/:id", s.getJob)
	v1.DELETE("/jobs/:id", s.cancelJob)
	v1.GET("/jobs/:id/result", s.getResult)
	v1.GET("/events", s.listEvents)
	s.adminRoutes(e.Group("/admin/v1", s.authenticate(), s.requireAdmin()))
	s.engine = e
	return nil
}

// propagate carries an incoming W3C trace context into the request's
// context when tracing is off, so it still travels with the job.
func (s *Server) propagate() gin.HandlerFunc {
	return func(c *gin.Context) {
		if c.Request.Header.Get("traceparent") != "" {
			ctx := s.cfg.Propagator.Extract(c.Request.Context(), propagation.HeaderCarrier(c.Request.Header))
			c.Request = c.Request.WithContext(ctx)
		}
		c.Next()
	}
}

// recoverer turns a panic into a 500 problem instead of a dropped connection.
func (s *Server) recoverer() gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				s.log.Error("ingress: panic", "panic", r, "path", c.Request.URL.Path)
				writeProblem(c, problem(http.StatusInternalServerError, "internal", "internal error"))
			}
		}()
		c.Next()
	}
}

func (s *Server) readyz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c, 2*time.Second)
	defer cancel()
	if s.draining.Load() {
		writeProblem(c, &apiError{Status: http.StatusServiceUnavailable, Code: "unavailable", Detail: "shutting down", RetryAfter: 1})
		return
	}
	if _, err := s.deps.Resources.Jobs.Info(ctx); err != nil {
		writeProblem(c, &apiError{Status: http.StatusServiceUnavailable, Code: "unavailable", Detail: "JetStream unreachable", RetryAfter: 2})
		return
	}
	c.String(http.StatusOK, "ready\n")
}

// Run serves until ctx ends, then stops taking new work and waits for
// in-flight requests (long-polls included) to finish.
func (s *Server) Run(ctx context.Context) error {
	ln := s.cfg.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", s.cfg.Listen); err != nil {
			return fmt.Errorf("ingress: listen %s: %w", s.cfg.Listen, err)
		}
	}
	s.addrMu.Lock()
	s.addr = ln.Addr()
	s.addrMu.Unlock()
	srv := &http.Server{
		Handler:           s.engine,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    s.cfg.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() {
		if s.cfg.TLSCert != "" {
			errc <- srv.ServeTLS(ln, s.cfg.TLSCert, s.cfg.TLSKey)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	close(s.ready)
	select {
	case err := <-errc:
		return fmt.Errorf("ingress: serve: %w", err)
	case <-ctx.Done():
	}
	s.Drain()
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.MaxWait+5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("ingress: shutdown: %w", err)
	}
	return nil
}
