package dispatcher

import (
	"context"
	"errors"
	"time"

	"github.com/cpibroker/cpibroker/jobs"
	cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
)

// cancelDeleted cancels the queued jobs of a deleted client (DESIGN 3):
// when the puller's client is gone from the catalog and the clients bucket
// confirms it (so a client created a moment ago and not yet seen is never
// mistaken for a deleted one), every job on the consumer is canceled with
// one terminal event and its message removed. It reports whether it did
// anything, in which case the caller loops.
//
// Any process may delete the client: the dispatchers follow the catalog,
// so this works whichever process served the admin call.
func (d *Dispatcher) cancelDeleted(ctx context.Context, p *puller) bool {
	if _, ok := d.cat.Client(p.client); ok {
		return false
	}
	if d.cfg.Now().Before(p.deletedCheck) {
		return false
	}
	p.deletedCheck = d.cfg.Now().Add(5 * time.Second)
	if exists, err := d.cat.ClientExists(ctx, p.client); err != nil || exists {
		return false
	}
	n := 0
	for ctx.Err() == nil {
		batch, err := p.cons.FetchNoWait(64)
		if err != nil {
			break
		}
		got := 0
		for m := range batch.Messages() {
			got++
			if d.cancelMsg(ctx, m) {
				n++
			}
		}
		if got == 0 {
			break
		}
	}
	if n > 0 {
		d.cfg.Logger.Info("dispatcher: queued jobs of a deleted client canceled", "client_id", p.client, "flow_id", p.flow, "jobs", n)
	}
	return n > 0
}

// cancelMsg cancels the job of one message of a deleted client.
func (d *Dispatcher) cancelMsg(ctx context.Context, m jetstream.Msg) bool {
	job := &cpibv1.Job{}
	if err := proto.Unmarshal(m.Data(), job); err != nil || job.GetId() == "" {
		_ = m.Ack() // nothing to cancel; the client is gone
		return false
	}
	_, err := d.store.CancelWith(ctx, job.GetClient(), job.GetId(), "the client was deleted", nats.Header{})
	switch {
	case errors.Is(err, jobs.ErrNotFound):
		_ = m.Ack()
		return false
	case errors.Is(err, jobs.ErrNotCancelable):
		cur, _, gerr := d.store.Get(ctx, job.GetId())
		if gerr == nil && jobs.Terminal(cur.GetStatus()) {
			_ = m.Ack() // the run ended already
		} else {
			_ = m.NakWithDelay(time.Second) // running: its dispatcher finishes it
		}
		return false
	case err != nil:
		// JetStream trouble, or the event is pending: redelivered, the
		// message cancels or announces then.
		_ = m.NakWithDelay(time.Second)
		return false
	}
	_ = m.Ack()
	return true
}
