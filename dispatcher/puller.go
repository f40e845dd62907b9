package dispatcher

import (
	"context"
	"time"

	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/internal/workqueue"
	"github.com/nats-io/nats.go/jetstream"
)

// puller pulls one (kind, client, flow) consumer. It pulls only as many
// jobs as the scheduler admitted (dispatch slots, quotas, fair share) and
// the flow's breaker allows, so a job that cannot run now stays in
// JetStream. An empty consumer is long-polled without holding a slot.
type puller struct {
	d                        *Dispatcher
	cons                     jetstream.Consumer
	name, kind, client, flow string
	ctx                      context.Context
	cancel                   context.CancelFunc
	done                     chan struct{}
	deletedCheck             time.Time // next time a missing client is confirmed deleted
}

func newPuller(ctx context.Context, d *Dispatcher, c jetstream.Consumer, name, kind, client, flow string) *puller {
	p := &puller{d: d, cons: c, name: name, kind: kind, client: client, flow: flow, done: make(chan struct{})}
	p.ctx, p.cancel = context.WithCancel(ctx)
	return p
}

// Stop ends the puller; jobs it started finish.
func (p *puller) Stop() { p.cancel() }

// Run pulls until stopped, the consumer is gone, or it retires.
func (p *puller) Run() {
	ctx := p.ctx
	defer p.cancel()
	defer close(p.done)
	d := p.d
	idleSince := d.cfg.Now()
	var backoff workqueue.Backoff
	for ctx.Err() == nil {
		if d.gate.wait(ctx) != nil {
			return
		}
		if d.cancelDeleted(ctx, p) {
			continue
		}
		c, f, ok := p.eligible()
		if !ok {
			p.idle(ctx, d.cat.Changed(), 5*time.Second)
			continue
		}
		g, ok := p.admit(ctx, c, f)
		if !ok {
			return
		}
		if g == nil {
			p.idle(ctx, d.breakers.Changed(), time.Second)
			continue
		}
		probe := g.isProbe()
		got, err := p.fetchNoWait(g)
		if p.gone(err) {
			return
		}
		if err != nil && got == 0 {
			// JetStream unreachable: back off instead of spinning.
			d.cfg.Logger.Debug("dispatcher: pull failed", "consumer", p.name, "err", err)
			backoff.Wait(ctx)
			continue
		}
		backoff.Reset()
		if got > 0 {
			idleSince = d.cfg.Now()
			continue
		}
		if probe {
			// A probe is never held through a long poll.
			p.idle(ctx, d.breakers.Changed(), time.Second)
			continue
		}
		got, err = p.longPoll(ctx, c, f)
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

// idle waits for a change, at most max.
func (p *puller) idle(ctx context.Context, changed <-chan struct{}, max time.Duration) {
	select {
	case <-ctx.Done():
	case <-changed:
	case <-time.After(max):
	}
}

// budgets returns the budgets a job of this pair spends, from the live
// catalog; nil when the client or flow is gone (the waiter keeps what it
// has, and the puller rechecks eligibility after its grant).
func (p *puller) budgets() budgets {
	c, okc := p.d.cat.Client(p.client)
	f, okf := p.d.cat.Flow(p.flow)
	if !okc || !okf {
		return nil
	}
	return budgetsFor(c, f)
}

// pair names the fairness and quota unit of this puller.
func (p *puller) pair() string { return p.client + "/" + p.flow }

// eligible reports whether jobs of this pair may run now, with the client
// and flow they run under.
func (p *puller) eligible() (catalog.Client, catalog.Flow, bool) {
	f, ok := p.d.cat.Flow(p.flow)
	if !ok || f.Status != catalog.FlowEnabled {
		return catalog.Client{}, f, false
	}
	c, ok := p.d.cat.Client(p.client)
	return c, f, ok && c.Enabled
}

// fetchNoWait pulls what g admits and dispatches each job with its share
// of g; what is left goes back. It returns how many jobs it pulled.
func (p *puller) fetchNoWait(g *grant) (int, error) {
	defer g.close()
	batch, err := p.cons.FetchNoWait(g.n)
	if err != nil {
		return 0, err
	}
	got := 0
	for m := range batch.Messages() {
		got++
		p.d.dispatch(m, p, g.take())
	}
	return got, batch.Error()
}

// longPoll waits for one job without holding a slot or a budget, then
// asks for them. A job that cannot start at once (its budget is spent) is
// handed back to JetStream, where it waits; the loop then waits for the
// budget before pulling again.
func (p *puller) longPoll(ctx context.Context, c catalog.Client, f catalog.Flow) (int, error) {
	// The poll runs its course (JetStream ends it): a pull the client
	// stops reading first, by a context, can have a job in flight that
	// then waits out its ack wait. A job that arrives after the stop is
	// handed back below; a stop waits up to IdleWait.
	batch, err := p.cons.Fetch(1, jetstream.FetchMaxWait(p.d.cfg.IdleWait))
	if err != nil {
		return 0, err
	}
	got := 0
	for m := range batch.Messages() {
		if ctx.Err() != nil || p.d.gate.isPaused() {
			_ = m.Nak() // stopping or paused while the pull waited
			continue
		}
		// The poll may have waited long: admit under the specs as they are
		// now, not as they were when it started.
		if c2, f2, ok := p.eligible(); ok {
			c, f = c2, f2
		}
		actx, cancel := context.WithTimeout(ctx, admitWait)
		g := p.admitOne(actx, c, f)
		cancel()
		if g == nil {
			_ = m.Nak()
			continue
		}
		got++
		p.d.dispatch(m, p, g.take())
		g.close()
	}
	return got, batch.Error()
}

// admitWait is how long a long-polled job may wait in memory for a slot
// before it is handed back.
const admitWait = time.Second

// gone reports whether the consumer no longer exists.
func (p *puller) gone(err error) bool { return workqueue.Gone(err) }

// retire deletes the consumer if it is empty and idle. The reconcile loop
// recreates it should a job arrive at that moment.
func (p *puller) retire(ctx context.Context) bool {
	if !workqueue.Retire(ctx, p.d.res.JS, p.cons, false) {
		return false
	}
	p.d.cfg.Logger.Debug("dispatcher: idle consumer removed", "consumer", p.name)
	p.d.queues.Retired(p.name)
	return true
}
