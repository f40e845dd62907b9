package jobs

import (
	"context"
	"fmt"

	cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"
)

// Payload returns a job's request body, from the message or the object store.
func (s *Store) Payload(ctx context.Context, job *cpibv1.Job) ([]byte, error) {
	if job.GetPayloadObject() == "" {
		return job.GetPayload(), nil
	}
	b, err := s.res.Payloads.GetBytes(ctx, job.GetPayloadObject())
	if err != nil {
		return nil, fmt.Errorf("%w: payload %s: %w", ErrUnavailable, job.GetPayloadObject(), err)
	}
	return b, nil
}

// ResultBody returns CPI's response body of a record's run.
func (s *Store) ResultBody(ctx context.Context, rec *cpibv1.JobRecord) ([]byte, error) {
	res := rec.GetResult()
	if res.GetBodyObject() == "" {
		return res.GetBody(), nil
	}
	b, err := s.res.Payloads.GetBytes(ctx, res.GetBodyObject())
	if err != nil {
		return nil, fmt.Errorf("%w: result %s: %w", ErrUnavailable, res.GetBodyObject(), err)
	}
	return b, nil
}

// StoreResultBody keeps a large result body in the object store and
// returns its name, or "" when body fits in the record.
func (s *Store) StoreResultBody(ctx context.Context, id string, run uint32, body []byte) (string, error) {
	if len(body) <= s.cfg.InlineMax {
		return "", nil
	}
	name := ResultObject(id, run)
	if _, err := s.res.Payloads.PutBytes(ctx, name, body); err != nil {
		return "", fmt.Errorf("%w: store result: %w", ErrUnavailable, err)
	}
	return name, nil
}
