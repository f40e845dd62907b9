package jobs

// The job's lifecycle in one place: the states a run goes through, the
// named transitions between them, which message owns a run, and what a
// transition writes (the record by compare-and-set; for a terminal one also
// the run's event and the completed metric).
//
//	           accept                  start attempt
//	 (submit) ───────▶ queued ────────────────────────▶ running
//	                    │  ▲ ◀──────── release ─────────┘ │ │
//	             cancel │  └──────── schedule retry ──────┘ │
//	             expire │                                   │ succeed / fail
//	         not stored ▼                                   ▼
//	                 canceled / failed            succeeded / failed
//	                    └──────────── replay (run+1) ───────┘──▶ queued
//
// A run is owned by one JetStream message at a time: the record's
// dispatch_seq names the message of a running attempt (or the message that
// ended the run), attempts names which queued copy is current. Every other
// copy (a redelivery after a retry was scheduled, a republished duplicate)
// is recognised here and dropped.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cpibroker/cpibroker/internal/natsx"
	cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"
	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Transition names, as logged and as the table test lists them.
const (
	TransitionAccept          = "accept"
	TransitionStartAttempt    = "start_attempt"
	TransitionRelease         = "release"
	TransitionScheduleRetry   = "schedule_retry"
	TransitionWaitCredentials = "wait_credentials"
	TransitionSucceed         = "succeed"
	TransitionFail            = "fail"
	TransitionCancel          = "cancel"
	TransitionExpire          = "expire"
	TransitionReplay          = "replay"
)

// ErrInvalidTransition: the record is not in a state the transition may
// leave (a run that ended cannot start an attempt, and so on).
var ErrInvalidTransition = errors.New("job transition not allowed in this state")

// Observer receives the lifecycle's measurements (internal/metrics
// implements it). Its methods must be cheap and must not block.
type Observer interface {
	// Completed records a run that reached a terminal status, with the
	// error code of a failed or canceled run.
	Completed(ctx context.Context, client, flow, status, code string)
}

type noObserver struct{}

func (noObserver) Completed(context.Context, string, string, string, string) {}

// Transition is one named change of a job record. It is built by the
// functions below and applied by Store.Apply.
type Transition struct {
	// Name is one of the Transition* names.
	Name string
	// apply checks the record's state and changes it; now is the store's
	// clock.
	apply func(r *cpibv1.JobRecord, now time.Time) error
}

// Then returns the transition that applies t and then next, written at
// once: a short attempt goes from queued to its outcome in one write
// (StartAttempt(seq).Then(Succeed(seq, res))). It carries next's name.
func (t Transition) Then(next Transition) Transition {
	return Transition{next.Name, func(r *cpibv1.JobRecord, now time.Time) error {
		if err := t.apply(r, now); err != nil {
			return err
		}
		return next.apply(r, now)
	}}
}

// To applies t to rec in memory, without writing it: the table test and
// readers that derive a state use it.
func (t Transition) To(rec *cpibv1.JobRecord, now time.Time) error { return t.apply(rec, now) }

func queued(r *cpibv1.JobRecord) bool  { return r.GetStatus() == cpibv1.JobStatus_JOB_STATUS_QUEUED }
func running(r *cpibv1.JobRecord) bool { return r.GetStatus() == cpibv1.JobStatus_JOB_STATUS_RUNNING }

func invalid(name string, r *cpibv1.JobRecord) error {
	return fmt.Errorf("%w: %s from %s", ErrInvalidTransition, name, StatusName(r.GetStatus()))
}

