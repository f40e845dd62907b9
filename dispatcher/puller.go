package dispatcher

import (
	"context"
	"errors"
	"time"

	"github.com/cpibroker/cpibroker/catalog"
	"github.com/nats-io/nats.go/jetstream"
)

// puller pulls one (kind, client, flow) consumer. It pulls only as many
// jobs as it holds dispatch slots for, so a job that cannot run now stays in
// JetStream. An empty consumer is long-polled without holding a slot.
type puller struct {
	d                        *Dispatcher
	cons                     jetstream.Consumer
	name, kind, client, flow string
	ctx                      context.Context
	cancel                   context.CancelFunc
	done                     chan struct{}
}

func newPuller(ctx context.Context, d *Dispatcher, c jetstream.Consumer, name, kind, client, flow string) *puller {
	p := &puller{d: d, cons: c, name: name, kind: kind, client: client, flow: flow, done: make(chan struct{})}
	p.ctx, p.cancel = context.WithCancel(ctx)
	return p
}

func (p *puller) stop() { p.cancel() }

func (p *puller) run() {
	ctx := p.ctx
	defer p.cancel()
	defer close(p.done)
	d := p.d
	idleSince := d.cfg.Now()
	errWait := 50 * time.Millisecond
	for ctx.Err() == nil {
		if d.gate.wait(ctx) != nil {
			return
		}
		if !p.eligible() {
			select {
			case <-ctx.Done():
			case <-d.cat.Changed():
			case <-time.After(5 * time.Second):
			}
			continue
		}
		n := p.acquire(ctx)
		if n == 0 {
			return
		}
		got, err := p.fetchNoWait(n)
		p.release(n - got)
		if p.gone(err) {
			return
		}
		if err != nil && got == 0 {
			// JetStream unreachable: back off instead of spinning.
			d.cfg.Logger.Debug("dispatcher: pull failed", "consumer", p.name, "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(errWait):
			}
			errWait = min(errWait*2, 2*time.Second)
			continue
		}
		errWait = 50 * time.Millisecond
		if got > 0 {
			idleSince = d.cfg.Now()
			continue
		}
		got, err = p.longPoll(ctx)
		if p.gone(err) {
			return
		}
		if got > 0 {
			idleSince = d.cfg.Now()
		} else if d.cfg.Now().Sub(idleSince) > d.cfg.IdleConsumerTTL && p.retire(ctx) {
			return
		}
	}
}

// eligible reports whether jobs of this pair may run now.
func (p *puller) eligible() bool {
	f, ok := p.d.cat.Flow(p.flow)
	if !ok || f.Status != catalog.FlowEnabled {
		return false
	}
	c, ok := p.d.cat.Client(p.client)
	return ok && c.Enabled
}

// acquire takes one dispatch slot (blocking) and up to BatchSize-1 more if
// free. It returns 0 when ctx ends.
func (p *puller) acquire(ctx context.Context) int {
	select {
	case p.d.slots <- struct{}{}:
	case <-ctx.Done():
		return 0
	}
	n := 1
	for n < p.d.cfg.BatchSize {
		select {
		case p.d.slots <- struct{}{}:
			n++
		default:
			return n
		}
	}
	return n
}

func (p *puller) release(n int) {
	for range n {
		<-p.d.slots
	}
}

func (p *puller) fetchNoWait(n int) (int, error) {
	batch, err := p.cons.FetchNoWait(n)
	if err != nil {
		return 0, err
	}
	got := 0
	for m := range batch.Messages() {
		got++
		p.d.dispatch(m, p)
	}
	return got, batch.Error()
}

// longPoll waits for one job without holding a slot, then takes a slot.
func (p *puller) longPoll(ctx context.Context) (int, error) {
	batch, err := p.cons.Fetch(1, jetstream.FetchMaxWait(p.d.cfg.IdleWait))
	if err != nil {
		return 0, err
	}
	got := 0
	for m := range batch.Messages() {
		if ctx.Err() != nil || p.d.gate.isPaused() || p.acquire1(ctx) != nil {
			// Stopping or paused while the pull waited: hand the job back.
			_ = m.Nak()
			continue
		}
		got++
		p.d.dispatch(m, p)
	}
	return got, batch.Error()
}

func (p *puller) acquire1(ctx context.Context) error {
	select {
	case p.d.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// gone reports whether the consumer no longer exists.
func (p *puller) gone(err error) bool {
	return errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound)
}

// retire deletes the consumer if it is empty and idle. The reconcile loop
// recreates it should a job arrive at that moment.
func (p *puller) retire(ctx context.Context) bool {
	info, err := p.cons.Info(ctx)
	if err != nil {
		return p.gone(err)
	}
	if info.NumPending > 0 || info.NumAckPending > 0 {
		return false
	}
	if err := p.d.res.JS.DeleteConsumer(ctx, info.Stream, info.Name); err != nil && !p.gone(err) {
		return false
	}
	p.d.cfg.Logger.Debug("dispatcher: idle consumer removed", "consumer", p.name)
	return true
}
