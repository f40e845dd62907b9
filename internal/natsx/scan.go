package natsx

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Scan describes one page read of a limits stream (AUDIT, DLQ): the
// messages on Filter after sequence After (or, without After, from Since),
// at most Limit kept, at most MaxScan looked at.
type Scan struct {
	Filter  string
	After   uint64
	Since   time.Time
	Limit   int
	MaxScan int
}

// ScanPage reads the stream in order with an ordered consumer (no durable
// state on the server) and keeps what decode accepts. next is the cursor to
// resume from: the last kept item's sequence when the page is full, the
// last sequence looked at when MaxScan ran out, and 0 at the end of the
// stream.
func ScanPage[T any](ctx context.Context, stream jetstream.Stream, s Scan,
	decode func(m jetstream.Msg, seq uint64, stored time.Time) (T, bool)) (items []T, next uint64, err error) {
	items = []T{}
	info, err := stream.Info(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("stream info: %w", err)
	}
	last := info.State.LastSeq
	if last == 0 || s.After >= last {
		return items, 0, nil
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{s.Filter}}
	switch {
	case s.After > 0:
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, s.After+1
	case !s.Since.IsZero():
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &s.Since
	}
	cons, err := stream.OrderedConsumer(ctx, cfg)
	if err != nil {
		return nil, 0, fmt.Errorf("consumer: %w", err)
	}
	// Delete the consumer when done: left to its inactivity threshold,
	// quick successive pages would pile up consumers until the stream's
	// consumer limit refuses every further read.
	defer func() {
		if info := cons.CachedInfo(); info != nil && info.Name != "" {
			_ = stream.DeleteConsumer(context.WithoutCancel(ctx), info.Name)
		}
	}()
	var seen, lastKept uint64
	for scanned := 0; scanned < s.MaxScan; {
		batch, err := cons.FetchNoWait(min(256, s.MaxScan-scanned))
		if err != nil {
			return nil, 0, fmt.Errorf("fetch: %w", err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			md, err := m.Metadata()
			if err != nil {
				continue
			}
			seen = md.Sequence.Stream
			if len(items) == s.Limit {
				continue // drain the batch; the cursor stays at the last kept item
			}
			if v, ok := decode(m, seen, md.Timestamp); ok {
				items = append(items, v)
				lastKept = seen
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return nil, 0, fmt.Errorf("fetch: %w", err)
		}
		scanned += n
		switch {
		case len(items) == s.Limit:
			return items, lastKept, nil
		case n == 0 || seen >= last:
			return items, 0, nil
		}
	}
	return items, seen, nil
}
