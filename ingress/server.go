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

	"github.com/cpibroker/cpibroker/auth"
	"github.com/cpibroker/cpibroker/auth/idp"
	"github.com/cpibroker/cpibroker/auth/keyring"
	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/internal/audit"
	"github.com/cpibroker/cpibroker/internal/health"
	"github.com/cpibroker/cpibroker/internal/metrics"
	"github.com/cpibroker/cpibroker/internal/natsx"
	"github.com/cpibroker/cpibroker/internal/ssrf"
	"github.com/cpibroker/cpibroker/internal/telemetry"
	"github.com/cpibroker/cpibroker/jobs"
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
	// Discovery answers provider Test Connection and Discover; nil answers
	// those endpoints 503.
	Discovery Discoverer
	// Health answers /healthz and /readyz; nil checks JetStream only.
	Health *health.Checker
	// Metrics counts accepted jobs; nil counts nothing.
	Metrics *metrics.Metrics
	// Backlog is the broker's one count of queued jobs (max_backlog and
	// /metrics); nil samples on its own.
	Backlog *metrics.BacklogSampler
	// MetricsHandler serves GET /metrics (on the admin listener when there
	// is one); nil serves no /metrics.
	MetricsHandler http.Handler
	// EndpointBreakers lists callback endpoint breakers for the admin
	// breaker API; nil when this process delivers no callbacks.
	EndpointBreakers EndpointBreakers
	// Console mounts the operator console at /console on the admin
	// listener (the only listener without one): given the handler that
	// serves /oauth/token, /admin/v1 and /metrics there, it returns the
	// pages' handler. nil serves no console.
	Console func(api http.Handler) http.Handler
	// Portal mounts the partner portal at /portal on the partner
	// listener, over that listener's handler. nil serves no portal.
	Portal func(api http.Handler) http.Handler
}

// Server is the HTTP API.
type Server struct {
	cfg    Config
	deps   Deps
	engine *gin.Engine
	admin  *gin.Engine // the --admin-listen engine; nil without one
	policy *policyState
	log    *slog.Logger

	draining atomic.Bool
	// drainCtx ends when draining starts; long-polls end with it.
	drainCtx   context.Context
	drainStart context.CancelFunc
	addrMu     sync.Mutex
	addr       net.Addr
	adminAdr   net.Addr
	ready      chan struct{}
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
	if deps.Health == nil {
		deps.Health = health.New(0)
		deps.Health.Add("jetstream", func(ctx context.Context) error {
			_, err := deps.Resources.Records.Status(ctx)
			return err
		})
	}
	s := &Server{cfg: cfg, deps: deps, log: cfg.Logger, ready: make(chan struct{})}
	s.drainCtx, s.drainStart = context.WithCancel(context.Background())
	s.policy = newPolicyState(deps.Resources, deps.Backlog, cfg)
	if err := s.routes(); err != nil {
		return nil, err
	}
	return s, nil
}

// Handler returns the API as an http.Handler (for tests and embedding).
func (s *Server) Handler() http.Handler { return s.engine }

// AdminHandler returns the admin listener's handler (/admin/v1, /metrics,
// health), nil when Config.AdminListen is not set.
func (s *Server) AdminHandler() http.Handler {
	if s.admin == nil {
		return nil
	}
	return s.admin
}

// Ready is closed once Run listens; Addr is then valid.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addr is the listening address.
func (s *Server) Addr() net.Addr {
	s.addrMu.Lock()
	defer s.addrMu.Unlock()
	return s.addr
}

// AdminAddr is the admin listener's address (nil without one).
func (s *Server) AdminAddr() net.Addr {
	s.addrMu.Lock()
	defer s.addrMu.Unlock()
	return s.adminAdr
}

// Drain makes the API answer 503 to new work, /healthz and /readyz 503,
// and ends long-polls with the current state, while in-flight requests end.
func (s *Server) Drain() {
	s.draining.Store(true)
	s.drainStart()
	s.deps.Health.Drain()
}

func (s *Server) routes() error {
	gin.SetMode(gin.ReleaseMode)
	e, err := s.newEngine()
	if err != nil {
		return err
	}
	if err := s.tokenRoutes(e); err != nil {
		return err
	}
	v1 := e.Group("/v1", s.authenticate(), s.endWaitsOnDrain())
	v1.GET("/flows", s.listFlows)
	v1.GET("/openapi.json", s.openAPI)
	v1.POST("/flows/:flow/jobs", s.countAccepted(), s.submit)
	v1.GET("/jobs", s.listOwnJobs)
	v1.GET("/jobs/:id", s.getJob)
	v1.DELETE("/jobs/:id", s.cancelJob)
	v1.GET("/jobs/:id/result", s.getResult)
	v1.GET("/jobs/:id/deliveries", s.getDeliveries)
	v1.GET("/jobs/:id/attempts", s.getAttempts)
	v1.POST("/jobs/:id/deliveries/resend", s.resendDeliveries)
	v1.GET("/webhooks", s.listWebhooks)
	v1.GET("/events", strictQuery(), s.listEvents)
	ops := e
	if s.cfg.AdminListen != "" || s.cfg.AdminListener != nil {
		// /admin and /metrics move to the admin listener; the partner
		// listener keeps only the partner API and the health endpoints.
		if ops, err = s.newEngine(); err != nil {
			return err
		}
		if err := s.tokenRoutes(ops); err != nil {
			return err
		}
		s.admin = ops
	}
	s.adminRoutes(ops.Group("/admin/v1", s.authenticate(), s.requireAdmin(), strictQuery(), s.endWaitsOnDrain()))
	if s.deps.MetricsHandler != nil {
		ops.GET("/metrics", gin.WrapH(s.deps.MetricsHandler))
	}
	if s.deps.Console != nil {
		ops.Any("/console/*path", gin.WrapH(s.deps.Console(ops)))
	}
	if s.deps.Portal != nil {
		e.Any("/portal/*path", gin.WrapH(s.deps.Portal(e)))
	}
	s.engine = e
	return nil
}

// newEngine is a Gin engine with the common middleware, problem+json for
// unknown routes, and the health endpoints.
func (s *Server) newEngine() (*gin.Engine, error) {
	e := gin.New()
	e.ContextWithFallback = true
	e.HandleMethodNotAllowed = true
	if err := e.SetTrustedProxies(s.cfg.TrustedProxies); err != nil {
		return nil, fmt.Errorf("ingress: trusted proxies: %w", err)
	}
	if telemetry.Enabled(s.cfg.TracerProvider) {
		e.Use(s.recoverer(), otelgin.Middleware("cpibroker",
			otelgin.WithTracerProvider(s.cfg.TracerProvider), otelgin.WithPropagators(s.cfg.Propagator),
			otelgin.WithGinFilter(func(c *gin.Context) bool { return !isProbe(c.Request.URL.Path) })))
	} else {
		e.Use(s.recoverer(), s.propagate())
	}
	e.Use(s.accessLog())
	e.NoRoute(func(c *gin.Context) { writeProblem(c, problem(http.StatusNotFound, "not_found", "no such route")) })
	e.NoMethod(func(c *gin.Context) {
		writeProblem(c, problem(http.StatusMethodNotAllowed, "invalid_request", "method not allowed on this route"))
	})
	s.healthRoutes(e)
	return e, nil
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
				s.log.ErrorContext(c.Request.Context(), "ingress: panic", "panic", r, "path", c.Request.URL.Path)
				writeProblem(c, problem(http.StatusInternalServerError, "internal", "internal error"))
			}
		}()
		c.Next()
	}
}
