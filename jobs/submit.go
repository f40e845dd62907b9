package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/cpibroker/cpibroker/internal/natsx"
	cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/oklog/ulid/v2"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Submission is a validated partner request to run a flow.
type Submission struct {
	Client, Flow string
	ContentType  string
	Payload      []byte
	Query        string
	FlowPath     string
	Headers      []*cpibv1.Header
	CallbackURL  string
	// TTL is how long the job may wait undispatched; 0 means the default.
	TTL time.Duration
	// IdempotencyKey is the raw Idempotency-Key header, already validated.
	IdempotencyKey string
	// Trace holds propagation headers (traceparent) to store with the message.
	Trace nats.Header
	// OrderingKey, when set (already validated), makes the job run in
	// order with the other jobs of its client, flow and key, one at a time
	// (see sequence.go).
	OrderingKey string
	// Body, when set instead of Payload, is read to its end: up to
	// inline_max bytes stay in the message, a longer body is streamed to
	// the object store with bounded memory. A read error (such as
	// *http.MaxBytesError) is returned wrapped in ErrBodyRead.
	Body io.Reader
}

// Accepted is the outcome of a Submit.
type Accepted struct {
	Record *cpibv1.JobRecord
	// Replayed is true when an earlier request with the same idempotency
	// key already created this job.
	Replayed bool
}

// Submit stores a job: its message on the client's queue subject and its
// record, written in parallel. It returns only after JetStream acknowledged
// the message, so an Accepted job is stored. With an idempotency key the
// key entry is written first (DESIGN 2.3).
func (s *Store) Submit(ctx context.Context, sub Submission) (Accepted, error) {
	now := s.cfg.Now()
	id := ulid.MustNew(ulid.Timestamp(now), ulid.DefaultEntropy()).String()
	h := requestHasher(sub)
	var body streamedBody
	if sub.Body != nil {
		var err error
		if body, err = s.readBody(ctx, id, sub.Body, h); err != nil {
			return Accepted{}, err
		}
		sub.Payload = body.inline
	} else {
		h.Write(sub.Payload)
	}
	if sub.IdempotencyKey != "" {
		acc, jobID, err := s.claimKey(ctx, sub, id, now, h.Sum(nil))
		if err != nil {
			s.dropObject(ctx, body.object)
			return acc, err
		}
		if acc.Record != nil {
			if err := s.proveQueued(ctx, sub, acc.Record, body); err != nil {
				return Accepted{}, err
			}
			return acc, nil
		}
		id = jobID
	}
	ttl := sub.TTL
	if ttl <= 0 {
		ttl = s.cfg.DefaultTTL
	}
	if err := s.queues.ensure(ctx, sub.Client, sub.Flow); err != nil {
		s.dropObject(ctx, body.object)
		return Accepted{}, fmt.Errorf("%w: queue consumer: %w", ErrUnavailable, err)
	}
	job, err := s.message(ctx, sub, id, now, now.Add(ttl), body)
	if err != nil {
		return Accepted{}, err
	}
	rec := Accept(job)
	publish := s.publish
	if job.GetOrderingKey() != "" {
		publish = s.publishOrdered
	}
	if err := publish(ctx, job, rec, sub.Trace); err != nil {
		return Accepted{}, err
	}
	return Accepted{Record: rec}, nil
}

// message builds the job message of a submission under id: the payload
// inline, or in the object store (streamed already, or written now).
func (s *Store) message(ctx context.Context, sub Submission, id string, created, expires time.Time, body streamedBody) (*cpibv1.Job, error) {
	job := &cpibv1.Job{
		Id: id, Client: sub.Client, Flow: sub.Flow, Run: 1,
		CreatedAt:   timestamppb.New(created),
		ExpiresAt:   timestamppb.New(expires),
		ContentType: sub.ContentType,
		PayloadSize: int64(len(sub.Payload)),
		Query:       sub.Query, FlowPath: sub.FlowPath,
		Headers: sub.Headers, CallbackUrl: sub.CallbackURL,
		OrderingKey: sub.OrderingKey,
	}
	if body.object != "" {
		job.PayloadObject, job.PayloadSize = body.object, body.size
	} else if len(sub.Payload) > s.cfg.InlineMax {
		name := PayloadObject(id)
		if _, err := s.res.Payloads.PutBytes(ctx, name, sub.Payload); err != nil {
			return nil, fmt.Errorf("%w: store payload: %w", ErrUnavailable, err)
		}
		job.PayloadObject = name
	} else {
		job.Payload = sub.Payload
	}
	return job, nil
}

