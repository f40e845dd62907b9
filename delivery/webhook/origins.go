package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// OriginIdle is how long a Callback-URL origin counts against its client's
// bound after its last use; OriginTouch is how often a use in progress is
// written down again.
const (
	OriginIdle  = time.Hour
	OriginTouch = time.Minute
)

// Errors of AdmitOrigin.
var (
	// ErrTooManyOrigins: the client already uses its limit of distinct
	// origins (a *TooManyOriginsError says how many).
	ErrTooManyOrigins = errors.New("too many callback origins")
	// ErrOriginsUnavailable: the origins could not be read or written.
	ErrOriginsUnavailable = errors.New("callback origins unavailable")
	// ErrOriginsContended: concurrent writers won every try; retry.
	ErrOriginsContended = errors.New("callback origins contended")
)

// TooManyOriginsError is ErrTooManyOrigins with the count in use.
type TooManyOriginsError struct{ InUse int }

func (e *TooManyOriginsError) Error() string {
	return fmt.Sprintf("this client already uses %d distinct Callback-URL origins", e.InUse)
}

// Unwrap makes errors.Is(err, ErrTooManyOrigins) hold.
func (e *TooManyOriginsError) Unwrap() error { return ErrTooManyOrigins }

// AdmitOrigin counts a callback lane (CallbackLane) against the client's
// bound on distinct callback targets: each origin gets its own delivery
// consumer and lane, which all clients share the DELIVERIES stream's
// consumer cap and the deliverers' memory for. The set of a client's
// origins is one key of the cpib-callbacks bucket, updated with
// compare-and-set, so every ingress enforces the same bound. An origin
// unused for OriginIdle frees its place.
func AdmitOrigin(ctx context.Context, kv jetstream.KeyValue, client, lane string, limit int, now time.Time) error {
	for range 8 {
		origins := map[string]int64{} // lane -> last use, Unix seconds
		var rev uint64
		e, err := kv.Get(ctx, client)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return fmt.Errorf("%w: read: %w", ErrOriginsUnavailable, err)
		default:
			rev = e.Revision()
			_ = json.Unmarshal(e.Value(), &origins)
		}
		if last, ok := origins[lane]; ok && now.Sub(time.Unix(last, 0)) < OriginTouch {
			return nil
		}
		for l, last := range origins {
			if now.Sub(time.Unix(last, 0)) > OriginIdle {
				delete(origins, l)
			}
		}
		if _, ok := origins[lane]; !ok && len(origins) >= limit {
			return &TooManyOriginsError{InUse: len(origins)}
		}
		origins[lane] = now.Unix()
		b, _ := json.Marshal(origins)
		if rev == 0 {
			_, err = kv.Create(ctx, client, b)
		} else {
			_, err = kv.Update(ctx, client, b, rev)
		}
		if err == nil {
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return fmt.Errorf("%w: write: %w", ErrOriginsUnavailable, err)
		}
	}
	return ErrOriginsContended
}
