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
	// Head is true when the job has an Ordering-Key and became its key's
	// head at once (its key was idle): no job of its key is before it, so
	// it does not wait for its sequence.
	Head bool
}

// Submit stores a job: one write, its message on the job's queue subject
// (QueueSubject, which carries the job ID). The message is the job's
// record until a dispatcher writes one (Get reads it back). It returns only
// after JetStream acknowledged the message, so an Accepted job is stored.
// With an idempotency key the key entry is written first (DESIGN 2.3).
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
	var claim keyClaim
	if sub.IdempotencyKey != "" {
		var err error
		if claim, err = s.claimKey(ctx, sub, id, now, h.Sum(nil)); err != nil {
			s.dropObject(ctx, body.object)
			return Accepted{}, err
		}
		if claim.found != nil {
			if err := s.proveOrdered(ctx, sub, claim.found, body); err != nil {
				return Accepted{}, err
			}
			return Accepted{Record: claim.found, Replayed: true}, nil
		}
		id = claim.id
	}
	ttl := sub.TTL
	if ttl <= 0 {
		ttl = s.cfg.DefaultTTL
	}
	if err := s.queues.ensure(ctx, sub.Client, sub.Flow); err != nil {
		s.dropObject(ctx, body.object)
		s.releaseKey(ctx, claim)
		return Accepted{}, fmt.Errorf("%w: queue consumer: %w", ErrUnavailable, err)
	}
	job, err := s.message(ctx, sub, id, now, now.Add(ttl), body)
	if err != nil {
		s.releaseKey(ctx, claim)
		return Accepted{}, err
	}
	var head bool
	if job.GetOrderingKey() != "" {
		// An ordered job becomes its key's head, or waits on its key's
		// sequence with a record that says so (see sequence.go).
		head, err = s.publishOrdered(ctx, job, Accept(job), sub.Trace)
	} else {
		err = s.publish(ctx, job, sub.Trace)
	}
	if err != nil {
		s.releaseKey(ctx, claim)
		return Accepted{}, err
	}
	// A takeover of a key whose first request never confirmed its job is
	// that request's job: replayed.
	return Accepted{Record: Accept(job), Replayed: claim.takeover, Head: head}, nil
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

// proveOrdered makes an idempotent replay of an ordered job that never
// ran prove that its message is stored (see Store.proveSequenced): a job
// that waits on its key's sequence keeps a record from its accept, so
// finding the record proves nothing about the message; a job that became
// its key's head at once is proven by the cursor naming it.
func (s *Store) proveOrdered(ctx context.Context, sub Submission, rec *cpibv1.JobRecord, body streamedBody) error {
	if rec.GetOrderingKey() == "" || rec.GetStatus() != cpibv1.JobStatus_JOB_STATUS_QUEUED || rec.GetAttempts() != 0 {
		s.dropObject(ctx, body.object)
		return nil
	}
	job, err := s.message(ctx, sub, rec.GetId(), rec.GetCreatedAt().AsTime(), rec.GetExpiresAt().AsTime(), body)
	if err != nil {
		s.dropObject(ctx, body.object)
		return err
	}
	return s.proveSequenced(ctx, job, sub.Trace)
}

// PayloadObject names the object holding a job's request body.
func PayloadObject(id string) string { return id + "/request" }

// ResultObject names the object holding a run's CPI response body.
func ResultObject(id string, run uint32) string { return fmt.Sprintf("%s/result.%d", id, run) }

// publish writes the job message, under its ID (Nats-Msg-Id), and waits
// for its acknowledgement, at most StoreTimeout. When JetStream refused it
// (nothing was stored) the payload object is removed; when no answer came
// the error says ErrUnconfirmed: the message may be stored and will then
// run, and a retry with the same Idempotency-Key finds it (Get) or, if it
// is not there, publishes it again under the same ID.
func (s *Store) publish(ctx context.Context, job *cpibv1.Job, trace nats.Header) error {
	jb, err := proto.Marshal(job)
	if err != nil {
		return fmt.Errorf("jobs: encode job: %w", err)
	}
	msg := &nats.Msg{Subject: natsx.QueueSubject(job.GetClient(), job.GetFlow(), job.GetId()), Data: jb, Header: make(nats.Header, len(trace)+1)}
	for k, v := range trace {
		msg.Header[k] = v
	}
	_, err = s.publishJob(ctx, msg, job.GetId())
	switch {
	case err == nil:
		return nil
	case !refused(err) && !sendFailed(err):
		return fmt.Errorf("%w: %w: publish job: %w", ErrUnavailable, ErrUnconfirmed, err)
	}
	if obj := job.GetPayloadObject(); obj != "" {
		dctx, cancel := context.WithTimeout(ctx, s.cfg.StoreTimeout)
		s.dropObject(dctx, obj)
		cancel()
	}
	return fmt.Errorf("%w: publish job: %w", ErrUnavailable, err)
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
		// Refused before it left: the connection is down (no reconnect
		// buffer) or the client stalled.
		return nil, &sendError{err}
	}
	ack, err := awaitAck(ctx, f, s.cfg.StoreTimeout)
	if fault == LoseAck && err == nil {
		return nil, errLost
	}
	return ack, err
}

// sendError is a publish that never left this process.
type sendError struct{ err error }

func (e *sendError) Error() string { return e.err.Error() }
func (e *sendError) Unwrap() error { return e.err }

func sendFailed(err error) bool {
	var se *sendError
	return errors.As(err, &se)
}

// refused reports whether a publish error is JetStream's answer that the
// message was not stored (an API error, or no stream on the subject), as
// opposed to no answer at all, after which the message may be stored.
func refused(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) || errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse)
}

// awaitAck waits for a publish's acknowledgement, at most timeout or
// until ctx ends (context.DeadlineExceeded, or ctx's error). A timer
// rather than a derived context: this runs for every write of every job,
// and a context with a deadline costs a registration with its parent.
func awaitAck(ctx context.Context, f jetstream.PubAckFuture, timeout time.Duration) (*jetstream.PubAck, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case ack := <-f.Ok():
		return ack, nil
	case err := <-f.Err():
		return nil, err
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-t.C:
		return nil, context.DeadlineExceeded
	}
}

func isWrongLastSeq(err error) bool {
	if err == nil {
		return false // the common case, without errors.As's allocation
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence || apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant
	}
	return false
}
