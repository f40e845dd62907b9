package delivery

import (
	"context"

	"github.com/cpibroker/cpibroker/internal/natsx"
	"github.com/cpibroker/cpibroker/internal/workqueue"
	"github.com/nats-io/nats.go/jetstream"
)

// lane is the runner of one endpoint's consumer: the work-queue engine's
// slot-admitted pull loop, with EndpointConcurrency slots, each task
// handed to deliver. An idle lane's consumer is deleted, and its breaker
// forgotten; the fan-out or the reconcile creates it again when a task
// arrives.
type lane struct {
	*workqueue.Puller
	d                 *Deliverer
	name, client, key string
}

func (d *Deliverer) newLane(ctx context.Context, name string, c jetstream.Consumer) workqueue.Runner {
	client, key, _ := natsx.ParseLaneConsumer(name)
	l := &lane{d: d, name: name, client: client, key: key}
	l.Puller = workqueue.NewPuller(ctx, workqueue.PullConfig{
		Consumer: c, Slots: d.cfg.EndpointConcurrency, IdleWait: d.cfg.IdleWait, IdleTTL: d.cfg.IdleLaneTTL,
		Now: d.cfg.Now, Work: &d.work,
		Handle: func(ctx context.Context, m jetstream.Msg) { d.deliver(ctx, l, m) },
		Retire: func(ctx context.Context, busy bool) bool {
			if !workqueue.Retire(ctx, d.res.JS, c, busy) {
				return false
			}
			d.lanes.Retired(name)
			d.breakers.forget(name)
			d.cfg.Logger.Debug("delivery: idle lane removed", "lane", name)
			return true
		},
	})
	return l
}
