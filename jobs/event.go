package jobs

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/cpibroker/cpibroker/internal/natsx"
	cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Event types (DESIGN 7.1).
const (
	EventSucceeded = "job.succeeded"
	EventFailed    = "job.failed"
	EventCanceled  = "job.canceled"
)

// MaxInlineEventBody is the largest CPI body carried inside an event as
// data.result.body; larger ones are only linked (data.result.url).
const MaxInlineEventBody = 16 << 10

// Headers of an event message on the EVENTS stream. The body is the event
// JSON itself, byte for byte what webhooks sign and the feed serves.
const (
	HeaderEventID     = "Cpib-Event-Id"
	HeaderEventType   = "Cpib-Event-Type"
	HeaderJobID       = "Cpib-Job-Id"
	HeaderRun         = "Cpib-Run"
	HeaderFlow        = "Cpib-Flow"
	HeaderCallbackURL = "Cpib-Callback-Url"
)

// Event is a job event: the webhook body and an item of GET /v1/events.
type Event struct {
	// ID is the event ID, sent as webhook-id: evt_<job>_<run>.
	ID        string   `json:"id"`
	Type      string   `json:"type"`
	Timestamp string   `json:"timestamp"`
	Data      Resource `json:"data"`
}

// EventID is the ID of the terminal event of a job's run. It contains no
// '.', as Standard Webhooks requires.
func EventID(job string, run uint32) string {
	return "evt_" + job + "_" + strconv.FormatUint(uint64(run), 10)
}

// EventType maps a terminal status to its event type ("" if not terminal).
func EventType(s cpibv1.JobStatus) string {
	switch s {
	case cpibv1.JobStatus_JOB_STATUS_SUCCEEDED:
		return EventSucceeded
	case cpibv1.JobStatus_JOB_STATUS_FAILED:
		return EventFailed
	case cpibv1.JobStatus_JOB_STATUS_CANCELED:
		return EventCanceled
	}
	return ""
}

// NewEvent renders the terminal event of rec. body is CPI's response body
// when it is at most MaxInlineEventBody bytes (nil otherwise, or when there
// is no result); it is carried as UTF-8 text when valid, else base64.
func NewEvent(rec *cpibv1.JobRecord, body []byte) Event {
	r := NewResource(rec, rec.GetCompletedAt().AsTime())
	if r.Result != nil && body != nil && len(body) <= MaxInlineEventBody {
		s, enc := string(body), "utf-8"
		if !utf8.Valid(body) {
			s, enc = base64.StdEncoding.EncodeToString(body), "base64"
		}
		r.Result.Body, r.Result.BodyEncoding = &s, enc
	}
	return Event{
		ID: EventID(rec.GetId(), rec.GetRun()), Type: EventType(rec.GetStatus()),
		Timestamp: stamp(rec.GetCompletedAt()), Data: r,
	}
}

// PublishEvent appends the terminal event of rec's run to the client's
// subject of the EVENTS stream. Nats-Msg-Id is <job>.<run>, so whoever
// ends a run may publish again after a crash (before acking its message)
// without a second event within the duplicate window. trace carries the
// propagation headers (traceparent) on to webhook delivery.
func (s *Store) PublishEvent(ctx context.Context, rec *cpibv1.JobRecord, trace nats.Header) error {
	typ := EventType(rec.GetStatus())
	if typ == "" {
		return fmt.Errorf("jobs: event of %s: status %s is not terminal", rec.GetId(), StatusName(rec.GetStatus()))
	}
	var body []byte
	if res := rec.GetResult(); res != nil && res.GetSize() <= MaxInlineEventBody {
		var err error
		if body, err = s.ResultBody(ctx, rec); err != nil {
			return err
		}
		if body == nil {
			body = []byte{}
		}
	}
	b, err := json.Marshal(NewEvent(rec, body))
	if err != nil {
		return fmt.Errorf("jobs: encode event: %w", err)
	}
	msg := &nats.Msg{Subject: natsx.EventSubject(rec.GetClient()), Data: b, Header: nats.Header{}}
	for k, v := range trace {
		msg.Header[k] = v
	}
	id := EventID(rec.GetId(), rec.GetRun())
	msg.Header.Set(HeaderEventID, id)
	msg.Header.Set(HeaderEventType, typ)
	msg.Header.Set(HeaderJobID, rec.GetId())
	msg.Header.Set(HeaderRun, strconv.FormatUint(uint64(rec.GetRun()), 10))
	msg.Header.Set(HeaderFlow, rec.GetFlow())
	if u := rec.GetCallbackUrl(); u != "" {
		msg.Header.Set(HeaderCallbackURL, u)
	}
	if _, err := s.await(ctx, msg, jetstream.WithMsgID(rec.GetId()+"."+strconv.FormatUint(uint64(rec.GetRun()), 10))); err != nil {
		return fmt.Errorf("%w: publish event %s: %w", ErrUnavailable, id, err)
	}
	return nil
}
