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
	// ErrUnavailable: JetStream did not confirm the job; it was not
	// accepted. Alone it means nothing was stored; with ErrUnconfirmed the
	// job may have been stored.
	ErrUnavailable = errors.New("job store unavailable")
	// ErrUnconfirmed comes with ErrUnavailable when JetStream gave no answer
	// to the job message (its acknowledgement was lost with the connection,
	// or none came in time): the job may be stored and may run. A retry with
	// the same Idempotency-Key finds out, and stores it if it is not.
	ErrUnconfirmed = errors.New("the job may have been stored")
)
