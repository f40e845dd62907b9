package dlq

import (
	"context"
	"fmt"
	"strconv"

	"github.com/cpibroker/cpibroker/internal/natsx"
	cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
)

// Headers of a DLQ message: why the job or the delivery was given up.
const (
	HeaderCode    = "Cpib-Error-Code"
	HeaderMessage = "Cpib-Error-Message"
	HeaderStatus  = "Cpib-Error-Status"
)

// Codes of a job message kept without a JobError of its own.
const (
	// CodeUndecodable: the queued message could not be decoded as a job.
	CodeUndecodable = "undecodable"
)

// Codes of a delivery kept in the DLQ.
const (
	// CodeAttemptsExhausted: every attempt of the schedule failed.
	CodeAttemptsExhausted = "attempts_exhausted"
	// CodeRejected: the receiver answered 3xx or a 4xx other than 408,
	// 410 and 429, which is not retried.
	CodeRejected = "rejected"
	// CodeGone: the receiver answered 410; a webhook is disabled.
	CodeGone = "gone"
	// CodeAddressRefused: the target resolves to an address the SSRF
	// guard refuses.
	CodeAddressRefused = "address_refused"
	// CodeWebhookDisabled: the webhook was disabled while the delivery
	// waited; replay it once the webhook is enabled again.
	CodeWebhookDisabled = "webhook_disabled"
)

// Reason is why an entry was kept: its code, message and the HTTP status
// of the last answer (0 when there was none).
type Reason struct {
	Code    string
	Message string
	Status  int
}

func (r Reason) header() nats.Header {
	h := nats.Header{}
	h.Set(HeaderCode, r.Code)
	h.Set(HeaderMessage, r.Message)
	h.Set(HeaderStatus, strconv.Itoa(r.Status))
	return h
}

// WriteJob keeps a failed job, payload included, on
// cpib.dlq.<client>.<flow>. The Nats-Msg-Id is the job ID and run, so a
// redelivered failure is kept once.
func WriteJob(ctx context.Context, js jetstream.JetStream, job *cpibv1.Job, why Reason) error {
	b, err := proto.Marshal(job)
	if err != nil {
		return fmt.Errorf("dlq: encode job: %w", err)
	}
	msg := &nats.Msg{Subject: natsx.DLQSubject(job.GetClient(), job.GetFlow()), Data: b, Header: why.header()}
	if _, err := js.PublishMsg(ctx, msg, jetstream.WithMsgID(fmt.Sprintf("%s.%d", job.GetId(), job.GetRun()))); err != nil {
		return fmt.Errorf("dlq: keep job %s: %w", job.GetId(), err)
	}
	return nil
}

// WriteUndecodable keeps a queued message of client and flow that cannot
// be decoded as a job, as it came, with CodeUndecodable.
func WriteUndecodable(ctx context.Context, js jetstream.JetStream, client, flow string, data []byte) error {
	msg := &nats.Msg{Subject: natsx.DLQSubject(client, flow), Data: data, Header: nats.Header{}}
	msg.Header.Set(HeaderCode, CodeUndecodable)
	if _, err := js.PublishMsg(ctx, msg); err != nil {
		return fmt.Errorf("dlq: keep undecodable message: %w", err)
	}
	return nil
}

// WriteDelivery keeps an exhausted or refused delivery on
// cpib.dlq.<client>.<flow>.callback. The task ID and replay count are the
// Nats-Msg-Id, so a redelivered failure is kept once.
func WriteDelivery(ctx context.Context, js jetstream.JetStream, task *cpibv1.Delivery, why Reason) error {
	b, err := proto.Marshal(task)
	if err != nil {
		return fmt.Errorf("dlq: encode delivery: %w", err)
	}
	msg := &nats.Msg{Subject: natsx.CallbackDLQSubject(task.GetClient(), task.GetFlow()), Data: b, Header: why.header()}
	id := fmt.Sprintf("%s.r%d", task.GetId(), task.GetReplays())
	if _, err := js.PublishMsg(ctx, msg, jetstream.WithMsgID(id)); err != nil {
		return fmt.Errorf("dlq: keep delivery %s: %w", task.GetId(), err)
	}
	return nil
}
