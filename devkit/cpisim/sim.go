package cpisim

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Sim is a simulated CPI tenant. Create it with [New].
type Sim struct {
	cfg      Config
	log      *slog.Logger
	handler  http.Handler
	tokens   tokenStore
	sessions sessionStore

	tokenRequests atomic.Int64
	apiRequests   atomic.Int64

	apiMu     sync.Mutex
	apiFaults APIFaults

	mu    sync.RWMutex
	flows map[string]*flow // by ID
	exact map[string]*flow // non-wildcard flows by lowercased address
	wild  []*flow          // wildcard flows, longest prefix first

	histMu sync.RWMutex
	hist   map[string]*callLog // by iFlow ID; kept after undeploy

	closeOnce sync.Once
	closed    chan struct{} // closed by Close; releases latency waits

	srvMu  sync.Mutex
	srv    *http.Server
	served chan struct{} // closed when Serve returns
	url    string
}

// flow is an immutable snapshot of a deployed iFlow; SetFaults and Deploy
// replace it. rng survives both so that error decisions stay one sequence.
type flow struct {
	IFlow
	addr address
	base string // runtime path prefix of the protocol: "/http", "/cxf", "/gw/odata"
	rng  *lockedRand
	// deployedAt is when this artifact was (re)deployed: LastUpdated and
	// DeployedOn in the OData API.
	deployedAt time.Time
}

// lockedRand is a seeded random source safe for concurrent use.
type lockedRand struct {
	mu sync.Mutex
	r  *rand.Rand
}

func (l *lockedRand) float64() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Float64()
}

// New validates cfg, applies its defaults and returns a simulator with no
// iFlows deployed. It does not listen; see [Sim.Start] and [Sim.Handler].
func New(cfg Config) (*Sim, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	s := &Sim{
		cfg:    cfg,
		log:    cfg.Logger,
		flows:  make(map[string]*flow),
		exact:  make(map[string]*flow),
		hist:   make(map[string]*callLog),
		closed: make(chan struct{}),
	}
	s.sessions.ttl = cfg.SessionTTL
	mux := http.NewServeMux()
	s.routes(mux)
	s.handler = mux
	return s, nil
}

// routes registers every endpoint of the tenant. The OData API (/api/v1)
// will register here from its own file.
func (s *Sim) routes(mux *http.ServeMux) {
	mux.HandleFunc("/oauth/token", s.serveToken)
	mux.HandleFunc("/http/", s.serveRuntime)
	mux.HandleFunc("/cxf/", s.serveRuntime)
	mux.HandleFunc("/gw/odata/", s.serveRuntime)
	s.odataRoutes(mux)
	s.adminRoutes(mux)
}

// Handler returns the handler serving the whole tenant on one host:
// /oauth/token, /http/* and the /sim/v1 admin API. When it is mounted by
// the caller instead of [Sim.Start], URL is "" and TokenURL and EndpointURL
// return paths relative to the caller's base URL.
func (s *Sim) Handler() http.Handler { return s.handler }

// Deploy adds f, or replaces the deployed iFlow with the same ID, at run
// time. It fails with [ErrInvalidIFlow] or [ErrAddressInUse]. Recorded calls
// of a replaced iFlow are kept.
func (s *Sim) Deploy(f IFlow) error {
	if err := f.Validate(); err != nil {
		return err
	}
	f = f.withDefaults()
	addr, _ := parseAddress(f.Address) // validated above
	base, _ := protocolBase(f.Protocol)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, other := range s.flows {
		if other.ID != f.ID && other.base == base && other.addr.key == addr.key && other.addr.wildcard == addr.wildcard {
			return fmt.Errorf("deploying %q at %q: %w (%q)", f.ID, f.Address, ErrAddressInUse, other.ID)
		}
	}
	nf := &flow{IFlow: f, addr: addr, base: base, deployedAt: s.cfg.Now()}
	if old, ok := s.flows[f.ID]; ok {
		nf.rng = old.rng
	} else {
		nf.rng = &lockedRand{r: rand.New(rand.NewPCG(uint64(s.cfg.Seed), hashID(f.ID)))}
	}
	s.replaceLocked(f.ID, nf)
	s.history(f.ID)
	s.log.Debug("cpisim iflow deployed", "iflow", f.ID, "address", f.Address, "csrf", f.CSRF)
	return nil
}

