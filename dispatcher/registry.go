package dispatcher

import (
	"context"
	"encoding/json"
	"time"

	"github.com/cpibroker/cpibroker/internal/natsx"
	"github.com/nats-io/nats.go"
)

// onAdvisory turns a consumer-created advisory into a consumer name.
func onAdvisory(out chan<- string) nats.MsgHandler {
	return func(m *nats.Msg) {
		var a struct {
			Consumer string `json:"consumer"`
		}
		if json.Unmarshal(m.Data, &a) == nil && a.Consumer != "" {
			select {
			case out <- a.Consumer:
			default: // the periodic reconcile catches up
			}
		}
	}
}

// reconcileLoop starts a puller for every job consumer, as soon as its
// creation is advertised and, as a backstop, at every ReconcileInterval.
func (d *Dispatcher) reconcileLoop(ctx context.Context, adv <-chan string) error {
	t := time.NewTicker(d.cfg.ReconcileInterval)
	defer t.Stop()
	d.reconcile(ctx)
	for {
		select {
		case <-ctx.Done():
			return nil
		case name := <-adv:
			d.startPuller(ctx, name)
		case <-t.C:
			d.reconcile(ctx)
		}
	}
}

// retiredWatch is how long a consumer this dispatcher retired as idle is
// watched for a job that arrived just then: longer than an ingress assumes
// a consumer it ensured still exists (jobs.Config.QueueCacheTTL, default
// 1m). The expiry sweeper also recreates the consumer of any queued job it
// sees without one, whoever retired it.
const retiredWatch = 2 * time.Minute

// reconcile lists the JOBS consumers and starts missing pullers, and gives
// back a consumer to a pair this dispatcher retired when a job arrived for
// it meanwhile (an ingress that still believed the consumer existed).
// Job subjects carry job IDs, so the stream's subjects are not listed: that
// would cost one entry per queued job.
func (d *Dispatcher) reconcile(ctx context.Context) {
	names := map[string]bool{}
	lister := d.res.Jobs.ConsumerNames(ctx)
	for name := range lister.Name() {
		names[name] = true
		d.startPuller(ctx, name)
	}
	if err := lister.Err(); err != nil {
		if ctx.Err() == nil {
			d.cfg.Logger.Warn("dispatcher: list consumers", "err", err)
		}
		return
	}
	now := d.cfg.Now()
	d.mu.Lock()
	watch := map[string]time.Time{}
	for name, until := range d.retired {
		if now.After(until) || names[name] {
			delete(d.retired, name)
			continue
		}
		watch[name] = until
	}
	d.mu.Unlock()
	for name := range watch {
		kind, client, flow, ok := natsx.ParseConsumerName(name)
		if !ok {
			continue
		}
		if has, err := natsx.HasJobs(ctx, d.res.Jobs, kind, client, flow); err == nil && has {
			d.restore(ctx, kind, client, flow)
		}
	}
}

// restore recreates the consumer of a pair that holds jobs without one and
// starts its puller.
func (d *Dispatcher) restore(ctx context.Context, kind, client, flow string) {
	name := natsx.ConsumerName(kind, client, flow)
	if _, err := natsx.EnsureConsumer(ctx, d.res.JS, kind, client, flow, d.res.Layout.AckWait); err != nil {
		d.cfg.Logger.Warn("dispatcher: recreate consumer", "consumer", name, "err", err)
		return
	}
	d.startPuller(ctx, name)
}

// consumerNames lists the JOBS consumers.
func (d *Dispatcher) consumerNames(ctx context.Context) (map[string]bool, error) {
	names := map[string]bool{}
	lister := d.res.Jobs.ConsumerNames(ctx)
	for name := range lister.Name() {
		names[name] = true
	}
	return names, lister.Err()
}

// retired notes a consumer deleted as idle, for reconcile to watch.
func (d *Dispatcher) noteRetired(name string) {
	d.mu.Lock()
	d.retired[name] = d.cfg.Now().Add(retiredWatch)
	d.mu.Unlock()
}

func (d *Dispatcher) startPuller(ctx context.Context, name string) {
	kind, client, flow, ok := natsx.ParseConsumerName(name)
	if !ok {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, running := d.pullers[name]; running {
		return
	}
	c, err := d.res.Jobs.Consumer(ctx, name)
	if err != nil {
		return
	}
	p := newPuller(ctx, d, c, name, kind, client, flow)
	d.pullers[name] = p
	go func() {
		p.run()
		d.mu.Lock()
		if d.pullers[name] == p {
			delete(d.pullers, name)
		}
		d.mu.Unlock()
	}()
}