// Accept returns the queued record of a new job message: the record a
// submit writes, or a dispatcher writes when the submit's write was lost.
func Accept(job *cpibv1.Job) *cpibv1.JobRecord {
	return &cpibv1.JobRecord{
		Id: job.GetId(), Client: job.GetClient(), Flow: job.GetFlow(),
		Status: cpibv1.JobStatus_JOB_STATUS_QUEUED, Run: job.GetRun(),
		CreatedAt: job.GetCreatedAt(), UpdatedAt: job.GetCreatedAt(), ExpiresAt: job.GetExpiresAt(),
		CallbackUrl: job.GetCallbackUrl(), PayloadObject: job.GetPayloadObject(), PayloadSize: job.GetPayloadSize(),
		OrderingKey: job.GetOrderingKey(),
	}
}

// StartAttempt makes the message with stream sequence seq the owner of a
// new attempt: queued → running, attempts+1. A redelivery of the message
// that owns a running attempt (its dispatcher died mid-call, or handed the
// job back at shutdown) starts the next attempt too: running → running,
// attempts+1, so the call is repeated and the run still ends once.
func StartAttempt(seq uint64) Transition {
	return Transition{TransitionStartAttempt, func(r *cpibv1.JobRecord, now time.Time) error {
		if !queued(r) && !(running(r) && r.GetDispatchSeq() == seq) {
			return invalid(TransitionStartAttempt, r)
		}
		r.Status = cpibv1.JobStatus_JOB_STATUS_RUNNING
		r.Attempts++
		r.DispatchSeq = seq
		r.UpdatedAt, r.NextAttemptAt = timestamppb.New(now), nil
		return nil
	}}
}

// Release undoes an attempt that made no call (the breaker refused it at
// the last moment): running → queued, attempts-1, so waiting never
// consumes an attempt.
func Release() Transition {
	return Transition{TransitionRelease, func(r *cpibv1.JobRecord, now time.Time) error {
		if !running(r) {
			return invalid(TransitionRelease, r)
		}
		r.Status = cpibv1.JobStatus_JOB_STATUS_QUEUED
		r.Attempts--
		r.DispatchSeq = 0
		r.UpdatedAt = timestamppb.New(now)
		return nil
	}}
}

// ScheduleRetry ends an attempt whose next one fires at at: running →
// queued, next_attempt_at set. The scheduled message becomes the current
// one (its attempts equal the record's).
func ScheduleRetry(at time.Time) Transition {
	return Transition{TransitionScheduleRetry, func(r *cpibv1.JobRecord, now time.Time) error {
		if !running(r) {
			return invalid(TransitionScheduleRetry, r)
		}
		r.Status = cpibv1.JobStatus_JOB_STATUS_QUEUED
		r.UpdatedAt, r.NextAttemptAt = timestamppb.New(now), timestamppb.New(at)
		r.DispatchSeq = 0
		return nil
	}}
}

// WaitCredentials ends an attempt whose call CPI refused for the
// provider's credentials (provider_auth): running → queued with the next
// try at at, and the attempt is not counted (the job did nothing wrong).
func WaitCredentials(at time.Time) Transition {
	t := ScheduleRetry(at)
	apply := t.apply
	t.Name, t.apply = TransitionWaitCredentials, func(r *cpibv1.JobRecord, now time.Time) error {
		if err := apply(r, now); err != nil {
			return err
		}
		r.Attempts--
		return nil
	}
	return t
}

// Succeed ends the run of the attempt owned by seq with CPI's answer.
func Succeed(seq uint64, res *cpibv1.Result) Transition {
	t := end(TransitionSucceed, cpibv1.JobStatus_JOB_STATUS_SUCCEEDED, seq, res, nil, running)
	apply := t.apply
	t.apply = func(r *cpibv1.JobRecord, now time.Time) error {
		if err := apply(r, now); err != nil {
			return err
		}
		r.LastAttempt = nil // last_attempt describes attempts that did not succeed
		return nil
	}
	return t
}

// Noting returns t that also keeps last as the record's last_attempt (the
// attempt that did not succeed, for a person reading the job); nil keeps
// the record's.
func (t Transition) Noting(last *cpibv1.Attempt) Transition {
	if last == nil {
		return t
	}
	apply := t.apply
	t.apply = func(r *cpibv1.JobRecord, now time.Time) error {
		if err := apply(r, now); err != nil {
			return err
		}
		r.LastAttempt = last
		return nil
	}
	return t
}

