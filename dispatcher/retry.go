package dispatcher

import (
	"context"
	"errors"
	"time"

	"github.com/cpibroker/cpibroker/internal/natsx"
	"github.com/cpibroker/cpibroker/internal/workqueue"
	"github.com/cpibroker/cpibroker/jobs"
	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// retry schedules the next attempt after delay and releases this one:
// jobs publishes the schedule and moves the record to queued (see
// Store.Retry for the crash-safe order), then the message is acked.
func (d *Dispatcher) retry(ctx context.Context, a *pulled, delay time.Duration) error {
	return d.reschedule(ctx, a, delay, jobs.ScheduleRetry)
}

// reschedule publishes the next try after delay with the transition next
// builds for its time (ScheduleRetry, WaitCredentials) and acks.
func (d *Dispatcher) reschedule(ctx context.Context, a *pulled, delay time.Duration, next func(time.Time) jobs.Transition) error {
	at := workqueue.ScheduleAt(d.cfg.Now(), delay)
	h := nats.Header{}
	d.cfg.Propagator.Inject(ctx, natsx.HeaderCarrier(h))
	rec, rev, t := a.outcome(next(at).Noting(a.last))
	if err := d.store.Retry(ctx, rec, rev, a.job, t, at, h); err != nil {
		if errors.Is(err, jobs.ErrConflict) || errors.Is(err, jobs.ErrInvalidTransition) {
			return a.msg.Ack()
		}
		return err
	}
	a.span.AddEvent("retry_backoff", trace.WithAttributes(attribute.String("until", at.UTC().Format(time.RFC3339))))
	return a.msg.Ack()
}
