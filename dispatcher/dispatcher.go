package dispatcher

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/delivery/deliverylog"
	"github.com/cpibroker/cpibroker/dispatcher/quota"
	"github.com/cpibroker/cpibroker/internal/natsx"
	"github.com/cpibroker/cpibroker/internal/workqueue"
	"github.com/cpibroker/cpibroker/jobs"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/errgroup"
)

// Dispatcher pulls jobs and runs them against their flows' providers.
// Several dispatchers, in one process or many, share the work.
type Dispatcher struct {
	// markers are the waiting-marker writes in the background.
	markers  sync.WaitGroup
	cfg      Config
	res      *natsx.Resources
	nc       *nats.Conn
	store    *jobs.Store
	cat      *catalog.Store
	tracer   trace.Tracer
	invokers *invokers
	// attemptLog keeps the failed CPI calls of each job.
	attemptLog *deliverylog.Log

	sched    *sched    // dispatch slots, quotas and fair order
	breakers *breakers // one circuit breaker per flow, shared through KV
	holder   string    // this dispatcher's name in quota holds and breaker records
	gate     *gate
	work     workqueue.Work // in-flight jobs; hands jobs back at shutdown
	workCtx  context.Context
	queues   *workqueue.Registry // one puller per JOBS consumer
}

// New returns a Dispatcher. nc is used for the consumer advisories.
func New(cfg Config, nc *nats.Conn, res *natsx.Resources, store *jobs.Store, cat *catalog.Store) (*Dispatcher, error) {
	cfg.setDefaults()
	if cfg.RunningAfter == 0 {
		cfg.RunningAfter = res.Layout.AckWait / 10
	}
	if cfg.RunningAfter <= 0 {
		cfg.RunningAfter = 3 * time.Second
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d := &Dispatcher{
		cfg: cfg, res: res, nc: nc, store: store, cat: cat, attemptLog: deliverylog.New(res),
		tracer: cfg.TracerProvider.Tracer("github.com/cpibroker/cpibroker/dispatcher"),
		gate:   newGate(),
		holder: nuid.Next(),
	}
	d.queues = d.newQueues()
	d.sched = newSched(quota.NewStore(res.Quota, d.holder, cfg.QuotaHoldTTL), cfg.Concurrency, cfg.Now, cfg.Logger)
	d.breakers = newBreakers(res.Breakers, d.holder, cfg.Now, cfg.Logger)
	d.invokers = newInvokers(cfg.HTTPClient, cfg.TracerProvider, cfg.Propagator, cfg.Logger, cfg.TokenMemory)
	d.invokers.secrets = cfg.Secrets
	return d, nil
}

// Pause stops pulling new jobs (in-flight ones finish). The benchmark uses
// it to measure accepting alone.
func (d *Dispatcher) Pause() { d.gate.set(true) }

// Resume starts pulling again.
func (d *Dispatcher) Resume() { d.gate.set(false) }

// Run discovers consumers and dispatches until ctx ends, then lets
// in-flight jobs finish for up to Grace; unfinished ones are redelivered
// by JetStream after AckWait.
func (d *Dispatcher) Run(ctx context.Context) error {
	// In-flight jobs run on workCtx, which outlives ctx by the grace period.
	workCtx, workCancel := context.WithCancel(context.WithoutCancel(ctx))
	defer workCancel()
	d.workCtx = workCtx
	g, gctx := errgroup.WithContext(ctx)
	d.sched.ctx = workCtx
	d.sched.marker = d.marker(workCtx)
	d.sched.changed = d.cat.Changed
	stateCtx, stopState := context.WithCancel(workCtx)
	defer stopState()
	var bg sync.WaitGroup
	bg.Go(func() { d.sched.housekeepLoop(stateCtx) })
	bg.Go(func() { d.breakers.share(stateCtx, d.breakerConfig) })
	bg.Go(func() { d.sweepLoop(stateCtx) })
	bg.Go(func() { d.sequenceLoop(stateCtx) })
	// Run returns once every goroutine it started has stopped: its
	// housekeeping (the sweeper releases its lease before the connection
	// goes away), then the budget exchanges and waiting markers those and
	// the jobs left in the background (cut short: the budgets come back
	// when their holds expire, a marker is a hint).
	defer func() {
		stopState()
		bg.Wait()
		workCancel()
		d.sched.bg.Wait()
		d.markers.Wait()
	}()
	adv := make(chan string, 256)
	sub, err := d.nc.Subscribe("$JS.EVENT.ADVISORY.CONSUMER.CREATED."+natsx.StreamJobs+".*", workqueue.OnAdvisory(adv))
	if err != nil {
		return fmt.Errorf("dispatcher: advisory subscription: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	// A puller for every job consumer, as soon as its creation is
	// advertised and, as a backstop, at every ReconcileInterval.
	g.Go(func() error { return d.queues.Run(gctx, d.cfg.ReconcileInterval, adv) })
	err = g.Wait()
	// The grace period counts from the stop, for the pullers and the jobs
	// in flight alike. The pullers stop first (a long poll within
	// IdleWait; a job one still hands over after the drain began is handed
	// back), and none outlives Run.
	graceEnd := time.Now().Add(d.cfg.Grace)
	d.queues.StopAll()
	wctx, wcancel := context.WithDeadline(context.WithoutCancel(ctx), graceEnd)
	pullersDone := d.queues.Wait(wctx)
	wcancel()
	done := d.work.Drain()
	select {
	case <-done:
	case <-time.After(time.Until(graceEnd)):
		// Cancel what still runs; each job is handed back (NAK) so another
		// dispatcher takes it at once. Wait for the hand-backs to be sent.
		d.cfg.Logger.Warn("dispatcher: grace period over, releasing unfinished jobs")
		workCancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
	}
	if !pullersDone {
		wctx, wcancel := context.WithTimeout(context.WithoutCancel(ctx), d.cfg.IdleWait+time.Second)
		if !d.queues.Wait(wctx) {
			d.cfg.Logger.Warn("dispatcher: pullers still running after the grace period")
		}
		wcancel()
	}
	// Budgets in hand go back for the other dispatchers.
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	d.sched.returnHolds(rctx)
	rcancel()
	// Connections dialed but never used count as active for net/http and
	// would hold up a backend's shutdown.
	d.invokers.http.CloseIdleConnections()
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// gate blocks pullers while paused.
type gate struct {
	mu     sync.Mutex
	paused bool
	open   chan struct{}
}

func newGate() *gate {
	g := &gate{open: make(chan struct{})}
	close(g.open)
	return g
}

func (g *gate) set(paused bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if paused == g.paused {
		return
	}
	g.paused = paused
	if paused {
		g.open = make(chan struct{})
	} else {
		close(g.open)
	}
}

// isPaused reports whether pulling is paused now.
func (g *gate) isPaused() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.paused
}

// wait returns once the gate is open or ctx ends.
func (g *gate) wait(ctx context.Context) error {
	g.mu.Lock()
	ch := g.open
	g.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