// Fail ends the run handled by the message seq: an attempt that failed for
// good (running), or a job its dispatcher found it cannot run at all
// (queued: its flow or provider is gone, it expired).
func Fail(seq uint64, res *cpibv1.Result, jerr *cpibv1.JobError) Transition {
	return end(TransitionFail, cpibv1.JobStatus_JOB_STATUS_FAILED, seq, res, jerr, func(r *cpibv1.JobRecord) bool {
		return running(r) || queued(r)
	})
}

// Expire fails a job that was never dispatched and is past its expires_at
// (jerr from ExpiryError); seq is its message, which ended the run.
func Expire(seq uint64, jerr *cpibv1.JobError) Transition {
	return end(TransitionExpire, cpibv1.JobStatus_JOB_STATUS_FAILED, seq, nil, jerr, func(r *cpibv1.JobRecord) bool {
		return queued(r) && r.GetAttempts() == 0
	})
}

// Cancel ends a queued job as canceled, with the message the record
// keeps. Its message is dropped when a dispatcher pulls it.
func Cancel(message string) Transition {
	t := end(TransitionCancel, cpibv1.JobStatus_JOB_STATUS_CANCELED, 0, nil, &cpibv1.JobError{Code: CodeCanceled, Message: message}, queued)
	apply := t.apply
	t.apply = func(r *cpibv1.JobRecord, now time.Time) error {
		if err := apply(r, now); err != nil {
			return fmt.Errorf("%w: %w", ErrNotCancelable, err)
		}
		return nil
	}
	return t
}

func end(name string, st cpibv1.JobStatus, seq uint64, res *cpibv1.Result, jerr *cpibv1.JobError, from func(*cpibv1.JobRecord) bool) Transition {
	return Transition{name, func(r *cpibv1.JobRecord, now time.Time) error {
		if !from(r) {
			return invalid(name, r)
		}
		ts := timestamppb.New(now)
		r.Status, r.Result, r.Error = st, res, jerr
		r.UpdatedAt, r.CompletedAt, r.NextAttemptAt = ts, ts, nil
		// The message that ended the run: its redelivery re-publishes the
		// event (EndedBy).
		r.DispatchSeq = seq
		return nil
	}}
}

// Replay starts job's run (run+1, from NextRun) on a record whose run
// ended: status queued, attempts 0, no result, error or completion.
func Replay(job *cpibv1.Job) Transition {
	return Transition{TransitionReplay, func(r *cpibv1.JobRecord, now time.Time) error {
		if !Terminal(r.GetStatus()) || job.GetRun() != r.GetRun()+1 {
			return invalid(TransitionReplay, r)
		}
		r.Status = cpibv1.JobStatus_JOB_STATUS_QUEUED
		r.Run, r.Attempts = job.GetRun(), 0
		r.UpdatedAt, r.ExpiresAt = timestamppb.New(now), job.GetExpiresAt()
		r.CompletedAt, r.NextAttemptAt, r.Result, r.Error = nil, nil, nil, nil
		r.DispatchSeq, r.EventPublished = 0, false
		return nil
	}}
}

// NextRun returns the message of a new run of job after run (DESIGN 5
// "Runs and replay"): run+1, attempts from 0, expiring after the job's
// original time-to-live counted from now.
func NextRun(job *cpibv1.Job, run uint32, now time.Time) *cpibv1.Job {
	next := proto.CloneOf(job)
	next.Run, next.Attempts = run+1, 0
	ttl := job.GetExpiresAt().AsTime().Sub(job.GetCreatedAt().AsTime())
	if ttl <= 0 {
		ttl = 24 * time.Hour
	}
	next.ExpiresAt = timestamppb.New(now.Add(ttl))
	return next
}