// Undeploy removes the iFlow with the given ID; its address answers 404
// from then on. Its recorded calls are kept.
func (s *Sim) Undeploy(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.flows[id]; !ok {
		return fmt.Errorf("undeploying %q: %w", id, ErrUnknownIFlow)
	}
	s.replaceLocked(id, nil)
	s.log.Debug("cpisim iflow undeployed", "iflow", id)
	return nil
}

// SetFaults replaces the faults of a deployed iFlow at run time; calls
// already waiting out a latency keep their old faults.
func (s *Sim) SetFaults(id string, f Faults) error {
	if err := f.Validate(); err != nil {
		return fmt.Errorf("%w %q: faults: %w", ErrInvalidIFlow, id, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.flows[id]
	if !ok {
		return fmt.Errorf("setting faults of %q: %w", id, ErrUnknownIFlow)
	}
	nf := *old
	nf.Faults = f.withDefaults()
	s.replaceLocked(id, &nf)
	s.log.Info("cpisim faults set", "iflow", id, "latency", f.Latency, "error_rate", f.ErrorRate, "outage", f.Outage)
	return nil
}

// IFlows returns the deployed iFlows, with defaults applied, sorted by ID.
func (s *Sim) IFlows() []IFlow {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]IFlow, 0, len(s.flows))
	for _, f := range s.flows {
		out = append(out, f.withDefaults()) // copies the header map
	}
	slices.SortFunc(out, func(a, b IFlow) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return out
}

// replaceLocked puts nf (nil: nothing) in place of the iFlow id in s.flows
// and the routing tables, without rebuilding them: deploying thousands of
// iFlows stays linear.
func (s *Sim) replaceLocked(id string, nf *flow) {
	if old, ok := s.flows[id]; ok {
		if old.addr.wildcard {
			s.wild = slices.DeleteFunc(s.wild, func(f *flow) bool { return f == old })
		} else {
			delete(s.exact, old.base+old.addr.key)
		}
		delete(s.flows, id)
	}
	if nf == nil {
		return
	}
	s.flows[id] = nf
	if !nf.addr.wildcard {
		s.exact[nf.base+nf.addr.key] = nf
		return
	}
	s.wild = append(s.wild, nf)
	slices.SortStableFunc(s.wild, func(a, b *flow) int { return len(b.addr.key) - len(a.addr.key) })
}

// route finds the iFlow for a request path, protocol prefix ("/http",
// "/cxf", "/gw/odata") included. An exact address wins over a wildcard; the
// longest wildcard wins.
func (s *Sim) route(p string) (*flow, string) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if f, ok := s.exact[asciiLower(p)]; ok {
		return f, ""
	}
	for _, f := range s.wild {
		if !strings.HasPrefix(p, f.base) {
			continue
		}
		if sub, ok := f.addr.match(p[len(f.base):]); ok {
			return f, sub
		}
	}
	return nil, ""
}

// history returns the call log of an iFlow ID, creating it.
func (s *Sim) history(id string) *callLog {
	s.histMu.RLock()
	l, ok := s.hist[id]
	s.histMu.RUnlock()
	if ok {
		return l
	}
	s.histMu.Lock()
	defer s.histMu.Unlock()
	if l, ok = s.hist[id]; !ok {
		l = newCallLog(s.cfg.MaxRecordedCalls, s.cfg.MaxRecordedSpans)
		s.hist[id] = l
	}
	return l
}

