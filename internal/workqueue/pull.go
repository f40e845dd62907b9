package workqueue

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Puller is the runner of a consumer whose admission is a number of
// slots: it pulls a message only when it has a free slot, so a key's
// backlog waits in JetStream (not in memory, not in an ack slot) and
// other keys are untouched. An empty consumer is long-polled.
type Puller struct {
	cfg    PullConfig
	slots  chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
}

// PullConfig is a Puller's consumer, admission and handler.
type PullConfig struct {
	// Consumer is the consumer pulled.
	Consumer jetstream.Consumer
	// Slots bounds this consumer's messages in flight. Default 1.
	Slots int
	// IdleWait is how long one pull of an empty consumer waits.
	IdleWait time.Duration
	// IdleTTL is how long the consumer may stay empty before Retire is
	// asked.
	IdleTTL time.Duration
	// Now is the clock of IdleTTL.
	Now func() time.Time
	// Work counts messages in flight; after its Close, a pulled message is
	// handed back at once.
	Work *Work
	// Handle works one message (it acks, naks or terminates it). It runs
	// on its own goroutine with a context that outlives the runner's: a
	// message started is finished.
	Handle func(ctx context.Context, m jetstream.Msg)
	// Retire is asked once the consumer stayed empty for IdleTTL, with
	// whether messages of it are still in hand; true ends the runner.
	Retire func(ctx context.Context, busy bool) bool
}

// HandBackDelay is how long a message handed back at shutdown waits
// before JetStream delivers it again (to another process, or the next).
const HandBackDelay = time.Second

// NewPuller returns the runner; ctx bounds it.
func NewPuller(ctx context.Context, cfg PullConfig) *Puller {
	if cfg.Slots < 1 {
		cfg.Slots = 1
	}
	p := &Puller{cfg: cfg, slots: make(chan struct{}, cfg.Slots)}
	p.ctx, p.cancel = context.WithCancel(ctx)
	return p
}

// Stop ends the runner; messages in hand finish.
func (p *Puller) Stop() { p.cancel() }

// Run pulls until stopped, the consumer is gone, or it retires.
func (p *Puller) Run() {
	ctx, cfg := p.ctx, p.cfg
	defer p.cancel()
	idleSince := cfg.Now()
	var backoff Backoff
	for ctx.Err() == nil {
		select {
		case p.slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		// The pull runs its course (JetStream ends it): a pull the client
		// stops reading first, by a context, can have a message in flight
		// that then waits out its ack wait. A stop waits up to IdleWait.
		batch, err := cfg.Consumer.Fetch(1, jetstream.FetchMaxWait(cfg.IdleWait))
		got := false
		if err == nil {
			for m := range batch.Messages() {
				got = true
				if !cfg.Work.Start() {
					// Shutting down: hand the message back, with a short
					// delay, so that it does not come straight back into
					// this runner's next pull, which the stop may cut off
					// with the message in it (it would then wait out its
					// ack wait).
					<-p.slots
					_ = m.NakWithDelay(HandBackDelay)
					continue
				}
				go func() {
					defer cfg.Work.Done()
					defer func() { <-p.slots }()
					cfg.Handle(context.WithoutCancel(ctx), m)
				}()
			}
			err = batch.Error()
		}
		if got {
			idleSince = cfg.Now()
			backoff.Reset()
			continue
		}
		<-p.slots
		switch {
		case Gone(err):
			return
		case err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, nats.ErrTimeout) && ctx.Err() == nil:
			backoff.Wait(ctx)
		case cfg.Now().Sub(idleSince) > cfg.IdleTTL && cfg.Retire(ctx, len(p.slots) > 0):
			return
		}
	}
}
