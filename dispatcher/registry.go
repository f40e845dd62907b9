package dispatcher

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/cpibroker/cpibroker/internal/natsx"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
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

// reconcile lists the JOBS consumers and starts missing pullers, and gives
// a consumer to any queue subject that holds jobs without one (a consumer
// deleted as idle just as a job arrived).
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
	// Schedules (cpib.jobs.s.<job>) are not listed: one subject per waiting
	// retry would make this scan grow with the retry backlog.
	for _, kind := range []string{natsx.KindQueue, natsx.KindRetry} {
		info, err := d.res.Jobs.Info(ctx, jetstream.WithSubjectFilter("cpib.jobs."+kind+".>"))
		if err != nil {
			return
		}
		for subj, n := range info.State.Subjects {
			parts := strings.Split(subj, ".")
			if n == 0 || len(parts) != 5 {
				continue
			}
			name := natsx.ConsumerName(kind, parts[3], parts[4])
			if names[name] {
				continue
			}
			if _, err := natsx.EnsureConsumer(ctx, d.res.JS, kind, parts[3], parts[4], d.res.Layout.AckWait); err != nil {
				d.cfg.Logger.Warn("dispatcher: recreate consumer", "consumer", name, "err", err)
				continue
			}
			d.startPuller(ctx, name)
		}
	}
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
