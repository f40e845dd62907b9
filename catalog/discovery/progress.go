package discovery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cpibroker/cpibroker/catalog"
	"github.com/nats-io/nats.go/jetstream"
)

// progressEvery is the shortest time between two writes of a running
// discovery's progress to KV.
const progressEvery = 250 * time.Millisecond

// Progress is how far a running discovery has come, kept in KV next to
// the outcome (so any process can show it) while the discovery runs.
type Progress struct {
	Provider  string    `json:"provider"`
	StartedAt time.Time `json:"started_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// Pages is how many OData pages were read so far.
	Pages int `json:"pages"`
	// Artifacts and EntryPoints are the runtime artifacts and service
	// endpoints seen so far.
	Artifacts   int `json:"artifacts"`
	EntryPoints int `json:"entry_points"`
}

// progressKey is the KV key of a running discovery's progress: provider
// IDs have no dots, so it cannot be another provider's status key.
func progressKey(provider string) string { return statusKey(provider) + ".running" }

// progress counts a discovery's reads and writes them to KV at most every
// progressEvery (and on the first page).
type progress struct {
	r *Runner

	mu      sync.Mutex
	p       Progress
	written time.Time
}

func (r *Runner) newProgress(provider string, started time.Time) *progress {
	pr := &progress{r: r, p: Progress{Provider: provider, StartedAt: started, UpdatedAt: started}}
	pr.write(context.Background())
	return pr
}

func (pr *progress) artifact() {
	pr.mu.Lock()
	pr.p.Artifacts++
	pr.mu.Unlock()
}

func (pr *progress) entryPoint() {
	pr.mu.Lock()
	pr.p.EntryPoints++
	pr.mu.Unlock()
}

// page counts a page read and writes the progress unless it was written
// within progressEvery.
func (pr *progress) page(ctx context.Context) {
	pr.mu.Lock()
	pr.p.Pages++
	now := pr.r.cfg.Now()
	due := pr.p.Pages == 1 || now.Sub(pr.written) >= progressEvery
	pr.mu.Unlock()
	if due {
		pr.write(ctx)
	}
}

func (pr *progress) write(ctx context.Context) {
	pr.mu.Lock()
	pr.p.UpdatedAt = pr.r.cfg.Now()
	pr.written = pr.p.UpdatedAt
	b, _ := json.Marshal(pr.p)
	pr.mu.Unlock()
	if _, err := pr.r.cfg.KV.Put(ctx, progressKey(pr.p.Provider), b); err != nil && ctx.Err() == nil {
		pr.r.cfg.Log.Debug("discovery: recording progress failed", "provider", pr.p.Provider, "err", err)
	}
}

// done removes the progress: the outcome is under statusKey.
func (pr *progress) done(ctx context.Context) {
	if err := pr.r.cfg.KV.Delete(context.WithoutCancel(ctx), progressKey(pr.p.Provider)); err != nil {
		pr.r.cfg.Log.Debug("discovery: removing progress failed", "provider", pr.p.Provider, "err", err)
	}
}

// Running returns the progress of the provider's discovery that is running
// now (in any process); catalog.ErrNotFound when none is. A progress that
// started before the last outcome finished was left by a process that
// ended mid-run and is not shown.
func (r *Runner) Running(ctx context.Context, provider string) (Progress, error) {
	e, err := r.cfg.KV.Get(ctx, progressKey(provider))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Progress{}, fmt.Errorf("discovery of %s running: %w", provider, catalog.ErrNotFound)
	}
	if err != nil {
		return Progress{}, fmt.Errorf("discovery: read progress: %w", err)
	}
	var p Progress
	if err := json.Unmarshal(e.Value(), &p); err != nil {
		return Progress{}, fmt.Errorf("discovery: decode progress: %w", err)
	}
	if last, err := r.Last(ctx, provider); err == nil && !p.StartedAt.After(last.StartedAt) && !last.FinishedAt.IsZero() {
		return Progress{}, fmt.Errorf("discovery of %s running: %w", provider, catalog.ErrNotFound)
	}
	return p, nil
}
