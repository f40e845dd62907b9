package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/cpibroker/cpibroker/internal/natsx"
	"github.com/nats-io/nats.go/jetstream"
)

// Query selects events. Zero fields do not filter.
type Query struct {
	// Actor and Action must match exactly. Action may end in ".>" or be a
	// prefix such as "client" to select a family ("client.created", ...).
	Actor, Action string
	// Since and Until bound Time (inclusive, exclusive).
	Since, Until time.Time
	// After is a cursor: only events with a larger stream sequence.
	After uint64
	// Limit is the page size, 1..1000. Default 100.
	Limit int
}

// Page is one page of events, oldest first. Next is the cursor of the
// next page, 0 when the end of the stream was reached.
type Page struct {
	Items []Event
	Next  uint64
}

// maxScan bounds how many messages one Read looks at, so a filter that
// matches nothing cannot scan the whole stream in one request; the cursor
// continues where the scan stopped.
const maxScan = 10_000

// Read returns the page of events that match q, reading the AUDIT stream
// with an ordered consumer (no durable state on the server).
func Read(ctx context.Context, stream jetstream.Stream, q Query) (Page, error) {
	if q.Limit <= 0 {
		q.Limit = 100
	}
	q.Limit = min(q.Limit, 1000)
	items, next, err := natsx.ScanPage(ctx, stream,
		natsx.Scan{Filter: filter(q.Action), After: q.After, Since: q.Since, Limit: q.Limit, MaxScan: maxScan},
		func(m jetstream.Msg, seq uint64, _ time.Time) (Event, bool) {
			var e Event
			if json.Unmarshal(m.Data(), &e) != nil {
				return e, false
			}
			e.Seq = seq
			return e, q.match(e)
		})
	if err != nil {
		return Page{}, fmt.Errorf("audit: %w", err)
	}
	return Page{Items: items, Next: next}, nil
}

func filter(action string) string {
	switch {
	case action == "":
		return subjectPrefix + ">"
	case len(action) > 2 && action[len(action)-2:] == ".>":
		return subjectPrefix + action
	case !containsDot(action):
		return subjectPrefix + action + ".>"
	}
	return subjectPrefix + action
}

func containsDot(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			return true
		}
	}
	return false
}

func (q Query) match(e Event) bool {
	switch {
	case q.Actor != "" && e.Actor != q.Actor:
		return false
	case !q.Since.IsZero() && e.Time.Before(q.Since):
		return false
	case !q.Until.IsZero() && !e.Time.Before(q.Until):
		return false
	}
	return true
}
