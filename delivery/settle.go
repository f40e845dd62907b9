package delivery

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/internal/dlq"
	"github.com/cpibroker/cpibroker/internal/natsx"
	"github.com/cpibroker/cpibroker/internal/workqueue"
	cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
)

// reschedule publishes the next attempt as a message schedule and acks
// this one, or gives the delivery up once the schedule is used up. Order
// matters: schedule first, then ack; a crash in between repeats the
// attempt (at least once; receivers de-duplicate by webhook-id).
func (d *Deliverer) reschedule(ctx context.Context, m jetstream.Msg, task *cpibv1.Delivery, out outcome) error {
	task.Attempts++
	task.LastError, task.LastStatus = out.err, int32(out.status)
	n := int(task.GetAttempts())
	if n > len(d.cfg.Schedule) {
		return d.deadLetter(ctx, m, task, dlq.CodeAttemptsExhausted,
			fmt.Sprintf("%d attempts failed; last: %s", n, out.err), out.status)
	}
	wait := d.jitter(d.cfg.Schedule[n-1])
	if ra := min(out.retryAfter, d.cfg.MaxRetryAfter); ra > wait {
		wait = ra
	}
	b, err := proto.Marshal(task)
	if err != nil {
		return fmt.Errorf("delivery: encode task: %w", err)
	}
	if err := workqueue.ScheduleRetry(ctx, d.res.JS, natsx.DeliveryScheduleSubject(task.GetId()),
		natsx.DeliverySubject(task.GetClient(), task.GetLane()), b, traceOnly(m.Headers()),
		workqueue.ScheduleAt(d.cfg.Now(), wait)); err != nil {
		return fmt.Errorf("delivery: retry of %s: %w", task.GetId(), err)
	}
	return m.Ack()
}

// jitter spreads a wait by ±20%.
func (d *Deliverer) jitter(w time.Duration) time.Duration {
	return time.Duration(float64(w) * (0.8 + 0.4*d.cfg.Rand()))
}

// deadLetter keeps the delivery in the DLQ (the format is internal/dlq's)
// with why it ended, then acks it.
func (d *Deliverer) deadLetter(ctx context.Context, m jetstream.Msg, task *cpibv1.Delivery, code, message string, status int) error {
	task.LastError, task.LastStatus = message, int32(status)
	if err := dlq.WriteDelivery(ctx, d.res.JS, task, dlq.Reason{Code: code, Message: message, Status: status}); err != nil {
		return fmt.Errorf("delivery: dead-letter: %w", err)
	}
	d.cfg.Logger.Warn("delivery: given up", "task", task.GetId(), "code", code, "message", message)
	return m.Ack()
}

// errUnchanged aborts a client update that has nothing to change.
var errUnchanged = errors.New("unchanged")

// disable sets a webhook that answered 410 to enabled=false with the
// reason, if it still points at url. It is visible in the admin API and
// PATCH re-enables it.
func (d *Deliverer) disable(ctx context.Context, client, id, url string) error {
	reason := fmt.Sprintf("the receiver answered 410 Gone at %s", d.cfg.Now().UTC().Format(time.RFC3339))
	_, err := d.cat.UpdateClient(ctx, client, func(c *catalog.Client) error {
		for i := range c.Webhooks {
			w := &c.Webhooks[i]
			if w.ID == id && w.URL == url && w.Enabled {
				w.Enabled, w.DisabledReason = false, reason
				return nil
			}
		}
		return errUnchanged
	})
	switch {
	case err == nil:
		d.cfg.Logger.Warn("delivery: webhook disabled after 410", "client", client, "webhook", id)
		return nil
	case errors.Is(err, errUnchanged), errors.Is(err, catalog.ErrNotFound):
		return nil
	}
	return fmt.Errorf("delivery: disable webhook %s/%s: %w", client, id, err)
}
