package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

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
	info, err := stream.Info(ctx)
	if err != nil {
		return Page{}, fmt.Errorf("audit: stream info: %w", err)
	}
	last := info.State.LastSeq
	if last == 0 || q.After >= last {
		return Page{Items: []Event{}}, nil
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter(q.Action)}}
	switch {
	case q.After > 0:
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, q.After+1
	case !q.Since.IsZero():
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &q.Since
	}
	cons, err := stream.OrderedConsumer(ctx, cfg)
	if err != nil {
		return Page{}, fmt.Errorf("audit: consumer: %w", err)
	}
	page := Page{Items: []Event{}}
	var seen uint64
	for scanned := 0; scanned < maxScan; {
		batch, err := cons.FetchNoWait(min(256, maxScan-scanned))
		if err != nil {
			return Page{}, fmt.Errorf("audit: fetch: %w", err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			md, err := m.Metadata()
			if err != nil {
				continue
			}
			seen = md.Sequence.Stream
			if len(page.Items) == q.Limit {
				continue // drain the batch; the cursor stays at the last kept item
			}
			var e Event
			if json.Unmarshal(m.Data(), &e) != nil {
				continue
			}
			e.Seq = seen
			if q.match(e) {
				page.Items = append(page.Items, e)
				page.Next = seen
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return Page{}, fmt.Errorf("audit: fetch: %w", err)
		}
		scanned += n
		if len(page.Items) == q.Limit {
			return page, nil
		}
		if n == 0 || seen >= last {
			page.Next = 0
			return page, nil
		}
		page.Next = seen
	}
	return page, nil
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
