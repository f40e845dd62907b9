package jobs

import (
	"context"

	cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Cancel ends a queued job of client with status canceled. Its message is
// dropped when a dispatcher pulls it. ErrNotCancelable once it has started.
func (s *Store) Cancel(ctx context.Context, client, id string) (*cpibv1.JobRecord, error) {
	return s.CancelWith(ctx, client, id, "canceled by the client")
}

// CancelWith is Cancel with the error message the record keeps (a deleted
// client's jobs say so).
func (s *Store) CancelWith(ctx context.Context, client, id, message string) (*cpibv1.JobRecord, error) {
	rec, _, err := s.Mutate(ctx, id, func(r *cpibv1.JobRecord) error {
		if r.GetClient() != client {
			return ErrNotFound
		}
		if r.GetStatus() != cpibv1.JobStatus_JOB_STATUS_QUEUED {
			return ErrNotCancelable
		}
		now := timestamppb.New(s.cfg.Now())
		r.Status = cpibv1.JobStatus_JOB_STATUS_CANCELED
		r.UpdatedAt, r.CompletedAt, r.NextAttemptAt = now, now, nil
		r.Error = &cpibv1.JobError{Code: CodeCanceled, Message: message}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return rec, nil
}
