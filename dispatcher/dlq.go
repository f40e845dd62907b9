package dispatcher

import (
	"context"

	"github.com/cpibroker/cpibroker/internal/dlq"
	cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"
	"github.com/nats-io/nats.go/jetstream"
)

// deadLetter keeps a failed job, payload included, in the DLQ (the format
// is internal/dlq's) so it can be inspected and replayed.
func (d *Dispatcher) deadLetter(ctx context.Context, a *pulled, jerr *cpibv1.JobError) error {
	// The job message counts the attempts made before it was queued; the
	// entry counts every attempt of the run, as the record does.
	// (Set for the encoding only: no copy of a large payload.)
	queued := a.job.GetAttempts()
	a.job.Attempts = a.rec.GetAttempts()
	err := dlq.WriteJob(ctx, d.res.JS, a.job, dlq.Reason{Code: jerr.GetCode(), Message: jerr.GetMessage(), Status: int(jerr.GetStatusCode())})
	a.job.Attempts = queued
	return err
}

// deadLetterRaw keeps a message that cannot even be decoded.
func (d *Dispatcher) deadLetterRaw(ctx context.Context, p *puller, m jetstream.Msg) {
	if err := dlq.WriteUndecodable(ctx, d.res.JS, p.client, p.flow, m.Data()); err != nil {
		d.cfg.Logger.Error("dispatcher: dead-letter undecodable message", "err", err)
	}
}
