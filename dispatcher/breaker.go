package dispatcher

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/dispatcher/state"
	"github.com/cpibroker/cpibroker/internal/natsx"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/sony/gobreaker/v2"
)

// breakers keeps one local gobreaker TwoStepCircuitBreaker per flow and
// shares their state changes through the cpib-breakers bucket: every change
// this process sees is written there, and a change another dispatcher wrote
// is applied here (an open breaker is tripped, a closed one replaced), so
// every dispatcher follows within the watch latency. A reset replaces the
// breakers, as gobreaker has no public reset.
//
// gobreaker reads the wall clock: open_for and the failure window are wall
// time, not the dispatcher's injected clock.
type breakers struct {
	kv     jetstream.KeyValue // followed for other dispatchers' and the operator's records
	shared *state.Store       // writes this dispatcher's records
	holder string
	now    func() time.Time
	log    *slog.Logger

	mu      sync.Mutex
	by      map[string]*flowBreaker
	changed chan struct{}
	writes  chan state.Breaker
	stopped chan struct{} // closed when run has returned: no one reads writes
}

type flowBreaker struct {
	cb      *gobreaker.TwoStepCircuitBreaker[struct{}]
	cfg     catalog.Breaker
	probes  int         // half-open pulls reserved and not done yet
	trip    atomic.Bool // makes the next failure trip the breaker
	forcing atomic.Bool // the state change comes from KV: do not echo it
	openAt  time.Time   // wall clock when it last opened
}

func newBreakers(kv jetstream.KeyValue, holder string, now func() time.Time, log *slog.Logger) *breakers {
	return &breakers{kv: kv, shared: state.NewStore(kv, nil), holder: holder, now: now, log: log,
		by: map[string]*flowBreaker{}, changed: make(chan struct{}), writes: make(chan state.Breaker, 1024),
		stopped: make(chan struct{})}
}

// Changed is closed at the next state change of any breaker.
func (b *breakers) Changed() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.changed
}

func (b *breakers) signalLocked() {
	close(b.changed)
	b.changed = make(chan struct{})
}

// getLocked returns the breaker of flow, (re)creating it when its settings
// changed.
func (b *breakers) getLocked(flow string, cfg catalog.Breaker) *flowBreaker {
	if fb, ok := b.by[flow]; ok && fb.cfg == cfg {
		return fb
	}
	fb := &flowBreaker{cfg: cfg}
	st := gobreaker.Settings{
		Name:        flow,
		MaxRequests: uint32(max(cfg.HalfOpenProbes, 1)),
		Timeout:     max(cfg.OpenFor.D(), time.Millisecond),
		ReadyToTrip: func(c gobreaker.Counts) bool {
			if fb.trip.Load() {
				return true
			}
			if cfg.ConsecutiveFailures > 0 && c.ConsecutiveFailures >= uint32(cfg.ConsecutiveFailures) {
				return true
			}
			return cfg.FailureRatio > 0 && c.Requests >= uint32(max(cfg.MinRequests, 1)) &&
				float64(c.TotalFailures)/float64(c.Requests) >= cfg.FailureRatio
		},
		OnStateChange: func(name string, _, to gobreaker.State) { b.onChange(fb, name, to) },
	}
	if w := cfg.Window.D(); w > 0 {
		st.Interval, st.BucketPeriod = w, max(w/10, time.Millisecond)
	}
	fb.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](st)
	b.by[flow] = fb
	return fb
}

// onChange runs inside gobreaker's lock: it only records and queues.
func (b *breakers) onChange(fb *flowBreaker, flow string, to gobreaker.State) {
	now := b.now()
	rec := state.Breaker{Flow: flow, State: stateName(to), Since: now, By: b.holder}
	if to == gobreaker.StateOpen {
		fb.openAt = time.Now()
		rec.Until = now.Add(fb.cfg.OpenFor.D())
	}
	go func() {
		b.mu.Lock()
		b.signalLocked()
		b.mu.Unlock()
	}()
	if fb.forcing.Load() || to == gobreaker.StateHalfOpen {
		// Half-open is not shared: every dispatcher reaches it by its own
		// timer, and a late half-open write would hide the closed record
		// of the dispatcher whose probe succeeded. Readers derive it from
		// an open record whose until has passed.
		return
	}
	b.log.Info("dispatcher: circuit breaker changed", "flow_id", flow, "state", rec.State)
	select {
	case b.writes <- rec:
	default:
		go func() {
			select {
			case b.writes <- rec:
			case <-b.stopped:
			}
		}()
	}
}

