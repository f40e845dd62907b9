package dispatcher

import (
	"context"
	"errors"
	"time"

	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/internal/lease"
	"github.com/cpibroker/cpibroker/internal/natsx"
	"github.com/cpibroker/cpibroker/jobs"
	cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
)

// sweepLease names the KV lease of the expiry sweeper: one dispatcher at a
// time sweeps.
const sweepLease = "expiry-sweeper"

// sweepSubjects are the queued jobs the sweeper looks at: new jobs only
// (a job in retry was dispatched and does not expire).
var sweepSubjects = natsx.KindSubjects(natsx.KindQueue)

// sweepLoop runs the expiry sweeper whenever this dispatcher holds the
// lease. Expiry is also checked when a job is pulled; the sweeper catches
// the jobs that are never pulled: their flow is disabled or unavailable,
// their client disabled, or they wait for a quota. It also gives a
// consumer back to any queue that holds jobs without one (a consumer
// retired as idle just as a job arrived, by a dispatcher that is gone).
func (d *Dispatcher) sweepLoop(ctx context.Context) {
	m, err := lease.New(lease.Config{KV: d.res.Leases, Holder: d.holder, Log: d.cfg.Logger})
	if err != nil {
		d.cfg.Logger.Error("dispatcher: expiry sweeper disabled", "err", err)
		return
	}
	_ = m.Run(ctx, sweepLease, func(ctx context.Context) error {
		var cursor uint64
		for {
			cursor = d.sweep(ctx, cursor)
			wait := d.cfg.SweepInterval
			if cursor != 0 {
				wait = 0 // more to look at
			}
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(wait):
			}
		}
	})
}

// sweep looks at up to SweepBatch queued messages from sequence after and
// fails the expired ones. It returns where to go on, 0 at the end or when
// a read failed.
func (d *Dispatcher) sweep(ctx context.Context, after uint64) uint64 {
	seq := after + 1
	pairs := map[string]bool{}
	var consumers map[string]bool // listed when the first job is seen
	for range d.cfg.SweepBatch {
		m, err := d.res.Jobs.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(sweepSubjects))
		if err != nil {
			if !errors.Is(err, jetstream.ErrMsgNotFound) && ctx.Err() == nil {
				d.cfg.Logger.Warn("dispatcher: expiry sweep read failed", "err", err)
			}
			return 0
		}
		seq = m.Sequence + 1
		kind, client, flow, _, ok := natsx.ParseJobSubject(m.Subject)
		if !ok {
			continue
		}
		if name := natsx.ConsumerName(kind, client, flow); !pairs[name] {
			pairs[name] = true
			if consumers == nil {
				if consumers, err = d.consumerNames(ctx); err != nil {
					return 0
				}
			}
			if !consumers[name] {
				d.restore(ctx, kind, client, flow)
			}
		}
		job := &cpibv1.Job{}
		if proto.Unmarshal(m.Data, job) == nil {
			d.expire(ctx, m, job)
		}
	}
	return seq - 1
}

// expire fails one undispatched job whose expires_at has passed, with one
// terminal event, and removes its message.
func (d *Dispatcher) expire(ctx context.Context, m *jetstream.RawStreamMsg, job *cpibv1.Job) {
	now := d.cfg.Now()
	if job.GetAttempts() != 0 ||
		job.GetExpiresAt() == nil || !now.After(job.GetExpiresAt().AsTime()) {
		return
	}
	rec, rev, err := d.store.Get(ctx, job.GetId())
	if err != nil || rec.GetRun() != job.GetRun() {
		return
	}
	flow, ok := d.cat.Flow(job.GetFlow())
	jerr := jobs.ExpiryError(rec, !ok || flow.Status == catalog.FlowUnavailable, now)
	if jerr == nil {
		return
	}
	if _, err := d.store.Apply(ctx, rec, rev, jobs.Expire(m.Sequence, jerr), nats.Header{}); err != nil {
		// Pulled meanwhile, or JetStream trouble: the next sweep sees. If
		// only the event is pending, the message stays; when it is pulled,
		// its handler finds the run ended by it and publishes the event.
		if errors.Is(err, jobs.ErrEventPending) {
			d.cfg.Logger.Warn("dispatcher: expired job's event not published yet", "job_id", job.GetId(), "err", err)
		}
		return
	}
	if err := d.res.Jobs.DeleteMsg(ctx, m.Sequence); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		d.cfg.Logger.Debug("dispatcher: expired job's message not removed; dropped when pulled", "job_id", job.GetId(), "err", err)
	}
}
