package workqueue

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Pull error backoff bounds.
const (
	backoffMin = 50 * time.Millisecond
	backoffMax = 2 * time.Second
)

// Backoff spaces the pulls of a runner whose pulls fail (JetStream
// unreachable): 50 ms doubling to 2 s, back to 50 ms after a success. The
// zero value is ready to use.
type Backoff struct{ next time.Duration }

// Wait sleeps the current backoff (or until ctx ends) and doubles it.
func (b *Backoff) Wait(ctx context.Context) {
	if b.next == 0 {
		b.next = backoffMin
	}
	t := time.NewTimer(b.next)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
	b.next = min(b.next*2, backoffMax)
}

// Reset starts the next backoff from its minimum.
func (b *Backoff) Reset() { b.next = backoffMin }

// Gone reports whether err says the consumer no longer exists.
func Gone(err error) bool {
	return errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound)
}

// Retire deletes the consumer if nothing waits in it or is being worked on
// (busy: the runner's own view of messages it still holds). It reports
// whether the consumer is gone, so the runner can stop; the registry's
// reconcile creates it again should a message arrive at that moment.
func Retire(ctx context.Context, js jetstream.JetStream, cons jetstream.Consumer, busy bool) bool {
	info, err := cons.Info(ctx)
	if err != nil {
		return Gone(err)
	}
	if busy || info.NumPending > 0 || info.NumAckPending > 0 {
		return false
	}
	if err := js.DeleteConsumer(ctx, info.Stream, info.Name); err != nil && !Gone(err) {
		return false
	}
	return true
}
