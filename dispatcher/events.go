package dispatcher

import (
	"context"

	"github.com/cpibroker/cpibroker/internal/natsx"
	"github.com/nats-io/nats.go"
)

// publishEvent publishes the run's terminal event (DESIGN 7) again for a
// redelivered message that ended the run (jobs.EndedBy): its process died
// between the terminal record and the ack; Nats-Msg-Id <job>.<run> keeps
// that to one event.
func (d *Dispatcher) publishEvent(ctx context.Context, a *pulled) error {
	h := nats.Header{}
	d.cfg.Propagator.Inject(ctx, natsx.HeaderCarrier(h))
	if err := d.store.PublishEvent(ctx, a.rec, h); err != nil {
		return err
	}
	a.span.AddEvent("event published")
	return nil
}
