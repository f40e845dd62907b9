package deliverylog

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/internal/natsx"
	cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/oklog/ulid/v2"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// ErrInvalid is returned for a client or job ID that cannot name a subject.
var ErrInvalid = errors.New("deliverylog: invalid client or job ID")

// Attempt is one callback attempt as the API shows it.
type Attempt struct {
	// At is when the attempt started (RFC 3339).
	At string `json:"at"`
	// Target is the URL that was called.
	Target string `json:"target"`
	// WebhookID names the client webhook; empty for a Callback-URL.
	WebhookID string `json:"webhook_id,omitempty"`
	// EventID is the webhook-id header; EventType the event's type.
	EventID   string `json:"event_id"`
	EventType string `json:"event_type"`
	// Run is the job run the event is about.
	Run uint32 `json:"run"`
	// Attempt counts from 1 within the delivery; Replay counts DLQ replays.
	Attempt uint32 `json:"attempt"`
	Replay  uint32 `json:"replay,omitempty"`
	// Status is the receiver's HTTP status, absent when it did not answer.
	Status int `json:"status,omitempty"`
	// Outcome is delivered, retry, gone, rejected or refused.
	Outcome string `json:"outcome"`
	// DurationMS is how long the attempt took, in milliseconds.
	DurationMS float64 `json:"duration_ms"`
	// Error says why the attempt failed.
	Error string `json:"error,omitempty"`
	// TraceID is the job's trace, when it was traced.
	TraceID string `json:"trace_id,omitempty"`
}

// Log writes and reads the delivery log.
type Log struct {
	res *natsx.Resources
}

// New returns the log over the broker's ATTEMPTS stream.
func New(res *natsx.Resources) *Log { return &Log{res: res} }

// Record appends one attempt.
func (l *Log) Record(ctx context.Context, a *cpibv1.DeliveryAttempt) error {
	if !catalog.ValidID(a.GetClient()) || !validJob(a.GetJobId()) {
		return ErrInvalid
	}
	b, err := proto.Marshal(a)
	if err != nil {
		return fmt.Errorf("deliverylog: encode: %w", err)
	}
	if _, err := l.res.JS.Publish(ctx, natsx.AttemptSubject(a.GetClient(), a.GetJobId()), b); err != nil {
		return fmt.Errorf("deliverylog: append: %w", err)
	}
	return nil
}

// List returns the logged attempts of a job in order, oldest first. An
// empty client lists the job's attempts whoever owns it (the admin view);
// the partner view passes the caller's client, so nobody sees another
// client's deliveries.
func (l *Log) List(ctx context.Context, client, jobID string) ([]Attempt, error) {
	if (client != "" && !catalog.ValidID(client)) || !validJob(jobID) {
		return nil, ErrInvalid
	}
	filter := natsx.AttemptSubject("*", jobID)
	if client != "" {
		filter = natsx.AttemptSubject(client, jobID)
	}
	max := int(l.res.Layout.MaxAttemptsPerJob)
	if max < 1 {
		max = 100
	}
	items, _, err := natsx.ScanPage(ctx, l.res.Attempts, natsx.Scan{Filter: filter, Limit: max, MaxScan: max},
		func(m jetstream.Msg, _ uint64, _ time.Time) (Attempt, bool) {
			var a cpibv1.DeliveryAttempt
			if proto.Unmarshal(m.Data(), &a) != nil {
				return Attempt{}, false
			}
			return View(&a), true
		})
	if err != nil {
		return nil, fmt.Errorf("deliverylog: list %s: %w", jobID, err)
	}
	return items, nil
}

// View is the API form of a logged attempt.
func View(a *cpibv1.DeliveryAttempt) Attempt {
	return Attempt{
		At:         a.GetAt().AsTime().UTC().Format(time.RFC3339Nano),
		Target:     a.GetUrl(),
		WebhookID:  a.GetWebhookId(),
		EventID:    a.GetEventId(),
		EventType:  a.GetEventType(),
		Run:        a.GetRun(),
		Attempt:    a.GetAttempt(),
		Replay:     a.GetReplay(),
		Status:     int(a.GetStatus()),
		Outcome:    a.GetOutcome(),
		DurationMS: float64(a.GetDuration().AsDuration().Microseconds()) / 1000,
		Error:      a.GetError(),
		TraceID:    a.GetTraceId(),
	}
}

func validJob(id string) bool {
	_, err := ulid.ParseStrict(id)
	return err == nil
}

// ErrNothingToResend is returned by Resend for a job without a logged
// attempt whose event is still kept.
var ErrNothingToResend = errors.New("deliverylog: no callback attempt of this job to resend")

