package delivery

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/delivery/deliverylog"
	"github.com/cpibroker/cpibroker/internal/natsx"
	"github.com/cpibroker/cpibroker/internal/ssrf"
	"github.com/cpibroker/cpibroker/internal/workqueue"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/errgroup"
)

// Deliverer fans job events out to their targets and delivers them.
// Several deliverers (one per dispatcher process) share the work.
type Deliverer struct {
	cfg      Config
	res      *natsx.Resources
	cat      *catalog.Store
	http     *http.Client
	tracer   trace.Tracer
	breakers *breakers
	// attempts is the delivery log; endpoints the failing state per lane.
	attempts  *deliverylog.Log
	endpoints endpointStates

	work  workqueue.Work      // attempts in flight; hands tasks back at shutdown
	lanes *workqueue.Registry // one runner per lane consumer

	mu    sync.Mutex
	known map[string]time.Time // lane consumers ensured lately, by name
}

// New returns a Deliverer over the broker's streams and the live catalog.
func New(cfg Config, res *natsx.Resources, cat *catalog.Store) (*Deliverer, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Guard == nil {
		g, err := ssrf.New(ssrf.Config{})
		if err != nil {
			return nil, err
		}
		cfg.Guard = g
	}
	d := &Deliverer{
		cfg: cfg, res: res, cat: cat,
		tracer:   cfg.TracerProvider.Tracer("github.com/cpibroker/cpibroker/delivery"),
		breakers: newBreakers(cfg.Breaker),
		attempts: deliverylog.New(res),
		known:    map[string]time.Time{},
	}
	q := laneQueue(res, d.createLaneConsumer)
	q.NewRunner, q.Logger = d.newLane, cfg.Logger
	q.Exited = func(name string) {
		d.mu.Lock()
		delete(d.known, name)
		d.mu.Unlock()
	}
	d.lanes = workqueue.NewRegistry(q)
	d.http = newHTTPClient(cfg)
	return d, nil
}

// Run fans out events and runs the lanes until ctx ends, then waits for
// attempts in flight (each bounded by Timeout); an unfinished one is
// redelivered by JetStream.
func (d *Deliverer) Run(ctx context.Context) error {
	fan, err := d.res.JS.CreateOrUpdateConsumer(ctx, natsx.StreamEvents, jetstream.ConsumerConfig{
		Durable:       fanoutConsumer,
		FilterSubject: natsx.EventsFilter,
		AckPolicy:     jetstream.AckExplicitPolicy,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckWait:       30 * time.Second,
		MaxAckPending: 1000,
	})
	if err != nil {
		return fmt.Errorf("delivery: fan-out consumer: %w", err)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return d.fanout(gctx, fan) })
	g.Go(func() error { return d.lanes.Run(gctx, d.cfg.ReconcileInterval, nil) })
	err = g.Wait()
	// The lanes end (a pull within IdleWait) before the attempts in
	// flight are waited for, so that none outlives Run.
	d.lanes.StopAll()
	wctx, wcancel := context.WithTimeout(context.WithoutCancel(ctx), d.cfg.IdleWait+time.Second)
	if !d.lanes.Wait(wctx) {
		d.cfg.Logger.Warn("delivery: lanes still running at shutdown")
	}
	wcancel()
	d.work.Close()
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// laneQueue is the key scheme of the lanes on the work-queue engine: a
// consumer per (client, lane), named by natsx.LaneConsumer, made by create.
func laneQueue(res *natsx.Resources, create func(ctx context.Context, client, lane string) (jetstream.Consumer, error)) workqueue.Config {
	return workqueue.Config{
		Stream: res.Deliveries,
		Owns: func(name string) bool {
			_, _, ok := natsx.ParseLaneConsumer(name)
			return ok
		},
		Orphans: workqueue.SubjectOrphans(res.Deliveries, func(subject string) string {
			if client, lane, ok := natsx.ParseDeliverySubject(subject); ok {
				return natsx.LaneConsumer(client, lane)
			}
			return ""
		}, natsx.DeliveryQueueFilter),
		Ensure: func(ctx context.Context, name string) error {
			client, lane, _ := natsx.ParseLaneConsumer(name)
			_, err := create(ctx, client, lane)
			return err
		},
	}
}

// fanoutConsumer is the durable consumer of EVENTS that makes tasks.
const fanoutConsumer = "fanout"

// ensureLane creates the consumer of a (client, lane) unless it was
// created lately, and starts pulling it here.
func (d *Deliverer) ensureLane(ctx context.Context, client, lane string) error {
	name := natsx.LaneConsumer(client, lane)
	d.mu.Lock()
	seen, ok := d.known[name]
	d.mu.Unlock()
	if !ok || d.cfg.Now().Sub(seen) > time.Minute {
		if _, err := d.createLaneConsumer(ctx, client, lane); err != nil {
			return err
		}
		d.mu.Lock()
		d.known[name] = d.cfg.Now()
		d.mu.Unlock()
	}
	d.lanes.Start(ctx, name)
	return nil
}

func (d *Deliverer) createLaneConsumer(ctx context.Context, client, lane string) (jetstream.Consumer, error) {
	c, err := d.res.JS.CreateOrUpdateConsumer(ctx, natsx.StreamDeliveries, jetstream.ConsumerConfig{
		Durable:       natsx.LaneConsumer(client, lane),
		FilterSubject: natsx.DeliverySubject(client, lane),
		AckPolicy:     jetstream.AckExplicitPolicy,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckWait:       d.cfg.Timeout + 30*time.Second,
		MaxAckPending: 1000,
		MaxDeliver:    -1,
	})
	if err != nil {
		return nil, fmt.Errorf("delivery: consumer %s: %w", natsx.LaneConsumer(client, lane), err)
	}
	return c, nil
}