// awaitsFirstMessage reports whether rec is the record of a job whose
// first message may never have been stored: written by Submit next to a
// message whose acknowledgement did not come back, and never dispatched.
func awaitsFirstMessage(rec *cpibv1.JobRecord) bool {
	return rec.GetRun() == 1 && rec.GetStatus() == cpibv1.JobStatus_JOB_STATUS_QUEUED &&
		rec.GetAttempts() == 0 && rec.GetDispatchSeq() == 0 &&
		rec.GetOrderingKey() == "" // an ordered job's message waits on SEQ (RepairSequences)
}

// proveQueued makes an idempotent replay of a job that was never
// dispatched prove that its message exists, before the partner hears 202
// again: the message is published once more under the job's ID. If the
// first one was stored, Nats-Msg-Id makes this a duplicate that stores
// nothing; if its acknowledgement was lost with a message that never got
// stored, this stores it now. (A second copy past the duplicate window is
// harmless too: the record lets only one message own the run.)
func (s *Store) proveQueued(ctx context.Context, sub Submission, rec *cpibv1.JobRecord, body streamedBody) error {
	if !awaitsFirstMessage(rec) && !(rec.GetOrderingKey() != "" && rec.GetStatus() == cpibv1.JobStatus_JOB_STATUS_QUEUED && rec.GetAttempts() == 0) {
		s.dropObject(ctx, body.object)
		return nil
	}
	job, err := s.message(ctx, sub, rec.GetId(), rec.GetCreatedAt().AsTime(), rec.GetExpiresAt().AsTime(), body)
	if err != nil {
		s.dropObject(ctx, body.object)
		return err
	}
	if job.GetOrderingKey() != "" {
		return s.proveSequenced(ctx, job, sub.Trace)
	}
	jb, err := proto.Marshal(job)
	if err != nil {
		return fmt.Errorf("jobs: encode job: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, s.cfg.StoreTimeout)
	defer cancel()
	msg := &nats.Msg{Subject: natsx.QueueSubject(job.GetClient(), job.GetFlow()), Data: jb, Header: nats.Header{}}
	for k, v := range sub.Trace {
		msg.Header[k] = v
	}
	ack, err := s.publishJob(pctx, msg, job.GetId())
	if err != nil {
		return fmt.Errorf("%w: %w: publish job: %w", ErrUnavailable, ErrUnconfirmed, err)
	}
	if ack.Duplicate && body.object != "" {
		s.dropObject(ctx, body.object) // the stored message names its own object
	}
	return nil
}

// PayloadObject names the object holding a job's request body.
func PayloadObject(id string) string { return id + "/request" }

// ResultObject names the object holding a run's CPI response body.
func ResultObject(id string, run uint32) string { return fmt.Sprintf("%s/result.%d", id, run) }

// publish writes the job message and its record concurrently and waits for
// both acknowledgements, at most StoreTimeout.
func (s *Store) publish(ctx context.Context, job *cpibv1.Job, rec *cpibv1.JobRecord, trace nats.Header) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.StoreTimeout)
	defer cancel()
	jb, err := proto.Marshal(job)
	if err != nil {
		return fmt.Errorf("jobs: encode job: %w", err)
	}
	rb, err := proto.Marshal(rec)
	if err != nil {
		return fmt.Errorf("jobs: encode record: %w", err)
	}
	msg := &nats.Msg{Subject: natsx.QueueSubject(job.GetClient(), job.GetFlow()), Data: jb, Header: nats.Header{}}
	for k, v := range trace {
		msg.Header[k] = v
	}
	fault := s.fault(msg.Subject)
	var msgAck jetstream.PubAckFuture
	if fault != LoseMessage {
		if msgAck, err = s.res.JS.PublishMsgAsync(msg, jetstream.WithMsgID(job.GetId())); err != nil {
			// Refused before it left: the connection is down (no
			// reconnect buffer) or the client stalled. The record is not
			// written either.
			s.dropObject(ctx, job.GetPayloadObject())
			return fmt.Errorf("%w: publish job: %w", ErrUnavailable, err)
		}
	}
	recMsg := &nats.Msg{Subject: "$KV." + natsx.BucketJobs + "." + job.GetId(), Data: rb}
	recAck, recErr := s.res.JS.PublishMsgAsync(recMsg, jetstream.WithExpectLastSequencePerSubject(0))
	msgPub, msgErr := (*jetstream.PubAck)(nil), error(errLost)
	if msgAck != nil {
		msgPub, msgErr = awaitAck(ctx, msgAck)
	}
	if fault != NoFault && msgErr == nil {
		msgPub, msgErr = nil, errLost
	}
	if recErr == nil {
		_, recErr = awaitAck(ctx, recAck)
	}
	if isWrongLastSeq(recErr) {
		// Something is at the key: the dispatcher (or a concurrent takeover)
		// created the record first, or a purge marker of an earlier refused
		// attempt is there. Only the former means stored; the latter is
		// handled by the Create below (KV Create writes over markers).
		if _, _, err := s.Get(ctx, job.GetId()); err == nil {
			recErr = nil
		}
	}
	switch {
	case msgErr != nil && !refused(msgErr):
		// No answer (the acknowledgement was lost with the connection, or
		// none came in time): the message may be stored and will then run.
		// Keep what it refers to, the record and the payload, and say so:
		// a retry with the same Idempotency-Key finds the job, republishes
		// its message if it is missing (proveQueued) and answers 202.
		return fmt.Errorf("%w: %w: publish job: %w", ErrUnavailable, ErrUnconfirmed, msgErr)
	case msgErr != nil:
		// JetStream answered that it did not store the message: remove the
		// record so no key or reader sees a job that will never run. Best
		// effort; a leftover is failed by the dispatcher's sweeper as
		// not_stored (it has no message) or expires with its TTL.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		if recErr == nil {
			_ = s.res.Records.Purge(dctx, job.GetId())
		}
		if job.GetPayloadObject() != "" {
			_ = s.res.Payloads.Delete(dctx, job.GetPayloadObject())
		}
		cancel()
		return fmt.Errorf("%w: publish job: %w", ErrUnavailable, msgErr)
	case recErr != nil:
		// Queued but unrecorded: retry the record once; the dispatcher also
		// recreates a missing record from the message, so the job is safe.
		if _, err := s.create(ctx, rec); err != nil && !errors.Is(err, ErrConflict) {
			return fmt.Errorf("%w: record job %s (queued as seq %d): %w", ErrUnavailable, job.GetId(), msgPub.Sequence, err)
		}
	}
	return nil
}