// Resend delivers the job's event again to every target it was delivered
// to (the latest logged attempt per target): one new delivery task per
// target, on that target's lane, as a DLQ replay would make. It returns
// how many deliveries were queued. The client must own the job.
func (l *Log) Resend(ctx context.Context, client, jobID string) (int, error) {
	if !catalog.ValidID(client) || !validJob(jobID) {
		return 0, ErrInvalid
	}
	max := int(l.res.Layout.MaxAttemptsPerJob)
	if max < 1 {
		max = 100
	}
	latest := map[string]*cpibv1.DeliveryAttempt{}
	var order []string
	_, _, err := natsx.ScanPage(ctx, l.res.Attempts, natsx.Scan{Filter: natsx.AttemptSubject(client, jobID), Limit: max, MaxScan: max},
		func(m jetstream.Msg, _ uint64, _ time.Time) (struct{}, bool) {
			a := &cpibv1.DeliveryAttempt{}
			if proto.Unmarshal(m.Data(), a) != nil || a.GetLane() == "" || a.GetEventSeq() == 0 {
				return struct{}{}, false
			}
			if _, ok := latest[a.GetLane()]; !ok {
				order = append(order, a.GetLane())
			}
			latest[a.GetLane()] = a
			return struct{}{}, false
		})
	if err != nil {
		return 0, fmt.Errorf("deliverylog: resend %s: %w", jobID, err)
	}
	n := 0
	for _, lane := range order {
		a := latest[lane]
		ev, err := l.res.Events.GetMsg(ctx, a.GetEventSeq())
		if errors.Is(err, jetstream.ErrMsgNotFound) || (err == nil && ev.Subject != natsx.EventSubject(client)) {
			continue // the event is gone (retention) or is not this client's
		}
		if err != nil {
			return n, fmt.Errorf("deliverylog: read event: %w", err)
		}
		task := &cpibv1.Delivery{
			Id: a.GetTaskId(), EventId: a.GetEventId(), EventType: a.GetEventType(), Client: client,
			Flow: a.GetFlow(), JobId: jobID, Run: a.GetRun(), Lane: lane, WebhookId: a.GetWebhookId(),
			Url: a.GetUrl(), Body: ev.Data, Replays: a.GetReplay() + 1, EventSeq: a.GetEventSeq(),
			CreatedAt: timestamppb.Now(),
		}
		b, err := proto.Marshal(task)
		if err != nil {
			return n, fmt.Errorf("deliverylog: encode task: %w", err)
		}
		msg := &nats.Msg{Subject: natsx.DeliverySubject(client, lane), Data: b}
		if _, err := l.res.JS.PublishMsg(ctx, msg, jetstream.WithMsgID(a.GetTaskId()+".resend."+ulid.Make().String())); err != nil {
			return n, fmt.Errorf("deliverylog: queue resend: %w", err)
		}
		n++
	}
	if n == 0 {
		return 0, ErrNothingToResend
	}
	return n, nil
}

// CPIAttempt is one failed CPI call of a job as the admin API shows it.
type CPIAttempt struct {
	At           string  `json:"at"`
	Run          uint32  `json:"run"`
	Attempt      uint32  `json:"attempt"`
	Status       int     `json:"status,omitempty"`
	Outcome      string  `json:"outcome"`
	Code         string  `json:"code,omitempty"`
	Error        string  `json:"error,omitempty"`
	DurationMS   float64 `json:"duration_ms"`
	CPIMessageID string  `json:"cpi_message_id,omitempty"`
}

// RecordDispatch appends one failed CPI call.
func (l *Log) RecordDispatch(ctx context.Context, a *cpibv1.DispatchAttempt) error {
	if !catalog.ValidID(a.GetClient()) || !validJob(a.GetJobId()) {
		return ErrInvalid
	}
	b, err := proto.Marshal(a)
	if err != nil {
		return fmt.Errorf("deliverylog: encode: %w", err)
	}
	if _, err := l.res.JS.Publish(ctx, natsx.DispatchAttemptSubject(a.GetClient(), a.GetJobId()), b); err != nil {
		return fmt.Errorf("deliverylog: append: %w", err)
	}
	return nil
}

// ListDispatch returns the logged failed CPI calls of a job, oldest first
// (client "" for any owner).
func (l *Log) ListDispatch(ctx context.Context, client, jobID string) ([]CPIAttempt, error) {
	if (client != "" && !catalog.ValidID(client)) || !validJob(jobID) {
		return nil, ErrInvalid
	}
	if client == "" {
		client = "*"
	}
	max := int(l.res.Layout.MaxAttemptsPerJob)
	if max < 1 {
		max = 100
	}
	items, _, err := natsx.ScanPage(ctx, l.res.Attempts, natsx.Scan{Filter: natsx.DispatchAttemptSubject(client, jobID), Limit: max, MaxScan: max},
		func(m jetstream.Msg, _ uint64, _ time.Time) (CPIAttempt, bool) {
			var a cpibv1.DispatchAttempt
			if proto.Unmarshal(m.Data(), &a) != nil {
				return CPIAttempt{}, false
			}
			return CPIAttempt{
				At: a.GetAt().AsTime().UTC().Format(time.RFC3339Nano), Run: a.GetRun(), Attempt: a.GetAttempt(),
				Status: int(a.GetStatus()), Outcome: a.GetOutcome(), Code: a.GetCode(), Error: a.GetError(),
				DurationMS: float64(a.GetDuration().AsDuration().Microseconds()) / 1000, CPIMessageID: a.GetCpiMessageId(),
			}, true
		})
	if err != nil {
		return nil, fmt.Errorf("deliverylog: list %s: %w", jobID, err)
	}
	return items, nil
}
