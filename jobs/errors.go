package jobs

import "errors"

// Expected outcomes; the ingress maps each to one HTTP error.
var (
	// ErrNotFound: no record with that ID (or not the caller's).
	ErrNotFound = errors.New("job not found")
	// ErrNotCancelable: the job is no longer queued.
	ErrNotCancelable = errors.New("job is not cancelable")
	// ErrConflict: the record changed between read and compare-and-set.
	ErrConflict = errors.New("job record changed concurrently")
	// ErrIdempotencyKeyReused: same key, different request.
	ErrIdempotencyKeyReused = errors.New("idempotency key reused with a different request")
	// ErrIdempotencyKeyInUse: same key while the first request is in flight.
	ErrIdempotencyKeyInUse = errors.New("idempotency key in use by a request in flight")
	// ErrUnavailable: JetStream did not store the job; nothing was accepted.
	ErrUnavailable = errors.New("job store unavailable")
)