// Owns reports whether the message seq carrying job should drive the
// record's run: it belongs to the run, the run has not ended, and either
// the job waits for exactly this attempt or this is a redelivery of the
// message that owns a running attempt (its dispatcher died).
func Owns(r *cpibv1.JobRecord, job *cpibv1.Job, seq uint64) bool {
	if r.GetRun() != job.GetRun() || Terminal(r.GetStatus()) {
		return false
	}
	if running(r) {
		return r.GetDispatchSeq() == seq
	}
	return r.GetAttempts() == job.GetAttempts()
}

// Early reports a scheduled retry (subject is on the retry subjects) that
// fired before the dispatcher that scheduled it wrote the record of the
// retry (a backoff shorter than that write under load). It is the next
// attempt's message, not a stale copy, so it waits for the record instead
// of being dropped: dropped, the job would stay queued with no message
// left to run it. The record then still shows the attempt that scheduled
// it: running with the copy's attempts (its start was written, the call
// being long), or not yet started (queued with one attempt less; a short
// call's start is written together with its outcome). A copy left by a
// dispatcher that died before that write stops waiting once the resumed
// attempt moves the record on.
func Early(r *cpibv1.JobRecord, job *cpibv1.Job, seq uint64, subject string) bool {
	if r.GetRun() != job.GetRun() || Terminal(r.GetStatus()) {
		return false
	}
	if kind, _, _, _, ok := natsx.ParseJobSubject(subject); !ok || kind != natsx.KindRetry {
		return false
	}
	if running(r) {
		return r.GetAttempts() == job.GetAttempts() && r.GetDispatchSeq() != seq
	}
	return r.GetAttempts()+1 == job.GetAttempts()
}

// EndedBy reports whether the message seq carrying job is the one whose
// handling ended the record's run, so it (re)publishes the terminal event:
// the message named by dispatch_seq, or any message of a run canceled by a
// partner whose event is not known to be published.
func EndedBy(r *cpibv1.JobRecord, job *cpibv1.Job, seq uint64) bool {
	if !Terminal(r.GetStatus()) || r.GetRun() != job.GetRun() {
		return false
	}
	if r.GetStatus() == cpibv1.JobStatus_JOB_STATUS_CANCELED {
		return !r.GetEventPublished()
	}
	return r.GetDispatchSeq() == seq
}

// ExpiryError is the error a job fails with when it was never dispatched
// and its expires_at has passed: flow_unavailable when flowGone (its flow
// is gone or undeployed: it waited for the flow), else expired. nil when
// the job may still run.
func ExpiryError(r *cpibv1.JobRecord, flowGone bool, now time.Time) *cpibv1.JobError {
	if !queued(r) || r.GetAttempts() != 0 || r.GetExpiresAt() == nil || !now.After(r.GetExpiresAt().AsTime()) {
		return nil
	}
	if flowGone {
		return &cpibv1.JobError{Code: CodeFlowUnavailable, Message: "the flow was unavailable until the job expired"}
	}
	return &cpibv1.JobError{Code: CodeExpired, Message: "the job was not dispatched before it expired"}
}

// ErrEventPending comes with a terminal transition whose record was
// written but whose event could not be published yet: the message that
// ended the run publishes it when it is redelivered (EndedBy).
var ErrEventPending = errors.New("terminal event not published yet")

