package dispatcher

import (
	"context"
	"time"

	"github.com/cpibroker/cpibroker/internal/natsx"
	"github.com/cpibroker/cpibroker/internal/workqueue"
	"github.com/nats-io/nats.go/jetstream"
)

// retiredWatch is how long a consumer this dispatcher retired as idle is
// watched for a job that arrived just then: longer than an ingress assumes
// a consumer it ensured still exists (jobs.Config.QueueCacheTTL, default
// 1m). The expiry sweeper also recreates the consumer of any queued job it
// sees without one, whoever retired it.
const retiredWatch = 2 * time.Minute

// newQueues puts the JOBS consumers on the work-queue engine: one per
// (kind, client, flow), named by natsx.ConsumerName, each worked by a
// puller (admission before pull, long-poll). A pair this dispatcher
// retired gets its consumer back when a job arrived for it meanwhile (an
// ingress that still believed the consumer existed); job subjects carry
// job IDs, so the stream's subjects are not listed: that would cost one
// entry per queued job.
func (d *Dispatcher) newQueues() *workqueue.Registry {
	q := jobQueue(d.res, d.cfg.Now)
	q.NewRunner = func(ctx context.Context, name string, c jetstream.Consumer) workqueue.Runner {
		kind, client, flow, _ := natsx.ParseConsumerName(name)
		return newPuller(ctx, d, c, name, kind, client, flow)
	}
	q.Logger = d.cfg.Logger
	return workqueue.NewRegistry(q)
}

// jobQueue is the JOBS stream's key scheme on the work-queue engine.
func jobQueue(res *natsx.Resources, now func() time.Time) workqueue.Config {
	return workqueue.Config{
		Stream: res.Jobs,
		Owns: func(name string) bool {
			_, _, _, ok := natsx.ParseConsumerName(name)
			return ok
		},
		Orphans: workqueue.RetiredOrphans(func(ctx context.Context, name string) (bool, error) {
			kind, client, flow, _ := natsx.ParseConsumerName(name)
			return natsx.HasJobs(ctx, res.Jobs, kind, client, flow)
		}),
		RetiredWatch: retiredWatch,
		Now:          now,
		Ensure: func(ctx context.Context, name string) error {
			kind, client, flow, _ := natsx.ParseConsumerName(name)
			_, err := natsx.EnsureConsumer(ctx, res.JS, kind, client, flow, res.Layout.AckWait)
			return err
		},
	}
}

// restore recreates the consumer of a pair that holds jobs without one and
// starts its puller.
func (d *Dispatcher) restore(ctx context.Context, kind, client, flow string) {
	d.queues.Restore(ctx, natsx.ConsumerName(kind, client, flow))
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
