package jobs_test

import (
	"errors"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/internal/natsx"
	"github.com/cpibroker/cpibroker/jobs"
	cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

const (
	sQueued    = cpibv1.JobStatus_JOB_STATUS_QUEUED
	sRunning   = cpibv1.JobStatus_JOB_STATUS_RUNNING
	sSucceeded = cpibv1.JobStatus_JOB_STATUS_SUCCEEDED
	sFailed    = cpibv1.JobStatus_JOB_STATUS_FAILED
	sCanceled  = cpibv1.JobStatus_JOB_STATUS_CANCELED
)

// TestLifecycle_every_transition is the state diagram of jobs/lifecycle.go
// as a table: every named transition from every state, with the state it
// leads to (or that it is refused) and what it sets.
func TestLifecycle_every_transition(t *testing.T) {
	at := t0.Add(time.Minute)
	res := &cpibv1.Result{StatusCode: 200}
	jerr := &cpibv1.JobError{Code: jobs.CodeCPIError}
	expired := &cpibv1.JobError{Code: jobs.CodeExpired}
	next := &cpibv1.Job{Id: "j", Run: 2, ExpiresAt: timestamppb.New(t0.Add(time.Hour))}
	type want struct {
		status   cpibv1.JobStatus
		attempts uint32
		seq      uint64
		code     string
	}
	refused := want{}
	// Every record starts at run 1 with 1 attempt and dispatch_seq 7 (2
	// for a queued one that waits for its first attempt: attempts 0, seq 0).
	for _, tc := range []struct {
		name string
		t    jobs.Transition
		want map[cpibv1.JobStatus]want
	}{
		{"start attempt", jobs.StartAttempt(9), map[cpibv1.JobStatus]want{
			sQueued: {sRunning, 1, 9, ""}, sRunning: refused, sSucceeded: refused, sFailed: refused, sCanceled: refused}},
		// The message that owns the running attempt, redelivered after its
		// dispatcher died or handed it back at shutdown.
		{"start attempt (redelivered owner)", jobs.StartAttempt(7), map[cpibv1.JobStatus]want{
			sQueued: {sRunning, 1, 7, ""}, sRunning: {sRunning, 2, 7, ""}, sSucceeded: refused, sFailed: refused, sCanceled: refused}},
		{"release", jobs.Release(), map[cpibv1.JobStatus]want{
			sQueued: refused, sRunning: {sQueued, 0, 0, ""}, sSucceeded: refused, sFailed: refused, sCanceled: refused}},
		{"schedule retry", jobs.ScheduleRetry(at), map[cpibv1.JobStatus]want{
			sQueued: refused, sRunning: {sQueued, 1, 0, ""}, sSucceeded: refused, sFailed: refused, sCanceled: refused}},
		{"wait for credentials", jobs.WaitCredentials(at), map[cpibv1.JobStatus]want{
			sQueued: refused, sRunning: {sQueued, 0, 0, ""}, sSucceeded: refused, sFailed: refused, sCanceled: refused}},
		{"succeed", jobs.Succeed(7, res), map[cpibv1.JobStatus]want{
			sQueued: refused, sRunning: {sSucceeded, 1, 7, ""}, sSucceeded: refused, sFailed: refused, sCanceled: refused}},
		{"fail", jobs.Fail(7, res, jerr), map[cpibv1.JobStatus]want{
			sQueued: {sFailed, 0, 7, jobs.CodeCPIError}, sRunning: {sFailed, 1, 7, jobs.CodeCPIError}, sSucceeded: refused, sFailed: refused, sCanceled: refused}},
		{"expire", jobs.Expire(5, expired), map[cpibv1.JobStatus]want{
			sQueued: {sFailed, 0, 5, jobs.CodeExpired}, sRunning: refused, sSucceeded: refused, sFailed: refused, sCanceled: refused}},
		{"cancel", jobs.Cancel("by the client"), map[cpibv1.JobStatus]want{
			sQueued: {sCanceled, 0, 0, jobs.CodeCanceled}, sRunning: refused, sSucceeded: refused, sFailed: refused, sCanceled: refused}},
		// A short attempt: its start is written with its outcome, in one
		// write from queued (or from the running record of its own message).
		{"start attempt then succeed", jobs.StartAttempt(7).Then(jobs.Succeed(7, res)), map[cpibv1.JobStatus]want{
			sQueued: {sSucceeded, 1, 7, ""}, sRunning: {sSucceeded, 2, 7, ""}, sSucceeded: refused, sFailed: refused, sCanceled: refused}},
		{"start attempt then schedule retry", jobs.StartAttempt(9).Then(jobs.ScheduleRetry(at)), map[cpibv1.JobStatus]want{
			sQueued: {sQueued, 1, 0, ""}, sRunning: refused, sSucceeded: refused, sFailed: refused, sCanceled: refused}},
		{"start attempt then wait for credentials", jobs.StartAttempt(9).Then(jobs.WaitCredentials(at)), map[cpibv1.JobStatus]want{
			sQueued: {sQueued, 0, 0, ""}, sRunning: refused, sSucceeded: refused, sFailed: refused, sCanceled: refused}},
		{"replay", jobs.Replay(next), map[cpibv1.JobStatus]want{
			sQueued: refused, sRunning: refused, sSucceeded: {sQueued, 0, 0, ""}, sFailed: {sQueued, 0, 0, ""}, sCanceled: {sQueued, 0, 0, ""}}},
	} {
		for from, w := range tc.want {
			t.Run(tc.name+" from "+jobs.StatusName(from), func(t *testing.T) {
				r := &cpibv1.JobRecord{Id: "j", Run: 1, Status: from, Attempts: 1, DispatchSeq: 7,
					NextAttemptAt: timestamppb.New(at), EventPublished: true}
				if from == sQueued {
					r.Attempts, r.DispatchSeq = 0, 0
				}
				err := tc.t.To(r, t0)
				if w == refused {
					if !errors.Is(err, jobs.ErrInvalidTransition) {
						t.Fatalf("%s from %s: %v, want ErrInvalidTransition", tc.t.Name, jobs.StatusName(from), err)
					}
					if tc.t.Name == jobs.TransitionCancel && !errors.Is(err, jobs.ErrNotCancelable) {
						t.Fatalf("refused cancel: %v, want ErrNotCancelable", err)
					}
					return
				}
				if err != nil {
					t.Fatalf("%s from %s: %v", tc.t.Name, jobs.StatusName(from), err)
				}
				if r.GetStatus() != w.status || r.GetAttempts() != w.attempts || r.GetDispatchSeq() != w.seq || r.GetError().GetCode() != w.code {
					t.Fatalf("%s from %s: %s attempts %d seq %d code %q, want %s %d %d %q", tc.t.Name, jobs.StatusName(from),
						jobs.StatusName(r.GetStatus()), r.GetAttempts(), r.GetDispatchSeq(), r.GetError().GetCode(),
						jobs.StatusName(w.status), w.attempts, w.seq, w.code)
				}
				if !r.GetUpdatedAt().AsTime().Equal(t0) {
					t.Fatalf("updated_at %v, want the clock", r.GetUpdatedAt().AsTime())
				}
				switch {
				case jobs.Terminal(w.status):
					if !r.GetCompletedAt().AsTime().Equal(t0) || r.GetNextAttemptAt() != nil {
						t.Fatalf("terminal record: completed %v next %v", r.GetCompletedAt(), r.GetNextAttemptAt())
					}
				case tc.t.Name == jobs.TransitionScheduleRetry, tc.t.Name == jobs.TransitionWaitCredentials:
					if !r.GetNextAttemptAt().AsTime().Equal(at) {
						t.Fatalf("next_attempt_at %v, want %v", r.GetNextAttemptAt().AsTime(), at)
					}
				case tc.t.Name == jobs.TransitionReplay:
					if r.GetRun() != 2 || r.GetCompletedAt() != nil || r.GetResult() != nil || r.GetEventPublished() ||
						!r.GetExpiresAt().AsTime().Equal(next.GetExpiresAt().AsTime()) {
						t.Fatalf("replayed record %v", r)
					}
				}
			})
		}
	}
}

// TestLifecycle_resume: the redelivered message of a running attempt (its
// dispatcher was killed mid-call) starts the attempt again; any other
// message cannot.
func TestLifecycle_resume(t *testing.T) {
	r := &cpibv1.JobRecord{Id: "j", Run: 1, Status: sRunning, Attempts: 1, DispatchSeq: 7}
	if err := jobs.StartAttempt(7).To(r, t0); err != nil || r.GetStatus() != sRunning || r.GetAttempts() != 2 || r.GetDispatchSeq() != 7 {
		t.Fatalf("resume: %v %v", err, r)
	}
	if err := jobs.StartAttempt(8).To(r, t0); !errors.Is(err, jobs.ErrInvalidTransition) {
		t.Fatalf("another message started a running attempt: %v", err)
	}
}

// TestLifecycle_ownership: which message drives a run, which waits, and
// which re-publishes the terminal event.
func TestLifecycle_ownership(t *testing.T) {
	job := func(run, attempts uint32) *cpibv1.Job {
		return &cpibv1.Job{Id: "j", Client: "acme", Flow: "echo", Run: run, Attempts: attempts}
	}
	rec := func(st cpibv1.JobStatus, run, attempts uint32, seq uint64) *cpibv1.JobRecord {
		return &cpibv1.JobRecord{Id: "j", Status: st, Run: run, Attempts: attempts, DispatchSeq: seq}
	}
	queue, retry := natsx.QueueSubject("acme", "echo", "j"), natsx.RetrySubject("acme", "echo", "j")
	for _, tc := range []struct {
		name                string
		rec                 *cpibv1.JobRecord
		job                 *cpibv1.Job
		seq                 uint64
		subject             string
		owns, early, endedB bool
	}{
		{"new job", rec(sQueued, 1, 0, 0), job(1, 0), 3, queue, true, false, false},
		{"republished duplicate once started", rec(sRunning, 1, 1, 3), job(1, 0), 4, queue, false, false, false},
		{"redelivery of the running attempt", rec(sRunning, 1, 1, 3), job(1, 0), 3, queue, true, false, false},
		{"scheduled retry after the record moved", rec(sQueued, 1, 1, 0), job(1, 1), 8, retry, true, false, false},
		{"scheduled retry before the record moved", rec(sRunning, 1, 1, 3), job(1, 1), 8, retry, false, true, false},
		{"scheduled retry before a short attempt's outcome was written", rec(sQueued, 1, 0, 0), job(1, 1), 8, retry, false, true, false},
		{"a new job's message is never early", rec(sQueued, 1, 0, 0), job(1, 1), 8, queue, false, false, false},
		{"a retry two attempts ahead is stale", rec(sQueued, 1, 0, 0), job(1, 2), 8, retry, false, false, false},
		{"original redelivered after a retry was scheduled", rec(sQueued, 1, 1, 0), job(1, 0), 3, queue, false, false, false},
		{"the message that ended the run", rec(sSucceeded, 1, 1, 3), job(1, 0), 3, queue, false, false, true},
		{"another copy of an ended run", rec(sSucceeded, 1, 1, 3), job(1, 0), 4, queue, false, false, false},
		{"canceled, event not known published", rec(sCanceled, 1, 0, 0), job(1, 0), 3, queue, false, false, true},
		{"message of an earlier run", rec(sQueued, 2, 0, 0), job(1, 0), 3, queue, false, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := jobs.Owns(tc.rec, tc.job, tc.seq); got != tc.owns {
				t.Errorf("Owns = %v", got)
			}
			if got := jobs.Early(tc.rec, tc.job, tc.seq, tc.subject); got != tc.early {
				t.Errorf("Early = %v", got)
			}
			if got := jobs.EndedBy(tc.rec, tc.job, tc.seq); got != tc.endedB {
				t.Errorf("EndedBy = %v", got)
			}
		})
	}
	past := &cpibv1.JobRecord{Status: sQueued, ExpiresAt: timestamppb.New(t0.Add(-time.Second))}
	if e := jobs.ExpiryError(past, false, t0); e.GetCode() != jobs.CodeExpired {
		t.Errorf("expired job: %v", e)
	}
	if e := jobs.ExpiryError(past, true, t0); e.GetCode() != jobs.CodeFlowUnavailable {
		t.Errorf("expired job of a gone flow: %v", e)
	}
	past.Attempts = 1
	if e := jobs.ExpiryError(past, false, t0); e != nil {
		t.Errorf("a dispatched job expired: %v", e)
	}
}