// fault asks Config.Fault which failure to inject into a publish.
func (s *Store) fault(subject string) Fault {
	if s.cfg.Fault == nil {
		return NoFault
	}
	return s.cfg.Fault(subject)
}

// publishJob publishes a job message under its ID (Nats-Msg-Id) and waits
// for the acknowledgement, with Config.Fault applied.
func (s *Store) publishJob(ctx context.Context, msg *nats.Msg, id string) (*jetstream.PubAck, error) {
	fault := s.fault(msg.Subject)
	if fault == LoseMessage {
		return nil, errLost
	}
	f, err := s.res.JS.PublishMsgAsync(msg, jetstream.WithMsgID(id))
	if err != nil {
		return nil, err
	}
	ack, err := awaitAck(ctx, f)
	if fault == LoseAck && err == nil {
		return nil, errLost
	}
	return ack, err
}

// refused reports whether a publish error is JetStream's answer that the
// message was not stored (an API error, or no stream on the subject), as
// opposed to no answer at all, after which the message may be stored.
func refused(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) || errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse)
}

func awaitAck(ctx context.Context, f jetstream.PubAckFuture) (*jetstream.PubAck, error) {
	select {
	case ack := <-f.Ok():
		return ack, nil
	case err := <-f.Err():
		return nil, err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func isWrongLastSeq(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence || apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant
	}
	return false
}
