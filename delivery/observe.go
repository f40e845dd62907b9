package delivery

import "context"

// Observer receives the outcome of every delivery attempt
// (internal/metrics implements it): delivered, retry, gone, rejected,
// refused, or dropped (the client or webhook no longer exists).
type Observer interface {
	Callback(ctx context.Context, outcome string)
}

type noObserver struct{}

func (noObserver) Callback(context.Context, string) {}

// outcomeName is a verdict's name in metrics.
func outcomeName(v verdict) string {
	switch v {
	case delivered:
		return "delivered"
	case gone:
		return "gone"
	case rejected:
		return "rejected"
	case refused:
		return "refused"
	}
	return "retry"
}
