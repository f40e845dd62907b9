package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cpibroker/cpibroker/internal/natsx"
	cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// EventPage is one page of a client's event feed (DESIGN 2.7): the event
// bodies, oldest first, and the cursor after the last one (the cursor
// given when the page is empty).
type EventPage struct {
	Items []json.RawMessage
	Next  uint64
}

// Events reads up to limit events of client after the cursor (an EVENTS
// stream sequence, so it survives restarts), one direct get each ("next
// message on this subject from sequence n"), so nothing is created on the
// server per read.
func (s *Store) Events(ctx context.Context, client string, after uint64, limit int) (EventPage, error) {
	subject := natsx.EventSubject(client)
	page := EventPage{Items: []json.RawMessage{}, Next: after}
	for next := after + 1; len(page.Items) < limit; {
		m, err := s.res.Events.GetMsg(ctx, next, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			return EventPage{}, fmt.Errorf("jobs: read events: %w", err)
		}
		page.Items = append(page.Items, json.RawMessage(m.Data))
		page.Next, next = m.Sequence, m.Sequence+1
	}
	return page, nil
}

// LastEventCursor is the cursor of the newest event of any client: no
// cursor handed out is larger.
func (s *Store) LastEventCursor(ctx context.Context) (uint64, error) {
	info, err := s.res.Events.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("jobs: event stream: %w", err)
	}
	return info.State.LastSeq, nil
}

// NotifyEvents signals wake (without blocking) at each new event of
// client until stop is called. It returns once the server has the
// subscription, so an event stored after it returns always signals.
func (s *Store) NotifyEvents(client string, wake chan<- struct{}) (stop func(), err error) {
	nc := s.res.JS.Conn()
	sub, err := nc.Subscribe(natsx.EventSubject(client), func(*nats.Msg) {
		select {
		case wake <- struct{}{}:
		default:
		}
	})
	if err != nil {
		return nil, fmt.Errorf("jobs: follow events: %w", err)
	}
	// SUB is sent asynchronously: until the server has it, an event
	// stored meanwhile would not signal.
	if err := nc.FlushTimeout(5 * time.Second); err != nil {
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("jobs: follow events: %w", err)
	}
	return func() { _ = sub.Unsubscribe() }, nil
}

// TraceID finds the trace ID of an ended job in the traceparent of its
// first terminal event, reading at most maxScan of the client's events
// since the job was created; "" for a job not ended yet, never traced, or
// not found within the scan.
func (s *Store) TraceID(ctx context.Context, rec *cpibv1.JobRecord, maxScan int) string {
	if !Terminal(rec.GetStatus()) {
		return ""
	}
	id, found := rec.GetId(), ""
	_, _, err := natsx.ScanPage(ctx, s.res.Events, natsx.Scan{
		Filter: natsx.EventSubject(rec.GetClient()), Since: rec.GetCreatedAt().AsTime(), Limit: 1, MaxScan: maxScan,
	}, func(m jetstream.Msg, _ uint64, _ time.Time) (struct{}, bool) {
		if m.Headers().Get(HeaderJobID) != id {
			return struct{}{}, false
		}
		if parts := strings.Split(m.Headers().Get("traceparent"), "-"); len(parts) == 4 && len(parts[1]) == 32 {
			found = parts[1]
		}
		return struct{}{}, true // the first event of the job ends the scan
	})
	if err != nil {
		return ""
	}
	return found
}
