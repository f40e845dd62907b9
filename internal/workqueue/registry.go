package workqueue

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Runner works one consumer. Run blocks until the runner stops: its
// context ended, Stop was called, or its consumer is gone or retired.
type Runner interface {
	Run()
	Stop()
}

// Config is a keyed work queue as its user defines it: which consumers
// are its own, which subject each key's messages wait on, how a key's
// consumer is made and how it is worked.
type Config struct {
	// Stream is the work-queue stream.
	Stream jetstream.Stream
	// Owns reports whether a consumer name is one of the queue's keyed
	// consumers (the stream may hold others, such as a fan-out's).
	Owns func(name string) bool
	// Orphans names the keyed consumers that are missing (not in exist)
	// while their subjects hold messages: a consumer retired as idle just
	// as a message arrived, or deleted. retired are the consumers this
	// registry retired within RetiredWatch and that are missing.
	// SubjectOrphans lists the stream's subjects; RetiredOrphans, for a
	// queue whose subjects are too many to list, looks only at what was
	// retired here. nil repairs nothing.
	Orphans func(ctx context.Context, exist map[string]bool, retired []string) []string
	// RetiredWatch is how long a retired consumer is watched for a message
	// that arrived just then: longer than a publisher assumes a consumer
	// it ensured still exists. Default 2 minutes.
	RetiredWatch time.Duration
	// Now is the clock of RetiredWatch. Default time.Now.
	Now func() time.Time
	// Ensure creates (or updates) the named consumer.
	Ensure func(ctx context.Context, name string) error
	// NewRunner makes the runner of a consumer.
	NewRunner func(ctx context.Context, name string, c jetstream.Consumer) Runner
	// Exited, when set, is called after a runner ended.
	Exited func(name string)
	// Logger reports failed listings and repairs; nil logs nothing.
	Logger *slog.Logger
}

// Registry keeps one runner per keyed consumer of a stream.
type Registry struct {
	cfg     Config
	mu      sync.Mutex
	runners map[string]Runner
	retired map[string]time.Time // retired here → watched until
	stopped bool                 // StopAll was called: no runner starts any more
	wg      sync.WaitGroup       // the runners' goroutines
}

// NewRegistry returns an empty registry.
func NewRegistry(cfg Config) *Registry {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.RetiredWatch <= 0 {
		cfg.RetiredWatch = 2 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Registry{cfg: cfg, runners: map[string]Runner{}, retired: map[string]time.Time{}}
}

// Retired notes that a runner of this registry deleted its consumer as
// idle, so that Reconcile watches it for a message that arrived just then.
func (r *Registry) Retired(name string) {
	r.mu.Lock()
	r.retired[name] = r.cfg.Now().Add(r.cfg.RetiredWatch)
	r.mu.Unlock()
}

// Start runs the named consumer here unless it runs already or is not one
// of the queue's.
func (r *Registry) Start(ctx context.Context, name string) {
	if !r.cfg.Owns(name) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, running := r.runners[name]; running || r.stopped || ctx.Err() != nil {
		return
	}
	c, err := r.cfg.Stream.Consumer(ctx, name)
	if err != nil {
		return
	}
	run := r.cfg.NewRunner(ctx, name, c)
	r.runners[name] = run
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		run.Run()
		r.mu.Lock()
		if r.runners[name] == run {
			delete(r.runners, name)
		}
		r.mu.Unlock()
		if r.cfg.Exited != nil {
			r.cfg.Exited(name)
		}
	}()
}

// Reconcile starts a runner for every keyed consumer of the stream, and
// gives a consumer to any keyed subject that holds messages without one
// (a consumer retired as idle just as a message arrived, or deleted).
func (r *Registry) Reconcile(ctx context.Context) {
	names := map[string]bool{}
	lister := r.cfg.Stream.ConsumerNames(ctx)
	for name := range lister.Name() {
		names[name] = true
		r.Start(ctx, name)
	}
	if err := lister.Err(); err != nil {
		if ctx.Err() == nil {
			r.cfg.Logger.Warn("workqueue: list consumers", "err", err)
		}
		return
	}
	if r.cfg.Orphans == nil {
		return
	}
	now := r.cfg.Now()
	var retired []string
	r.mu.Lock()
	for name, until := range r.retired {
		if now.After(until) || names[name] {
			delete(r.retired, name)
			continue
		}
		retired = append(retired, name)
	}
	r.mu.Unlock()
	for _, name := range r.cfg.Orphans(ctx, names, retired) {
		r.Restore(ctx, name)
	}
}

