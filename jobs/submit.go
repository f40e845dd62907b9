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
		if err != nil || acc.Record != nil {
			s.dropObject(ctx, body.object)
			return acc, err
		}
		id = jobID
	}
	ttl := sub.TTL
	if ttl <= 0 {
		ttl = s.cfg.DefaultTTL
	}
	job := &cpibv1.Job{
		Id: id, Client: sub.Client, Flow: sub.Flow, Run: 1,
		CreatedAt:   timestamppb.New(now),
		ExpiresAt:   timestamppb.New(now.Add(ttl)),
		ContentType: sub.ContentType,
		PayloadSize: int64(len(sub.Payload)),
		Query:       sub.Query, FlowPath: sub.FlowPath,
		Headers: sub.Headers, CallbackUrl: sub.CallbackURL,
	}
	if body.object != "" {
		job.PayloadObject, job.PayloadSize = body.object, body.size
	} else if len(sub.Payload) > s.cfg.InlineMax {
		name := PayloadObject(id)
		if _, err := s.res.Payloads.PutBytes(ctx, name, sub.Payload); err != nil {
			return Accepted{}, fmt.Errorf("%w: store payload: %w", ErrUnavailable, err)
		}
		job.PayloadObject = name
	} else {
		job.Payload = sub.Payload
	}
	rec := RecordFor(job)
	if err := s.publish(ctx, job, rec, sub.Trace); err != nil {
		return Accepted{}, err
	}
	return Accepted{Record: rec}, nil
}

// RecordFor returns the queued record of a new job message.
func RecordFor(job *cpibv1.Job) *cpibv1.JobRecord {
	return &cpibv1.JobRecord{
		Id: job.GetId(), Client: job.GetClient(), Flow: job.GetFlow(),
		Status: cpibv1.JobStatus_JOB_STATUS_QUEUED, Run: job.GetRun(),
		CreatedAt: job.GetCreatedAt(), UpdatedAt: job.GetCreatedAt(), ExpiresAt: job.GetExpiresAt(),
		CallbackUrl: job.GetCallbackUrl(), PayloadObject: job.GetPayloadObject(), PayloadSize: job.GetPayloadSize(),
	}
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
	msgAck, err := s.res.JS.PublishMsgAsync(msg, jetstream.WithMsgID(job.GetId()))
	if err != nil {
		return fmt.Errorf("%w: publish job: %w", ErrUnavailable, err)
	}
	recMsg := &nats.Msg{Subject: "$KV." + natsx.BucketJobs + "." + job.GetId(), Data: rb}
	recAck, recErr := s.res.JS.PublishMsgAsync(recMsg, jetstream.WithExpectLastSequencePerSubject(0))
	msgSeq, msgErr := await(ctx, msgAck)
	if recErr == nil {
		_, recErr = await(ctx, recAck)
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
	case msgErr != nil:
		// Not queued: remove the record so no key or reader sees a job that
		// will never run. Best effort; a leftover expires with its TTL.
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
		if _, err := s.Create(ctx, rec); err != nil && !errors.Is(err, ErrConflict) {
			return fmt.Errorf("%w: record job %s (queued as seq %d): %w", ErrUnavailable, job.GetId(), msgSeq, err)
		}
	}
	return nil
}

func await(ctx context.Context, f jetstream.PubAckFuture) (uint64, error) {
	select {
	case ack := <-f.Ok():
		return ack.Sequence, nil
	case err := <-f.Err():
		return 0, err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

func isWrongLastSeq(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence || apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant
	}
	return false
}
