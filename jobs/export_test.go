package jobs

import (
	"context"

	cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"
)

// Mutate lets tests put a record in a given state (compare-and-set with
// retries; fn aborts with an error).
func (s *Store) Mutate(ctx context.Context, id string, fn func(*cpibv1.JobRecord) error) (*cpibv1.JobRecord, uint64, error) {
	return s.mutate(ctx, id, fn)
}

// Put and Create are the raw record writes, for tests.
func (s *Store) Put(ctx context.Context, rec *cpibv1.JobRecord, rev uint64) (uint64, error) {
	return s.put(ctx, rec, rev)
}

// Create writes a record that must not exist yet, for tests.
func (s *Store) Create(ctx context.Context, rec *cpibv1.JobRecord) (uint64, error) {
	return s.create(ctx, rec)
}