// Apply applies t to rec and writes it if the stored revision is still rev
// (compare-and-set), returning the new revision; rec is changed only when
// the write succeeded. A terminal transition then publishes the run's
// event (trace carries the propagation headers on to webhook delivery) and
// records the completion with the Observer, once per run: the
// compare-and-set lets only one writer end it. ErrConflict when someone
// else wrote first; ErrInvalidTransition when rec's state does not allow
// t; a revision with ErrEventPending when only the event failed.
func (s *Store) Apply(ctx context.Context, rec *cpibv1.JobRecord, rev uint64, t Transition, trace nats.Header) (uint64, error) {
	next := proto.CloneOf(rec)
	if err := t.apply(next, s.cfg.Now()); err != nil {
		return 0, err
	}
	if next.GetOrderingKey() != "" && Terminal(next.GetStatus()) {
		// An ordered job's end is under way from before its record is
		// written until its sequence moved on (sequenceEnded, deferred
		// below, runs first).
		id := sequenceOf(next.GetClient(), next.GetFlow(), next.GetOrderingKey())
		s.handovers.begin(id)
		defer s.handoverDone(ctx, id)
	}
	if s.cfg.BeforeWrite != nil {
		if err := s.cfg.BeforeWrite(next.GetId(), t.Name); err != nil {
			return 0, err
		}
	}
	n, err := s.put(ctx, next, rev)
	if err != nil {
		return 0, err
	}
	if s.cfg.AfterWrite != nil {
		if err := s.cfg.AfterWrite(next.GetId(), t.Name); err != nil {
			return 0, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
	}
	proto.Reset(rec)
	proto.Merge(rec, next)
	if !Terminal(rec.GetStatus()) {
		return n, nil
	}
	// An ordered job's end lets the next job of its key run (or blocks it).
	defer s.sequenceEnded(ctx, rec)
	err = s.PublishEvent(ctx, rec, trace)
	s.cfg.Observer.Completed(ctx, rec.GetClient(), rec.GetFlow(), StatusName(rec.GetStatus()), rec.GetError().GetCode())
	if err != nil {
		return n, fmt.Errorf("%w: %w", ErrEventPending, err)
	}
	if rec.GetStatus() == cpibv1.JobStatus_JOB_STATUS_CANCELED {
		// Mark the event published, so the dispatcher that later drops
		// the job's message does not publish it again. If the process
		// dies in between, that dispatcher publishes it (de-duplicated by
		// Nats-Msg-Id).
		if m, err := s.put(ctx, markPublished(rec), n); err == nil {
			rec.EventPublished, n = true, m
		}
	}
	return n, nil
}

func markPublished(rec *cpibv1.JobRecord) *cpibv1.JobRecord {
	m := proto.CloneOf(rec)
	m.EventPublished = true
	return m
}

// ApplyLatest reads the record of id, applies t and writes it, reading
// again when someone wrote in between (up to 16 times). It returns the
// record written, or the error of the last try.
func (s *Store) ApplyLatest(ctx context.Context, id string, t Transition, trace nats.Header, check func(*cpibv1.JobRecord) error) (*cpibv1.JobRecord, uint64, error) {
	for i := 0; ; i++ {
		rec, rev, err := s.Get(ctx, id)
		if err != nil {
			return nil, 0, err
		}
		if check != nil {
			if err := check(rec); err != nil {
				return rec, rev, err
			}
		}
		n, err := s.Apply(ctx, rec, rev, t, trace)
		if errors.Is(err, ErrConflict) && i < 16 {
			continue
		}
		return rec, n, err
	}
}

// Load returns the record that the message carrying job is handled
// against, and its revision: the stored one; the record of the message
// itself (Accept, revision 0: nothing written yet) while no dispatcher has
// written one; or moved to the message's run (replay) when a replay
// published it but did not get to write the record.
func (s *Store) Load(ctx context.Context, job *cpibv1.Job) (*cpibv1.JobRecord, uint64, error) {
	for {
		rec, rev, err := s.record(ctx, job.GetId())
		if errors.Is(err, ErrNotFound) {
			return Accept(job), 0, nil
		}
		if err != nil {
			return nil, 0, err
		}
		if job.GetRun() == rec.GetRun()+1 && Terminal(rec.GetStatus()) {
			if rev, err = s.Apply(ctx, rec, rev, Replay(job), nil); errors.Is(err, ErrConflict) {
				continue
			} else if err != nil {
				return nil, 0, err
			}
		}
		return rec, rev, nil
	}
}
