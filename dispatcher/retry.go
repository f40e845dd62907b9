package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cpibroker/cpibroker/internal/natsx"
	"github.com/cpibroker/cpibroker/jobs"
	cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// retry schedules the next attempt after delay and releases this one.
//
// Order matters for crash safety: (1) the schedule is published, (2) the
// record moves to queued, (3) the message is acked. A crash after (1)
// leaves the record running and owned by this message, whose redelivery
// resumes the job (the scheduled copy is then stale and dropped). A crash
// after (2) leaves the scheduled copy as the only current message.
//
// The schedule lives in JetStream (ADR-51 message schedules, whole-second
// precision), so a waiting retry holds no ack slot and no memory, and fires
// onto the retry subject whose consumer is pulled ahead of the backlog.
func (d *Dispatcher) retry(ctx context.Context, a *attempt, delay time.Duration) error {
	now := d.cfg.Now()
	at := now.Add(delay).Truncate(time.Second).Add(time.Second)
	next := proto.CloneOf(a.job)
	next.Attempts = a.rec.GetAttempts()
	b, err := proto.Marshal(next)
	if err != nil {
		return fmt.Errorf("dispatcher: encode retry: %w", err)
	}
	msg := &nats.Msg{Subject: natsx.ScheduleSubject(a.job.GetId()), Data: b, Header: nats.Header{}}
	d.cfg.Propagator.Inject(ctx, natsx.HeaderCarrier(msg.Header))
	if _, err := d.res.JS.PublishMsg(ctx, msg,
		jetstream.WithScheduleAt(at),
		jetstream.WithScheduleTarget(natsx.RetrySubject(a.job.GetClient(), a.job.GetFlow()))); err != nil {
		return fmt.Errorf("dispatcher: schedule retry: %w", err)
	}
	if _, err := natsx.EnsureConsumer(ctx, d.res.JS, natsx.KindRetry, a.job.GetClient(), a.job.GetFlow(), d.res.Layout.AckWait); err != nil {
		return err
	}
	a.rec.Status = cpibv1.JobStatus_JOB_STATUS_QUEUED
	a.rec.UpdatedAt = timestamppb.New(now)
	a.rec.NextAttemptAt = timestamppb.New(at)
	a.rec.DispatchSeq = 0
	if _, err := d.store.Put(ctx, a.rec, a.rev); err != nil {
		if errors.Is(err, jobs.ErrConflict) {
			return a.msg.Ack()
		}
		return err
	}
	a.span.AddEvent("retry_backoff", trace.WithAttributes(attribute.String("until", at.UTC().Format(time.RFC3339))))
	return a.msg.Ack()
}
