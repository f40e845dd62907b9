package discovery

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/catalog/odata"
	"github.com/cpibroker/cpibroker/internal/cpitoken"
	"github.com/cpibroker/cpibroker/internal/lease"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrBusy: another process (or goroutine) is discovering the provider.
var ErrBusy = errors.New("discovery: already running for this provider")

// ErrNotDiscoverable: the provider has neither an OData API nor declared flows.
var ErrNotDiscoverable = errors.New("discovery: provider has no api endpoint (type cpi) or declared flows (type http)")

// Result is the outcome of one discovery, as kept in KV and answered by
// POST /admin/v1/providers/{id}/discover.
type Result struct {
	Provider   string    `json:"provider"`
	OK         bool      `json:"ok"`
	Error      string    `json:"error,omitempty"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	// Config is a hash of the provider's settings the run used: a changed
	// provider is discovered again without waiting for its interval.
	Config string `json:"config"`
	Summary
}

// Runner discovers providers periodically and on demand.
type Runner struct {
	cfg Config

	mu      sync.Mutex
	running map[string]bool
}

// New returns a Runner.
func New(cfg Config) (*Runner, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Runner{cfg: cfg, running: map[string]bool{}}, nil
}

func leaseName(provider string) string { return "discovery." + provider }
func statusKey(provider string) string { return "discovery." + provider }
func hasFlows(p catalog.Provider) bool { return p.Discoverable() || p.Type == catalog.ProviderHTTP }
func configHash(p catalog.Provider) string {
	b, _ := json.Marshal(p)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// Run starts due discoveries every Tick until ctx ends: a provider is due
// when it was never discovered, its settings changed since, or its
// discovery_interval has passed since the last run (by any process).
func (r *Runner) Run(ctx context.Context) error {
	t := time.NewTicker(r.cfg.Tick)
	defer t.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		for _, p := range r.cfg.Store.Providers() {
			if !hasFlows(p) || !r.due(ctx, p) || !r.claim(p.ID) {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer r.unclaim(p.ID)
				if _, err := r.onceClaimed(ctx, p.ID, true); err != nil && !errors.Is(err, ErrBusy) && ctx.Err() == nil {
					r.cfg.Log.Warn("discovery failed", "provider", p.ID, "err", err)
				}
			}()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (r *Runner) claim(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.running[id] {
		return false
	}
	r.running[id] = true
	return true
}

func (r *Runner) unclaim(id string) {
	r.mu.Lock()
	delete(r.running, id)
	r.mu.Unlock()
}

func (r *Runner) due(ctx context.Context, p catalog.Provider) bool {
	last, err := r.Last(ctx, p.ID)
	if err != nil {
		return errors.Is(err, catalog.ErrNotFound)
	}
	if last.Config != configHash(p) {
		return true
	}
	return !r.cfg.Now().Before(last.FinishedAt.Add(p.Interval()))
}

// Last returns the outcome of the provider's last discovery;
// catalog.ErrNotFound when it never ran.
func (r *Runner) Last(ctx context.Context, provider string) (Result, error) {
	e, err := r.cfg.KV.Get(ctx, statusKey(provider))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Result{}, fmt.Errorf("discovery of %s: %w", provider, catalog.ErrNotFound)
	}
	if err != nil {
		return Result{}, fmt.Errorf("discovery: read status: %w", err)
	}
	var res Result
	if err := json.Unmarshal(e.Value(), &res); err != nil {
		return Result{}, fmt.Errorf("discovery: decode status: %w", err)
	}
	return res, nil
}

// Discover runs a discovery of the provider now, waiting (until ctx ends)
// for one that is running elsewhere to finish first.
func (r *Runner) Discover(ctx context.Context, provider string) (Result, error) {
	for {
		res, err := r.once(ctx, provider, false)
		if !errors.Is(err, ErrBusy) {
			return res, err
		}
		t := time.NewTimer(100 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return Result{}, fmt.Errorf("%w: %w", ErrBusy, ctx.Err())
		case <-t.C:
		}
	}
}

// Rediscover is called when an iFlow answered 404: it discovers the
// provider again unless that happened within MinRediscover or is happening
// now, so that a flow that was undeployed becomes unavailable.
func (r *Runner) Rediscover(ctx context.Context, provider string) error {
	if last, err := r.Last(ctx, provider); err == nil && r.cfg.Now().Before(last.FinishedAt.Add(r.cfg.MinRediscover)) {
		return nil
	}
	_, err := r.once(ctx, provider, false)
	if errors.Is(err, ErrBusy) || errors.Is(err, ErrNotDiscoverable) {
		return nil
	}
	return err
}

// errNotDue: a periodic run found, under the lease, that another process
// has just discovered the provider.
var errNotDue = fmt.Errorf("%w: not due", ErrBusy)

// once runs one discovery of the provider; ErrBusy when one is running
// in this process or elsewhere. The lease alone does not exclude this
// process's own discoveries (its holder may take over its own lease), so
// the provider is claimed here first: two discoveries of a provider that
// overlap would each retire the flows the other created.
func (r *Runner) once(ctx context.Context, provider string, onlyIfDue bool) (Result, error) {
	if !r.claim(provider) {
		return Result{}, ErrBusy
	}
	defer r.unclaim(provider)
	return r.onceClaimed(ctx, provider, onlyIfDue)
}

// onceClaimed runs one discovery of a provider this process has claimed,
// under the provider's lease; ErrBusy when the lease is held. A periodic
// run (onlyIfDue) checks again under the lease that the provider is due,
// so two processes never run the same period.
func (r *Runner) onceClaimed(ctx context.Context, provider string, onlyIfDue bool) (Result, error) {
	var res Result
	err := r.cfg.Leases.Do(ctx, leaseName(provider), func(ctx context.Context) error {
		if p, ok := r.cfg.Store.Provider(provider); onlyIfDue && ok && !r.due(ctx, p) {
			return errNotDue
		}
		var err error
		res, err = r.discover(ctx, provider)
		return err
	})
	if errors.Is(err, lease.ErrHeld) {
		return Result{}, ErrBusy
	}
	return res, err
}

// discover reads the provider's entry points, applies them and records the
// outcome. The error is also in the Result (OK false).
func (r *Runner) discover(ctx context.Context, id string) (Result, error) {
	p, ok := r.cfg.Store.Provider(id)
	if !ok {
		return Result{}, fmt.Errorf("provider %s: %w", id, catalog.ErrNotFound)
	}
	if !hasFlows(p) {
		return Result{}, ErrNotDiscoverable
	}
	res := Result{Provider: id, StartedAt: r.cfg.Now(), Config: configHash(p)}
	var eps []endpoint
	var err error
	// The flows as they were before the listing: only these may be
	// retired, so a flow put meanwhile (a deployment published by hand,
	// another process) is not retired by a listing that predates it.
	before := r.cfg.Store.ProviderFlows(id)
	prog := r.newProgress(id, res.StartedAt)
	defer prog.done(ctx)
	if p.Type == catalog.ProviderHTTP {
		eps = declared(p)
	} else {
		eps, res.Skipped, err = r.fetchCPI(ctx, p, prog)
		r.noteAPICredentials(ctx, p.ID, err)
	}
	if err == nil {
		var sum Summary
		sum, err = r.apply(ctx, p, eps, before)
		sum.Skipped += res.Skipped
		res.Summary = sum
	}
	res.FinishedAt, res.OK = r.cfg.Now(), err == nil
	if err != nil {
		res.Error = scrub(err.Error(), r.credentialsOf(p))
	}
	b, _ := json.Marshal(res)
	if _, perr := r.cfg.KV.Put(context.WithoutCancel(ctx), statusKey(id), b); perr != nil {
		err = errors.Join(err, fmt.Errorf("discovery: record outcome: %w", perr))
	}
	log := r.cfg.Log.Info
	if err != nil {
		log = r.cfg.Log.Warn
	}
	log("discovery finished", "provider", id, "ok", res.OK, "endpoints", res.Endpoints, "added", res.Added,
		"updated", res.Updated, "restored", res.Restored, "unavailable", res.Unavailable, "skipped", res.Skipped,
		"duration", res.FinishedAt.Sub(res.StartedAt), "err", res.Error)
	return res, err
}

// noteAPICredentials records in the provider's health whether the tenant
// accepted the api credentials; a WARN line on each change of that state.
func (r *Runner) noteAPICredentials(ctx context.Context, provider string, err error) {
	var se *odata.StatusError
	refused := errors.Is(err, cpitoken.ErrRefused) ||
		(errors.As(err, &se) && (se.Status == http.StatusUnauthorized || se.Status == http.StatusForbidden))
	if err != nil && !refused {
		return // no answer, or not about the credentials
	}
	reason := ""
	if refused {
		reason = "provider_auth: " + err.Error()
	}
	prev, changed, herr := r.cfg.Store.ReportCredentials(ctx, provider, catalog.CredentialsAPI, !refused, reason, r.cfg.Now())
	switch {
	case herr != nil:
		r.cfg.Log.Warn("discovery: recording provider health failed", "provider", provider, "err", herr)
	case changed && refused:
		r.cfg.Log.Warn("provider api credentials refused by CPI; discovery cannot read the tenant", "provider", provider, "reason", reason)
	case changed && prev == catalog.HealthProviderAuth:
		r.cfg.Log.Warn("provider api credentials accepted again", "provider", provider)
	}
}

// credentialsOf are the resolved secrets of p's endpoints, to be scrubbed
// from anything shown.
func (r *Runner) credentialsOf(p catalog.Provider) []string {
	var out []string
	for _, e := range []*catalog.Endpoint{&p.Runtime, p.API} {
		if e == nil {
			continue
		}
		if re, err := e.Resolved(r.cfg.Secrets); err == nil {
			out = append(out, credentials(re)...)
		}
		out = append(out, credentials(*e)...)
	}
	return out
}