// Calls returns the recorded calls of an iFlow, oldest first (at most
// Config.MaxRecordedCalls). See [Call] for what is recorded.
func (s *Sim) Calls(id string) []Call { return s.history(id).calls() }

// Spans returns the calls that ran an iFlow (job, start, end), in the
// order they ended (at most Config.MaxRecordedSpans). A call's End is
// before the next call's Start when the caller ran them one at a time.
func (s *Sim) Spans(id string) []Span { return s.history(id).spanList() }

// CallCount returns how many calls of an iFlow were recorded in total.
func (s *Sim) CallCount(id string) int {
	n, _ := s.history(id).counts()
	return n
}

// CSRFFetches returns how many CSRF tokens were fetched from an iFlow.
func (s *Sim) CSRFFetches(id string) int {
	_, n := s.history(id).counts()
	return n
}

// InFlight returns how many calls are running an iFlow right now (past
// authentication and CSRF checks, until answered).
func (s *Sim) InFlight(id string) int {
	n, _ := s.history(id).concurrency()
	return n
}

// MaxInFlight returns the highest number of calls that ran an iFlow at the
// same time, for tests of callers' concurrency limits.
func (s *Sim) MaxInFlight(id string) int {
	_, n := s.history(id).concurrency()
	return n
}

// TokenRequests returns how many requests reached /oauth/token, including
// refused ones.
func (s *Sim) TokenRequests() int { return int(s.tokenRequests.Load()) }

// Start listens on addr (e.g. "127.0.0.1:0"), serves in the background and
// returns the base URL, e.g. "http://127.0.0.1:41234". It fails with
// [ErrStarted] when already serving and [ErrClosed] after [Sim.Close].
func (s *Sim) Start(addr string) (string, error) {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	select {
	case <-s.closed:
		return "", ErrClosed
	default:
	}
	if s.srv != nil {
		return "", ErrStarted
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("cpisim listening on %s: %w", addr, err)
	}
	s.srv = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.served = make(chan struct{})
	s.url = "http://" + ln.Addr().String()
	if s.cfg.PublicURL != "" {
		s.url = strings.TrimRight(s.cfg.PublicURL, "/")
	}
	go func(srv *http.Server, done chan struct{}) {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("cpisim serving", "err", err)
		}
	}(s.srv, s.served)
	s.log.Info("cpisim listening", "url", s.url)
	return s.url, nil
}

// Close stops serving (when started), answers waiting calls 503 and waits
// for the server to finish. It is idempotent.
func (s *Sim) Close() error {
	s.closeOnce.Do(func() { close(s.closed) })
	s.srvMu.Lock()
	srv, served := s.srv, s.served
	s.srv = nil
	s.srvMu.Unlock()
	if srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		// Waiting calls were released above; what is left are connections
		// a client dialed and never used (net/http counts them as active
		// for 5s): close them.
		err = srv.Close()
	}
	if err != nil {
		err = fmt.Errorf("cpisim shutdown: %w", err)
	}
	<-served
	return err
}

// URL returns the base URL after [Sim.Start], else "".
func (s *Sim) URL() string {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	return s.url
}

// TokenURL returns the token endpoint, URL()+"/oauth/token".
func (s *Sim) TokenURL() string { return s.URL() + "/oauth/token" }

// EndpointURL returns the runtime endpoint of a deployed iFlow, e.g.
// URL()+"/http/demo/echo" (for a "/x/*" address, URL()+"/http/x"), or ""
// when the iFlow is not deployed.
func (s *Sim) EndpointURL(id string) string {
	s.mu.RLock()
	f, ok := s.flows[id]
	s.mu.RUnlock()
	if !ok {
		return ""
	}
	p := f.Address
	if f.addr.wildcard {
		p = p[:len(p)-2]
	}
	return s.URL() + f.base + p
}

// hashID derives a per-iFlow stream from the seed.
func hashID(id string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(id))
	return h.Sum64()
}
