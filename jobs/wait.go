package jobs

import (
	"context"
	"fmt"

	cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
)

// WaitTerminal watches a record until its run ends or ctx is done, and
// returns the latest record seen; when no record was written meanwhile,
// the job as Get reads it (its queued message), nil if none. It never
// returns ctx's error: a timeout simply yields the current state.
func (s *Store) WaitTerminal(ctx context.Context, id string) (*cpibv1.JobRecord, error) {
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	w, err := s.res.Records.Watch(wctx, id)
	if err != nil {
		return nil, fmt.Errorf("%w: watch record: %w", ErrUnavailable, err)
	}
	defer func() { _ = w.Stop() }()
	var last *cpibv1.JobRecord
	for {
		select {
		case <-ctx.Done():
			if last == nil {
				rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.StoreTimeout)
				defer cancel()
				if rec, _, err := s.Get(rctx, id); err == nil {
					return rec, nil
				}
			}
			return last, nil
		case e, ok := <-w.Updates():
			if !ok {
				return last, nil
			}
			if e == nil || e.Operation() != jetstream.KeyValuePut {
				continue
			}
			rec := &cpibv1.JobRecord{}
			if err := proto.Unmarshal(e.Value(), rec); err != nil {
				return last, fmt.Errorf("jobs: decode record %s: %w", id, err)
			}
			last = rec
			if Terminal(rec.GetStatus()) {
				return rec, nil
			}
		}
	}
}
