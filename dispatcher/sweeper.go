package dispatcher

import (
	"context"
	"errors"
	"time"

	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/internal/lease"
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
const sweepSubjects = "cpib.jobs.q.>"

// sweepLoop runs the expiry sweeper whenever this dispatcher holds the
// lease. Expiry is also checked when a job is pulled; the sweeper catches
// the jobs that are never pulled: their flow is disabled or unavailable,
// their client disabled, or they wait for a quota.
func (d *Dispatcher) sweepLoop(ctx context.Context) {
	m, err := lease.New(lease.Config{KV: d.res.Leases, Holder: d.holder, Log: d.cfg.Logger})
	if err != nil {
		d.cfg.Logger.Error("dispatcher: expiry sweeper disabled", "err", err)
		return
	}
	_ = m.Run(ctx, sweepLease, func(ctx context.Context) error {
		var cursor, records uint64
		pass := d.cfg.Now()
		seen := map[string]struct{}{}
		for {
			next, ok := d.sweep(ctx, cursor, seen)
			cursor = next
			if cursor == 0 {
				if ok {
					// A whole pass saw every queued message that existed
					// when it began: a record older than that (and than
					// the grace) without one of them has no message.
					records = d.sweepNotStored(ctx, records, pass.Add(-d.cfg.NotStoredGrace), seen)
				}
				pass, seen = d.cfg.Now(), map[string]struct{}{}
			}
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

// sweep looks at up to SweepBatch queued messages from sequence after,
// notes their job IDs in seen and fails the expired ones. It returns where
// to go on, 0 at the end; ok is false when a read failed.
func (d *Dispatcher) sweep(ctx context.Context, after uint64, seen map[string]struct{}) (uint64, bool) {
	seq := after + 1
	for range d.cfg.SweepBatch {
		m, err := d.res.Jobs.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(sweepSubjects))
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				return 0, true
			}
			if ctx.Err() == nil {
				d.cfg.Logger.Warn("dispatcher: expiry sweep read failed", "err", err)
			}
			return 0, false
		}
		job := &cpibv1.Job{}
		if proto.Unmarshal(m.Data, job) == nil {
			seen[job.GetId()] = struct{}{}
			d.expire(ctx, m, job)
		}
		seq = m.Sequence + 1
	}
	return seq - 1, true
}

// sweepNotStored fails the records written before before that still wait
// for a first message which the last pass did not see (seen): their
// submit answered 503 because the message's acknowledgement was lost, the
// message was never stored, and no retry with the Idempotency-Key stored
// it. Without this they would stay queued until their TTL removed them
// unannounced. It returns the record cursor to resume from.
func (d *Dispatcher) sweepNotStored(ctx context.Context, after uint64, before time.Time, seen map[string]struct{}) uint64 {
	next, ids, err := d.store.AwaitingFirstMessage(ctx, after, before)
	if err != nil && ctx.Err() == nil {
		d.cfg.Logger.Warn("dispatcher: record sweep read failed", "err", err)
	}
	for _, id := range ids {
		if _, ok := seen[id]; ok {
			continue
		}
		rec, err := d.store.FailNotStored(ctx, id)
		if err != nil && rec == nil {
			d.cfg.Logger.Warn("dispatcher: job without a message not failed yet", "job_id", id, "err", err)
			return after // look again next pass
		}
		if rec != nil {
			d.cfg.Logger.Warn("dispatcher: job record without a message failed as not_stored", "job_id", id, "err", err)
		}
	}
	return next
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
