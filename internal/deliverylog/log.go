package deliverylog

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/internal/natsx"
	cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/oklog/ulid/v2"
	"google.golang.org/protobuf/proto"
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
