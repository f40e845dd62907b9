package delivery

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/internal/deliverylog"
	"github.com/cpibroker/cpibroker/internal/natsx"
	"github.com/cpibroker/cpibroker/internal/ssrf"
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

	work    sync.WaitGroup // attempts in flight
	workMu  sync.Mutex
	closing bool

	mu    sync.Mutex
	lanes map[string]*lane // by consumer name
	known map[string]time.Time
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
		tracer:   cfg.TracerProvider.Tracer("github.com/cpibroker/cpibroker/dispatcher/delivery"),
		breakers: newBreakers(cfg.Breaker),
		attempts: deliverylog.New(res),
		lanes:    map[string]*lane{},
		known:    map[string]time.Time{},
	}
	d.http = newHTTPClient(cfg)
	return d, nil
}

// Run fans out events and runs the lanes until ctx ends, then waits for
// attempts in flight (each bounded by Timeout); an unfinished one is
// redelivered by JetStream.
func (d *Deliverer) Run(ctx context.Context) error {
	fan, err := d.res.JS.CreateOrUpdateConsumer(ctx, natsx.StreamEvents, jetstream.ConsumerConfig{
		Durable:       fanoutConsumer,
		FilterSubject: "cpib.events.>",
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
	g.Go(func() error { return d.reconcileLoop(gctx) })
	err = g.Wait()
	d.mu.Lock()
	for _, l := range d.lanes {
		l.stop()
	}
	d.mu.Unlock()
	d.workMu.Lock()
	d.closing = true // no attempt starts after this, so Wait cannot race an Add
	d.workMu.Unlock()
	d.work.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// fanoutConsumer is the durable consumer of EVENTS that makes tasks.
const fanoutConsumer = "fanout"

// laneConsumer names the consumer of a (client, lane); IDs and lanes never
// contain '_'.
func laneConsumer(client, lane string) string { return "d_" + client + "_" + lane }

func parseLaneConsumer(name string) (client, lane string, ok bool) {
	parts := strings.Split(name, "_")
	if len(parts) != 3 || parts[0] != "d" || parts[1] == "" || parts[2] == "" {
		return "", "", false
	}
	return parts[1], parts[2], true
}

// ensureLane creates the consumer of a (client, lane) unless it was
// created lately, and starts pulling it here.
func (d *Deliverer) ensureLane(ctx context.Context, client, lane string) error {
	name := laneConsumer(client, lane)
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
	d.startLane(ctx, name)
	return nil
}

func (d *Deliverer) createLaneConsumer(ctx context.Context, client, lane string) (jetstream.Consumer, error) {
	c, err := d.res.JS.CreateOrUpdateConsumer(ctx, natsx.StreamDeliveries, jetstream.ConsumerConfig{
		Durable:       laneConsumer(client, lane),
		FilterSubject: natsx.DeliverySubject(client, lane),
		AckPolicy:     jetstream.AckExplicitPolicy,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckWait:       d.cfg.Timeout + 30*time.Second,
		MaxAckPending: 1000,
		MaxDeliver:    -1,
	})
	if err != nil {
		return nil, fmt.Errorf("delivery: consumer %s: %w", laneConsumer(client, lane), err)
	}
	return c, nil
}

// reconcileLoop starts lanes whose consumers were created elsewhere and
// gives a consumer to any lane subject that holds tasks without one.
func (d *Deliverer) reconcileLoop(ctx context.Context) error {
	t := time.NewTicker(d.cfg.ReconcileInterval)
	defer t.Stop()
	for {
		d.reconcile(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (d *Deliverer) reconcile(ctx context.Context) {
	names := map[string]bool{}
	lister := d.res.Deliveries.ConsumerNames(ctx)
	for name := range lister.Name() {
		names[name] = true
		d.startLane(ctx, name)
	}
	if err := lister.Err(); err != nil {
		if ctx.Err() == nil {
			d.cfg.Logger.Warn("delivery: list consumers", "err", err)
		}
		return
	}
	info, err := d.res.Deliveries.Info(ctx, jetstream.WithSubjectFilter("cpib.deliveries.q.>"))
	if err != nil {
		return
	}
	for subj, n := range info.State.Subjects {
		parts := strings.Split(subj, ".")
		if n == 0 || len(parts) != 5 || names[laneConsumer(parts[3], parts[4])] {
			continue
		}
		if _, err := d.createLaneConsumer(ctx, parts[3], parts[4]); err != nil {
			d.cfg.Logger.Warn("delivery: recreate consumer", "subject", subj, "err", err)
			continue
		}
		d.startLane(ctx, laneConsumer(parts[3], parts[4]))
	}
}

// startLane runs a lane for the named consumer unless one runs.
func (d *Deliverer) startLane(ctx context.Context, name string) {
	client, laneKey, ok := parseLaneConsumer(name)
	if !ok {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, running := d.lanes[name]; running {
		return
	}
	c, err := d.res.Deliveries.Consumer(ctx, name)
	if err != nil {
		return
	}
	l := newLane(ctx, d, c, name, client, laneKey)
	d.lanes[name] = l
	go func() {
		l.run()
		d.mu.Lock()
		if d.lanes[name] == l {
			delete(d.lanes, name)
		}
		delete(d.known, name)
		d.mu.Unlock()
	}()
}

// startWork counts an attempt in, unless the deliverer is shutting down.
func (d *Deliverer) startWork() bool {
	d.workMu.Lock()
	defer d.workMu.Unlock()
	if d.closing {
		return false
	}
	d.work.Add(1)
	return true
}
