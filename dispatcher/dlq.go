package dispatcher

import (
	"context"
	"fmt"

	"github.com/cpibroker/cpibroker/internal/natsx"
	cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
)

// DLQ message headers.
const (
	HeaderDLQCode    = "Cpib-Error-Code"
	HeaderDLQMessage = "Cpib-Error-Message"
	HeaderDLQStatus  = "Cpib-Error-Status"
)

// deadLetter keeps a failed job, payload included, on cpib.dlq.<client>.<flow>
// so it can be inspected and replayed. The job ID is the Nats-Msg-Id, so a
// redelivered failure is stored once.
func (d *Dispatcher) deadLetter(ctx context.Context, a *attempt, jerr *cpibv1.JobError) error {
	// The job message counts the attempts made before it was queued; the
	// entry counts every attempt of the run, as the record does.
	// (Set for the encoding only: no copy of a large payload.)
	queued := a.job.GetAttempts()
	a.job.Attempts = a.rec.GetAttempts()
	b, err := proto.Marshal(a.job)
	a.job.Attempts = queued
	if err != nil {
		return fmt.Errorf("dispatcher: encode dlq: %w", err)
	}
	msg := &nats.Msg{Subject: natsx.DLQSubject(a.job.GetClient(), a.job.GetFlow()), Data: b, Header: nats.Header{}}
	msg.Header.Set(HeaderDLQCode, jerr.GetCode())
	msg.Header.Set(HeaderDLQMessage, jerr.GetMessage())
	msg.Header.Set(HeaderDLQStatus, fmt.Sprint(jerr.GetStatusCode()))
	if _, err := d.res.JS.PublishMsg(ctx, msg, jetstream.WithMsgID(fmt.Sprintf("%s.%d", a.job.GetId(), a.job.GetRun()))); err != nil {
		return fmt.Errorf("dispatcher: dead-letter %s: %w", a.job.GetId(), err)
	}
	return nil
}

// deadLetterRaw keeps a message that cannot even be decoded.
func (d *Dispatcher) deadLetterRaw(ctx context.Context, p *puller, m jetstream.Msg) {
	msg := &nats.Msg{Subject: natsx.DLQSubject(p.client, p.flow), Data: m.Data(), Header: nats.Header{}}
	msg.Header.Set(HeaderDLQCode, "undecodable")
	if _, err := d.res.JS.PublishMsg(ctx, msg); err != nil {
		d.cfg.Logger.Error("dispatcher: dead-letter undecodable message", "err", err)
	}
}
