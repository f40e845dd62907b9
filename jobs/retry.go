package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/cpibroker/cpibroker/internal/natsx"
	"github.com/cpibroker/cpibroker/internal/workqueue"
	cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"
	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"
)

// Retry schedules the next attempt of job's running attempt (rec at rev)
// at at, and applies t (ScheduleRetry or WaitCredentials for at). The
// caller then acks its message.
//
// Order matters for crash safety: (1) the schedule is published, (2) the
// record moves to queued, (3) the message is acked. A crash after (1)
// leaves the record running and owned by the message, whose redelivery
// resumes the job (the scheduled copy is then stale and dropped). A crash
// after (2) leaves the scheduled copy as the only current message.
//
// The schedule lives in JetStream (ADR-51 message schedules, whole-second
// precision), so a waiting retry holds no ack slot and no memory, and fires
// onto the retry subject whose consumer is pulled ahead of the backlog.
func (s *Store) Retry(ctx context.Context, rec *cpibv1.JobRecord, rev uint64, job *cpibv1.Job, t Transition, at time.Time, trace nats.Header) error {
	after := proto.CloneOf(rec)
	if err := t.apply(after, s.cfg.Now()); err != nil {
		return err
	}
	next := proto.CloneOf(job)
	next.Attempts = after.GetAttempts() // the scheduled copy is the current one
	b, err := proto.Marshal(next)
	if err != nil {
		return fmt.Errorf("jobs: encode retry: %w", err)
	}
	h := nats.Header{}
	for k, v := range trace {
		h[k] = v
	}
	if err := workqueue.ScheduleRetry(ctx, s.res.JS, natsx.ScheduleSubject(job.GetId()),
		natsx.RetrySubject(job.GetClient(), job.GetFlow(), job.GetId()), b, h, at); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if _, err := natsx.EnsureConsumer(ctx, s.res.JS, natsx.KindRetry, job.GetClient(), job.GetFlow(), s.res.Layout.AckWait); err != nil {
		return err
	}
	_, err = s.Apply(ctx, rec, rev, t, nil)
	return err
}