func stateName(s gobreaker.State) string {
	switch s {
	case gobreaker.StateOpen:
		return state.StateOpen
	case gobreaker.StateHalfOpen:
		return state.StateHalfOpen
	}
	return state.StateClosed
}

// pullLimit says how many jobs of flow may be pulled now: BatchSize when
// closed, none while open, and one reserved probe at a time in half-open
// (probe=true; release it with unprobe if nothing was pulled).
func (b *breakers) pullLimit(flow string, cfg catalog.Breaker, batch int) (n int, probe bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	fb := b.getLocked(flow, cfg)
	switch fb.cb.State() {
	case gobreaker.StateClosed:
		return batch, false
	case gobreaker.StateHalfOpen:
		if fb.probes < max(cfg.HalfOpenProbes, 1) {
			fb.probes++
			return 1, true
		}
	}
	return 0, false
}

// unprobe gives back a probe reservation that pulled nothing.
func (b *breakers) unprobe(flow string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if fb, ok := b.by[flow]; ok && fb.probes > 0 {
		fb.probes--
	}
}

// errBreakerOpen: the flow's breaker does not let this call through.
var errBreakerOpen = errors.New("circuit breaker open")

// errCallFailed tells a breaker that a call counted as a failure.
var errCallFailed = errors.New("call failed")

// allow asks the flow's breaker for one call. done reports its outcome
// (true: not a breaker failure) and must be called exactly once.
func (b *breakers) allow(flow string, cfg catalog.Breaker, probe bool) (func(ok bool), error) {
	b.mu.Lock()
	fb := b.getLocked(flow, cfg)
	b.mu.Unlock()
	done, err := fb.cb.Allow()
	unreserve := func() {
		if probe {
			b.unprobe(flow)
		}
	}
	if err != nil {
		unreserve()
		return nil, errBreakerOpen
	}
	var once sync.Once
	return func(ok bool) {
		once.Do(func() {
			if ok {
				done(nil)
			} else {
				done(errCallFailed)
			}
			unreserve()
		})
	}, nil
}

// state returns a flow's local breaker state.
func (b *breakers) state(flow string) string {
	b.mu.Lock()
	fb, ok := b.by[flow]
	b.mu.Unlock()
	if !ok {
		return state.StateClosed
	}
	return stateName(fb.cb.State())
}

// States returns the local state of every flow's breaker.
func (b *breakers) states() map[string]string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[string]string, len(b.by))
	for flow, fb := range b.by {
		out[flow] = stateName(fb.cb.State())
	}
	return out
}

// apply follows a record written by another dispatcher or an operator.
func (b *breakers) apply(rec state.Breaker, cfg func(flow string) (catalog.Breaker, bool)) {
	if rec.By == b.holder && !rec.Reset {
		return // our own write coming back
	}
	c, ok := cfg(rec.Flow)
	if !ok {
		return
	}
	b.mu.Lock()
	fb := b.getLocked(rec.Flow, c)
	cur := fb.cb.State()
	switch {
	case rec.State == state.StateClosed && (cur != gobreaker.StateClosed || rec.Reset):
		delete(b.by, rec.Flow) // replaced: the next use creates it closed
		b.getLocked(rec.Flow, c)
		b.signalLocked()
	case rec.State == state.StateOpen && cur != gobreaker.StateOpen:
		b.mu.Unlock()
		// Trip it with one forced failure; the change is not written back.
		fb.forcing.Store(true)
		fb.trip.Store(true)
		if done, err := fb.cb.Allow(); err == nil {
			done(errCallFailed)
		}
		fb.trip.Store(false)
		fb.forcing.Store(false)
		return
	}
	b.mu.Unlock()
}

// share writes state changes to KV and follows other dispatchers' changes.
func (b *breakers) share(ctx context.Context, cfg func(flow string) (catalog.Breaker, bool)) {
	var writer sync.WaitGroup
	defer func() {
		writer.Wait()
		close(b.stopped)
	}()
	writer.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case rec := <-b.writes:
				if err := b.shared.PutBreaker(ctx, rec); err != nil && ctx.Err() == nil {
					b.log.Warn("dispatcher: breaker state not shared", "flow_id", rec.Flow, "err", err)
				}
			}
		}
	})
	natsx.Follow(ctx, b.kv, natsx.Watcher{Logger: b.log, Apply: func(e jetstream.KeyValueEntry) {
		if e.Operation() != jetstream.KeyValuePut {
			return
		}
		if rec, ok := state.DecodeBreaker(e.Value()); ok {
			b.apply(rec, cfg)
		}
	}})
}
