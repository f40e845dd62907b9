package jobs

import (
	"context"
	"errors"

	cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"
	"github.com/nats-io/nats.go"
)

// Cancel ends a queued job of client with status canceled, publishes its
// job.canceled event (trace: propagation headers) and counts it. Its
// message is dropped when a dispatcher pulls it. ErrNotCancelable once it
// has started; ErrNotFound for another client's job. If only the event
// failed, the record is returned with ErrEventPending: the dispatcher that
// drops the message publishes it.
func (s *Store) Cancel(ctx context.Context, client, id string, trace nats.Header) (*cpibv1.JobRecord, error) {
	return s.CancelWith(ctx, client, id, "canceled by the client", trace)
}

// CancelWith is Cancel with the error message the record keeps (a deleted
// client's jobs say so).
func (s *Store) CancelWith(ctx context.Context, client, id, message string, trace nats.Header) (*cpibv1.JobRecord, error) {
	rec, _, err := s.ApplyLatest(ctx, id, Cancel(message), trace, func(r *cpibv1.JobRecord) error {
		if r.GetClient() != client {
			return ErrNotFound
		}
		return nil
	})
	if err != nil && !errors.Is(err, ErrEventPending) {
		return nil, err
	}
	return rec, err
}
