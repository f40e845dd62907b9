// Package health owns the liveness and readiness answers of a cpibroker
// process (GET /healthz and GET /readyz): named readiness checks run
// concurrently with a deadline, and the shutting-down state that turns both
// answers to 503 so load balancers stop sending work during a drain.
package health

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// CheckFunc reports why a dependency is not ready, or nil.
type CheckFunc func(ctx context.Context) error

// Checker holds the readiness checks of one process.
type Checker struct {
	timeout  time.Duration
	draining atomic.Bool

	mu     sync.Mutex
	checks map[string]CheckFunc
}

// New returns a Checker whose checks get timeout (default 2s) in total.
func New(timeout time.Duration) *Checker {
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	return &Checker{timeout: timeout, checks: map[string]CheckFunc{}}
}

// Add registers (or replaces) a named readiness check.
func (h *Checker) Add(name string, fn CheckFunc) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.checks[name] = fn
}

// Drain marks the process as shutting down: /healthz and /readyz answer 503.
func (h *Checker) Drain() { h.draining.Store(true) }

// Draining reports whether Drain was called.
func (h *Checker) Draining() bool { return h.draining.Load() }

// Report is the JSON body of /healthz and /readyz.
type Report struct {
	// Status is "ok" (healthz), "ready", "not_ready" or "shutting_down".
	Status string `json:"status"`
	// Checks maps each readiness check to "ok" or what is wrong.
	Checks map[string]string `json:"checks,omitempty"`
}

// Ready runs every check and reports whether all passed.
func (h *Checker) Ready(ctx context.Context) (Report, bool) {
	if h.Draining() {
		return Report{Status: "shutting_down"}, false
	}
	h.mu.Lock()
	names := make([]string, 0, len(h.checks))
	for n := range h.checks {
		names = append(names, n)
	}
	sort.Strings(names)
	fns := make([]CheckFunc, len(names))
	for i, n := range names {
		fns[i] = h.checks[n]
	}
	h.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	results := make([]string, len(names))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Go(func() {
			done := make(chan error, 1)
			go func() { done <- fn(ctx) }()
			select {
			case err := <-done:
				if err != nil {
					results[i] = err.Error()
				} else {
					results[i] = "ok"
				}
			case <-ctx.Done():
				results[i] = "no answer within " + h.timeout.String()
			}
		})
	}
	wg.Wait()
	r := Report{Status: "ready", Checks: make(map[string]string, len(names))}
	ok := true
	for i, n := range names {
		r.Checks[n] = results[i]
		if results[i] != "ok" {
			ok = false
		}
	}
	if !ok {
		r.Status = "not_ready"
	}
	return r, ok
}

// Healthz answers 200 {"status":"ok"} while the process runs, 503
// {"status":"shutting_down"} once it drains.
func (h *Checker) Healthz(w http.ResponseWriter, _ *http.Request) {
	if h.Draining() {
		write(w, http.StatusServiceUnavailable, Report{Status: "shutting_down"})
		return
	}
	write(w, http.StatusOK, Report{Status: "ok"})
}

// Readyz answers 200 with every check "ok", else 503 naming what is not
// ready.
func (h *Checker) Readyz(w http.ResponseWriter, r *http.Request) {
	rep, ok := h.Ready(r.Context())
	if !ok {
		w.Header().Set("Retry-After", "2")
		write(w, http.StatusServiceUnavailable, rep)
		return
	}
	write(w, http.StatusOK, rep)
}

func write(w http.ResponseWriter, status int, r Report) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(r)
}
