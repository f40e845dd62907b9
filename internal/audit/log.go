package audit

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// DefaultBuffer is how many events may wait to be written.
const DefaultBuffer = 4096

// Log writes events to the AUDIT stream in the background. Record never
// blocks. The zero value is not usable; call New.
type Log struct {
	js     jetstream.JetStream
	log    *slog.Logger
	now    func() time.Time
	ch     chan Event
	drops  atomic.Uint64
	closed sync.Once
	done   chan struct{}
}

// New returns a Log publishing through js. Call Run to write.
func New(js jetstream.JetStream, logger *slog.Logger, now func() time.Time) *Log {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	return &Log{js: js, log: logger, now: now, ch: make(chan Event, DefaultBuffer), done: make(chan struct{})}
}

// Record queues e; Time is set when zero. When the buffer is full the event
// is dropped and counted (see Dropped). A nil Log records nothing.
func (l *Log) Record(e Event) {
	if l == nil {
		return
	}
	if e.Time.IsZero() {
		e.Time = l.now().UTC()
	}
	select {
	case l.ch <- e:
	default:
		if l.drops.Add(1)%1000 == 1 {
			l.log.Warn("audit buffer full: events dropped", "dropped", l.drops.Load())
		}
	}
}

// Dropped is the number of events lost to a full buffer.
func (l *Log) Dropped() uint64 { return l.drops.Load() }

// Run writes queued events until ctx ends, then flushes what is queued
// (bounded by a short deadline).
func (l *Log) Run(ctx context.Context) error {
	defer close(l.done)
	for {
		select {
		case e := <-l.ch:
			l.write(ctx, e)
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			defer cancel()
			for {
				select {
				case e := <-l.ch:
					l.write(fctx, e)
				default:
					return nil
				}
			}
		}
	}
}

func (l *Log) write(ctx context.Context, e Event) {
	e.Seq = 0
	b, err := json.Marshal(e)
	if err != nil {
		l.log.Error("audit: encode", "err", err)
		return
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := l.js.Publish(wctx, Subject(e.Action), b); err != nil {
		l.log.Warn("audit: write failed", "action", e.Action, "err", err)
	}
}
