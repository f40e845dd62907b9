package state

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ByAdmin is the By of a breaker record an operator's reset wrote.
const ByAdmin = "admin"

// Store is the one writer of the dispatch state: breaker records in
// cpib-breakers and waiting markers in cpib-quota. Dispatchers write
// through it as they trip, close and wait; the admin API resets a breaker
// through it.
type Store struct {
	breakersKV, quotaKV jetstream.KeyValue
}

// NewStore returns the writer over cpib-breakers and cpib-quota.
func NewStore(breakersKV, quotaKV jetstream.KeyValue) *Store {
	return &Store{breakersKV: breakersKV, quotaKV: quotaKV}
}

// PutBreaker shares a breaker record with every process.
func (s *Store) PutBreaker(ctx context.Context, b Breaker) error {
	if _, err := s.breakersKV.Put(ctx, b.Flow, b.Encode()); err != nil {
		return fmt.Errorf("state: breaker of %s: %w", b.Flow, err)
	}
	return nil
}

// Reset replaces a flow's breaker with a closed one written by an
// operator: every dispatcher that follows the records replaces its own
// breaker of the flow with a fresh closed one, whatever its state.
func (s *Store) Reset(ctx context.Context, flow string, now time.Time) (Breaker, error) {
	b := Breaker{Flow: flow, State: StateClosed, Since: now, By: ByAdmin, Reset: true}
	return b, s.PutBreaker(ctx, b)
}

// PutWait writes the waiting marker of a (client, flow) pair.
func (s *Store) PutWait(ctx context.Context, client, flow string, w Wait) error {
	if _, err := s.quotaKV.Put(ctx, WaitKey(client, flow), w.Encode()); err != nil {
		return fmt.Errorf("state: waiting marker of %s/%s: %w", client, flow, err)
	}
	return nil
}

// ClearWait removes the waiting marker of a (client, flow) pair.
func (s *Store) ClearWait(ctx context.Context, client, flow string) error {
	if err := s.quotaKV.Delete(ctx, WaitKey(client, flow)); err != nil {
		return fmt.Errorf("state: waiting marker of %s/%s: %w", client, flow, err)
	}
	return nil
}
