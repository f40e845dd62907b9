package dlq

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cpibroker/cpibroker/internal/natsx"
	cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
)

// Kinds of entries.
const (
	KindJob      = "job"
	KindCallback = "callback"
)

// Entry is one DLQ message as the admin API shows it. Absent fields are
// omitted.
type Entry struct {
	// ID is the DLQ stream sequence: the handle for replay.
	ID         string    `json:"id"`
	Kind       string    `json:"kind"`
	Client     string    `json:"client"`
	Flow       string    `json:"flow"`
	JobID      string    `json:"job_id"`
	Run        uint32    `json:"run,omitempty"`
	Code       string    `json:"code"`
	Message    string    `json:"message,omitempty"`
	StatusCode int       `json:"status_code,omitempty"`
	Time       time.Time `json:"time"`
	Attempts   uint32    `json:"attempts,omitempty"`
	// Delivery fields.
	EventID   string `json:"event_id,omitempty"`
	EventType string `json:"event_type,omitempty"`
	WebhookID string `json:"webhook_id,omitempty"`
	URL       string `json:"url,omitempty"`
	Replays   uint32 `json:"replays,omitempty"`

	seq  uint64
	task *cpibv1.Delivery
	job  *cpibv1.Job
}

// Query selects entries. Zero fields do not filter.
type Query struct {
	// Client and Flow are IDs; Kind is KindJob or KindCallback; Code is an
	// error code.
	Client, Flow, Kind, Code string
	// JobID selects the entries of one job (its job entries and its
	// callback deliveries).
	JobID string
	// Since and Until bound the time the entry was kept (inclusive,
	// exclusive).
	Since, Until time.Time
	// After is a cursor: only entries with a larger sequence.
	After uint64
	// Limit is the page size, 1..1000. Default 100.
	Limit int
}

// Page is one page of entries, oldest first; Next is the cursor of the
// next page, 0 at the end.
type Page struct {
	Items []Entry
	Next  uint64
}

// maxScan bounds the messages one List looks at; the cursor continues.
const maxScan = 10_000

// List returns the entries of the DLQ stream that match q.
func List(ctx context.Context, stream jetstream.Stream, q Query) (Page, error) {
	if q.Limit <= 0 {
		q.Limit = 100
	}
	q.Limit = min(q.Limit, 1000)
	items, next, err := natsx.ScanPage(ctx, stream,
		natsx.Scan{Filter: q.subject(), After: q.After, Since: q.Since, Limit: q.Limit, MaxScan: maxScan},
		func(m jetstream.Msg, seq uint64, stored time.Time) (Entry, bool) {
			e, ok := decode(m.Subject(), m.Headers(), m.Data(), seq, stored)
			return e, ok && q.match(e)
		})
	if err != nil {
		return Page{}, fmt.Errorf("dlq: %w", err)
	}
	return Page{Items: items, Next: next}, nil
}

// subject narrows the scan by client, flow and kind.
func (q Query) subject() string {
	c, f := "*", "*"
	if q.Client != "" {
		c = q.Client
	}
	if q.Flow != "" {
		f = q.Flow
	}
	switch q.Kind {
	case KindJob:
		return natsx.DLQSubject(c, f)
	case KindCallback:
		return natsx.CallbackDLQSubject(c, f)
	}
	// Without a kind, job entries (cpib.dlq.<c>.<f>) and callback entries
	// (one token more) are both wanted: no single filter with the flow
	// fixed covers both, so the flow is left to match.
	return natsx.DLQSubject(c, ">")
}

func (q Query) match(e Entry) bool {
	switch {
	case q.Kind != "" && e.Kind != q.Kind:
		return false
	case q.Client != "" && e.Client != q.Client:
		return false
	case q.Flow != "" && e.Flow != q.Flow:
		return false
	case q.Code != "" && e.Code != q.Code:
		return false
	case q.JobID != "" && e.JobID != q.JobID:
		return false
	case !q.Since.IsZero() && e.Time.Before(q.Since):
		return false
	case !q.Until.IsZero() && !e.Time.Before(q.Until):
		return false
	}
	return true
}

// headers is what decode reads of a message's headers.
type headers interface{ Get(string) string }

// decode turns a DLQ message into an entry.
func decode(subject string, h headers, data []byte, seq uint64, at time.Time) (Entry, bool) {
	parts := strings.Split(subject, ".")
	if len(parts) < 4 {
		return Entry{}, false
	}
	status, _ := strconv.Atoi(h.Get(HeaderStatus))
	e := Entry{
		ID: strconv.FormatUint(seq, 10), seq: seq, Client: parts[2], Flow: parts[3],
		Code: h.Get(HeaderCode), Message: h.Get(HeaderMessage),
		StatusCode: status, Time: at.UTC(),
	}
	switch {
	case len(parts) == 5 && parts[4] == "callback":
		t := &cpibv1.Delivery{}
		if proto.Unmarshal(data, t) != nil {
			return Entry{}, false
		}
		e.Kind, e.task = KindCallback, t
		e.JobID, e.Run, e.Attempts, e.Replays = t.GetJobId(), t.GetRun(), t.GetAttempts(), t.GetReplays()
		e.EventID, e.EventType, e.WebhookID, e.URL = t.GetEventId(), t.GetEventType(), t.GetWebhookId(), t.GetUrl()
	case len(parts) == 4:
		j := &cpibv1.Job{}
		if proto.Unmarshal(data, j) != nil {
			e.Kind = KindJob
			return e, true // undecodable job message: still listed
		}
		e.Kind, e.JobID, e.Run, e.Attempts, e.job = KindJob, j.GetId(), j.GetRun(), j.GetAttempts(), j
	default:
		return Entry{}, false
	}
	return e, true
}
