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
	// Orphans are subject filters of the keyed subjects; ConsumerOf names
	// the consumer of one such subject ("" skips it). Together they let
	// the reconcile give a consumer back to a subject that holds messages
	// without one. Subjects not worth scanning (one per waiting retry)
	// are left out of the filters.
	Orphans    []string
	ConsumerOf func(subject string) string
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
}

// NewRegistry returns an empty registry.
func NewRegistry(cfg Config) *Registry {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Registry{cfg: cfg, runners: map[string]Runner{}}
}

// Start runs the named consumer here unless it runs already or is not one
// of the queue's.
func (r *Registry) Start(ctx context.Context, name string) {
	if !r.cfg.Owns(name) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, running := r.runners[name]; running || ctx.Err() != nil {
		return
	}
	c, err := r.cfg.Stream.Consumer(ctx, name)
	if err != nil {
		return
	}
	run := r.cfg.NewRunner(ctx, name, c)
	r.runners[name] = run
	go func() {
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
	for _, filter := range r.cfg.Orphans {
		info, err := r.cfg.Stream.Info(ctx, jetstream.WithSubjectFilter(filter))
		if err != nil {
			return
		}
		for subj, n := range info.State.Subjects {
			name := r.cfg.ConsumerOf(subj)
			if n == 0 || name == "" || names[name] {
				continue
			}
			if err := r.cfg.Ensure(ctx, name); err != nil {
				r.cfg.Logger.Warn("workqueue: recreate consumer", "consumer", name, "err", err)
				continue
			}
			names[name] = true
			r.Start(ctx, name)
		}
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

// StopAll stops every runner (they end on their own; Work waits for the
// messages they started).
func (r *Registry) StopAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, run := range r.runners {
		run.Stop()
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
