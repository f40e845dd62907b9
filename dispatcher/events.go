package dispatcher

import (
	"context"

	"github.com/cpibroker/cpibroker/internal/natsx"
	"github.com/cpibroker/cpibroker/jobs"
	cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"
	"github.com/nats-io/nats.go"
)

// publishEvent appends the run's terminal event (DESIGN 7) to EVENTS. It
// runs after the terminal record and before the message is acked: if the
// process dies in between, the redelivered message finds the record
// terminal and owned by it (endedBy) and publishes again; Nats-Msg-Id
// <job>.<run> keeps that to one event.
func (d *Dispatcher) publishEvent(ctx context.Context, a *attempt) error {
	h := nats.Header{}
	d.cfg.Propagator.Inject(ctx, natsx.HeaderCarrier(h))
	if err := d.store.PublishEvent(ctx, a.rec, h); err != nil {
		return err
	}
	a.span.AddEvent("event published")
	return nil
}

// endedBy reports whether a's message is the one whose handling ended the
// record's run, so it (re)publishes the terminal event: the dispatcher
// that wrote the terminal record (dispatch_seq is its message), or any
// message of a run canceled by a partner whose event is not known to be
// published.
func endedBy(a *attempt) bool {
	r := a.rec
	if !jobs.Terminal(r.GetStatus()) || r.GetRun() != a.job.GetRun() {
		return false
	}
	if r.GetStatus() == cpibv1.JobStatus_JOB_STATUS_CANCELED {
		return !r.GetEventPublished()
	}
	return r.GetDispatchSeq() == a.seq
}