// Restore recreates a consumer whose subjects hold messages without one
// and starts its runner.
func (r *Registry) Restore(ctx context.Context, name string) {
	if err := r.cfg.Ensure(ctx, name); err != nil {
		r.cfg.Logger.Warn("workqueue: recreate consumer", "consumer", name, "err", err)
		return
	}
	r.Start(ctx, name)
}

// SubjectOrphans is an Orphans that lists the stream's subjects under each
// filter and names the consumer of every one that holds messages (with
// consumerOf; "" skips a subject) and is missing. Leave out of the filters
// subjects not worth listing (one per waiting retry schedule).
func SubjectOrphans(stream jetstream.Stream, consumerOf func(subject string) string, filters ...string) func(context.Context, map[string]bool, []string) []string {
	return func(ctx context.Context, exist map[string]bool, _ []string) []string {
		var out []string
		seen := map[string]bool{}
		for _, filter := range filters {
			info, err := stream.Info(ctx, jetstream.WithSubjectFilter(filter))
			if err != nil {
				return out
			}
			for subj, n := range info.State.Subjects {
				name := consumerOf(subj)
				if n == 0 || name == "" || exist[name] || seen[name] {
					continue
				}
				seen[name] = true
				out = append(out, name)
			}
		}
		return out
	}
}

// RetiredOrphans is an Orphans that looks only at the consumers retired
// here, for a queue whose subjects are too many to list (one per message):
// a retired consumer whose subjects hold a message again (has) is missing.
func RetiredOrphans(has func(ctx context.Context, name string) (bool, error)) func(context.Context, map[string]bool, []string) []string {
	return func(ctx context.Context, _ map[string]bool, retired []string) []string {
		var out []string
		for _, name := range retired {
			if ok, err := has(ctx, name); err == nil && ok {
				out = append(out, name)
			}
		}
		return out
	}
}

// Run reconciles at once and every interval, and starts the consumers
// advertised on adv (nil: none) as soon as they are, until ctx ends.
func (r *Registry) Run(ctx context.Context, every time.Duration, adv <-chan string) error {
	t := time.NewTicker(every)
	defer t.Stop()
	r.Reconcile(ctx)
	for {
		select {
		case <-ctx.Done():
			return nil
		case name := <-adv:
			r.Start(ctx, name)
		case <-t.C:
			r.Reconcile(ctx)
		}
	}
}

// StopAll stops every runner and lets no new one start (a repair or an
// advisory that comes after it starts nothing). The runners end on their
// own: Wait waits for them, and Work waits for the messages they started.
func (r *Registry) StopAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopped = true
	for _, run := range r.runners {
		run.Stop()
	}
}

// Wait waits until every runner started here has returned, or until ctx
// ends; it reports whether they all did.
func (r *Registry) Wait(ctx context.Context) bool {
	done := make(chan struct{})
	go func() {
		r.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}

// Running reports whether the named consumer has a runner here.
func (r *Registry) Running(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.runners[name]
	return ok
}

// Len is the number of runners.
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.runners)
}

// OnAdvisory turns consumer-created advisories
// ($JS.EVENT.ADVISORY.CONSUMER.CREATED.<stream>.*) into consumer names on
// out, dropping one when out is full (the periodic reconcile catches up).
func OnAdvisory(out chan<- string) nats.MsgHandler {
	return func(m *nats.Msg) {
		var a struct {
			Consumer string `json:"consumer"`
		}
		if json.Unmarshal(m.Data, &a) == nil && a.Consumer != "" {
			select {
			case out <- a.Consumer:
			default:
			}
		}
	}
}
