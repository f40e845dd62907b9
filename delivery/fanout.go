package delivery

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/cpibroker/cpibroker/delivery/webhook"
	"github.com/cpibroker/cpibroker/internal/natsx"
	"github.com/cpibroker/cpibroker/internal/workqueue"
	"github.com/cpibroker/cpibroker/jobs"
	cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// fanout turns events into delivery tasks until ctx ends.
func (d *Deliverer) fanout(ctx context.Context, cons jetstream.Consumer) error {
	var backoff workqueue.Backoff
	for ctx.Err() == nil {
		// The pull ends with ctx: a shutdown does not wait out IdleWait.
		fctx, cancel := context.WithTimeout(ctx, d.cfg.IdleWait)
		batch, err := cons.Fetch(64, jetstream.FetchContext(fctx))
		if err == nil {
			for m := range batch.Messages() {
				if err := d.fanoutOne(ctx, m); err != nil {
					if ctx.Err() != nil {
						// Shutting down: the event goes back to JetStream
						// for the next process; not a failure.
						d.cfg.Logger.Debug("delivery: fan-out stopped by shutdown; the event is redelivered", "err", err)
						_ = m.NakWithDelay(time.Second)
						continue
					}
					d.cfg.Logger.Warn("delivery: fan-out failed; the event is redelivered", "err", err)
					_ = m.NakWithDelay(time.Second)
				}
			}
			err = batch.Error()
		}
		cancel()
		if err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, nats.ErrTimeout) &&
			!errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			d.cfg.Logger.Debug("delivery: fan-out pull failed", "err", err)
			backoff.Wait(ctx)
			continue
		}
		backoff.Reset()
	}
	return nil
}

// fanoutOne publishes one task per target of an event, then acks it. Task
// IDs are the Nats-Msg-Id, so a redelivered event makes no second task.
func (d *Deliverer) fanoutOne(ctx context.Context, m jetstream.Msg) error {
	h := m.Headers()
	client, isEvent := natsx.ParseEventSubject(m.Subject())
	typ, eventID := h.Get(jobs.HeaderEventType), h.Get(jobs.HeaderEventID)
	meta, err := m.Metadata()
	if err != nil || !isEvent || eventID == "" || typ == "" {
		d.cfg.Logger.Error("delivery: event without metadata or headers; skipped", "subject", m.Subject())
		return m.Ack()
	}
	run, _ := strconv.ParseUint(h.Get(jobs.HeaderRun), 10, 32)
	base := &cpibv1.Delivery{
		EventId: eventID, EventType: typ, Client: client, Flow: h.Get(jobs.HeaderFlow),
		JobId: h.Get(jobs.HeaderJobID), Run: uint32(run), Body: m.Data(),
		CreatedAt: timestamppb.New(d.cfg.Now()), EventSeq: meta.Sequence.Stream,
	}
	for _, t := range d.targets(client, typ, h.Get(jobs.HeaderCallbackURL)) {
		task := proto.CloneOf(base)
		task.Lane, task.WebhookId, task.Url = t.lane, t.webhookID, t.url
		task.Id = webhook.TaskID(eventID, t.lane)
		if err := d.ensureLane(ctx, client, t.lane); err != nil {
			return err
		}
		if err := d.publishTask(ctx, task, h, jetstream.WithMsgID(task.GetId())); err != nil {
			return err
		}
	}
	return m.Ack()
}

// target is one place an event goes.
type target struct{ lane, webhookID, url string }

// targets are the client's enabled webhooks subscribed to typ, and the
// job's Callback-URL when it still starts with one of the client's prefixes.
func (d *Deliverer) targets(client, typ, callbackURL string) []target {
	c, ok := d.cat.Client(client)
	if !ok {
		return nil
	}
	var out []target
	for _, w := range c.Webhooks {
		if w.Enabled && slices.Contains(w.Events, typ) {
			out = append(out, target{lane: webhook.WebhookLane(w.ID), webhookID: w.ID, url: w.URL})
		}
	}
	if callbackURL != "" {
		lane, err := webhook.CallbackLane(callbackURL)
		switch {
		case err != nil:
			d.cfg.Logger.Warn("delivery: bad Callback-URL skipped", "client", client, "err", err)
		case !webhook.AllowedCallback(callbackURL, c.CallbackPrefixes):
			d.cfg.Logger.Warn("delivery: Callback-URL no longer within the client's callback prefixes; skipped", "client", client)
		default:
			out = append(out, target{lane: lane, url: callbackURL})
		}
	}
	return out
}

// publishTask writes a task to its lane's subject.
func (d *Deliverer) publishTask(ctx context.Context, task *cpibv1.Delivery, trace nats.Header, opts ...jetstream.PublishOpt) error {
	b, err := proto.Marshal(task)
	if err != nil {
		return fmt.Errorf("delivery: encode task: %w", err)
	}
	msg := &nats.Msg{Subject: natsx.DeliverySubject(task.GetClient(), task.GetLane()), Data: b, Header: traceOnly(trace)}
	if _, err := d.res.JS.PublishMsg(ctx, msg, opts...); err != nil {
		return fmt.Errorf("delivery: publish task %s: %w", task.GetId(), err)
	}
	return nil
}

// traceOnly copies the propagation headers of h.
func traceOnly(h nats.Header) nats.Header {
	out := nats.Header{}
	for _, k := range []string{"traceparent", "tracestate", "baggage"} {
		if v := h.Values(k); len(v) > 0 {
			out[k] = v
		}
	}
	return out
}
