package delivery

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/delivery/webhook"
	"github.com/cpibroker/cpibroker/internal/dlq"
	"github.com/cpibroker/cpibroker/internal/natsx"
	"github.com/cpibroker/cpibroker/internal/ssrf"
	"github.com/cpibroker/cpibroker/internal/workqueue"
	cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"
)

// verdict is what an attempt's answer means for the delivery.
type verdict int

const (
	delivered verdict = iota
	// retry: 408, 429, 5xx, timeouts, network errors, an open breaker.
	retry
	// gone: 410; a webhook is disabled.
	gone
	// rejected: 3xx and other 4xx; not retried.
	rejected
	// refused: the SSRF guard refused the target's address.
	refused
)

// outcome of one attempt.
type outcome struct {
	v          verdict
	status     int
	err        string
	retryAfter time.Duration
}

// deliver makes one delivery attempt of m and settles the task: acked when
// delivered or given up (DLQ), rescheduled when it is to be retried.
func (d *Deliverer) deliver(ctx context.Context, l *lane, m jetstream.Msg) {
	log := d.cfg.Logger
	task := &cpibv1.Delivery{}
	if err := proto.Unmarshal(m.Data(), task); err != nil || task.GetId() == "" {
		log.Error("delivery: undecodable task dropped", "lane", l.name, "err", err)
		_ = m.Ack()
		return
	}
	ctx = d.cfg.Propagator.Extract(ctx, natsx.HeaderCarrier(m.Headers()))
	ctx, span := d.tracer.Start(ctx, "deliver "+task.GetEventType(), trace.WithAttributes(
		attribute.String("job.id", task.GetJobId()), attribute.String("client.id", task.GetClient()),
		attribute.String("flow.id", task.GetFlow()), attribute.Int("run", int(task.GetRun())),
		attribute.Int("attempt", int(task.GetAttempts())+1), attribute.String("webhook.lane", task.GetLane()),
	))
	defer span.End()
	if err := d.settle(ctx, l, m, task, span); err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		log.WarnContext(ctx, "delivery: task not settled; JetStream will redeliver it", "task", task.GetId(),
			"job_id", task.GetJobId(), "client_id", task.GetClient(), "flow_id", task.GetFlow(), "err", err)
		_ = m.NakWithDelay(time.Second)
	}
}

// settle decides and records the fate of task. It returns an error only
// when JetStream or the catalog failed, so the task is redelivered.
func (d *Deliverer) settle(ctx context.Context, l *lane, m jetstream.Msg, task *cpibv1.Delivery, span trace.Span) error {
	cl, ok := d.cat.Client(task.GetClient())
	if !ok {
		span.AddEvent("client removed; delivery dropped")
		d.cfg.Observer.Callback(ctx, "dropped")
		return m.Ack()
	}
	url := task.GetUrl()
	if id := task.GetWebhookId(); id != "" {
		w, ok := findWebhook(cl, id)
		switch {
		case !ok:
			span.AddEvent("webhook removed; delivery dropped")
			d.cfg.Observer.Callback(ctx, "dropped")
			return m.Ack()
		case !w.Enabled:
			return d.deadLetter(ctx, m, task, dlq.CodeWebhookDisabled, "the webhook is disabled: "+w.DisabledReason, 0)
		}
		url = w.URL
	}
	var out outcome
	started := d.cfg.Now()
	done, err := d.breakers.get(l.name).Allow()
	if err != nil {
		out = outcome{v: retry, err: "circuit breaker open for this endpoint: " + err.Error()}
		span.AddEvent("breaker open")
	} else {
		out = d.send(ctx, url, task, webhook.Secrets(cl, d.cfg.Now()))
		if out.v == retry {
			done(errors.New(out.err))
		} else {
			done(nil)
		}
	}
	span.SetAttributes(attribute.Int("http.response.status_code", out.status))
	d.cfg.Observer.Callback(ctx, outcomeName(out.v))
	d.logAttempt(ctx, l, task, url, started, out)
	switch out.v {
	case delivered:
		return m.Ack()
	case gone:
		if task.GetWebhookId() != "" {
			if err := d.disable(ctx, task.GetClient(), task.GetWebhookId(), url); err != nil {
				return err
			}
		}
		return d.deadLetter(ctx, m, task, dlq.CodeGone, out.err, out.status)
	case rejected:
		return d.deadLetter(ctx, m, task, dlq.CodeRejected, out.err, out.status)
	case refused:
		return d.deadLetter(ctx, m, task, dlq.CodeAddressRefused, out.err, 0)
	}
	span.SetStatus(codes.Error, out.err)
	return d.reschedule(ctx, m, task, out)
}

func findWebhook(c catalog.Client, id string) (catalog.Webhook, bool) {
	for _, w := range c.Webhooks {
		if w.ID == id {
			return w, true
		}
	}
	return catalog.Webhook{}, false
}

// send POSTs the event, signed, and classifies the answer.
func (d *Deliverer) send(ctx context.Context, url string, task *cpibv1.Delivery, secrets []string) outcome {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	now := d.cfg.Now()
	sig, err := webhook.Signature(secrets, task.GetEventId(), now.Unix(), task.GetBody())
	if err != nil {
		return outcome{v: rejected, err: "cannot sign: " + err.Error()}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(task.GetBody()))
	if err != nil {
		return outcome{v: rejected, err: "bad target URL: " + err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", d.cfg.UserAgent)
	req.Header[webhook.HeaderID] = []string{task.GetEventId()}
	req.Header[webhook.HeaderTimestamp] = []string{strconv.FormatInt(now.Unix(), 10)}
	req.Header[webhook.HeaderSignature] = []string{sig}
	resp, err := d.http.Do(req)
	if err != nil {
		if errors.Is(err, ssrf.ErrRefused) {
			return outcome{v: refused, err: err.Error()}
		}
		return outcome{v: retry, err: err.Error()}
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, d.cfg.MaxResponseBody))
	msg := fmt.Sprintf("receiver answered %d", resp.StatusCode)
	if s := strings.TrimSpace(strings.ToValidUTF8(string(snippet), "")); s != "" {
		msg += ": " + s
	}
	out := outcome{status: resp.StatusCode, err: msg}
	switch s := resp.StatusCode; {
	case s >= 200 && s < 300:
		out.v = delivered
	case s == http.StatusGone:
		out.v = gone
	case s == http.StatusTooManyRequests || s == http.StatusRequestTimeout || s >= 500:
		out.v = retry
		out.retryAfter = workqueue.RetryAfter(resp.Header.Get("Retry-After"), now)
	default:
		out.v = rejected
	}
	return out
}
