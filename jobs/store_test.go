package jobs_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/jobs"
	cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func TestGet_and_GetOwned(t *testing.T) {
	e := newEnv(t, jobs.Config{})
	ctx := ctxT(t)
	id := mustSubmit(t, e, sub("acme", "echo", "{}")).Record.GetId()

	// No dispatcher has written a record: the job is read from its queued
	// message, at revision 0 (nothing stored yet).
	if rec, rev, err := e.store.GetOwned(ctx, "acme", id); err != nil || rec.GetId() != id || rev != 0 ||
		rec.GetStatus() != cpibv1.JobStatus_JOB_STATUS_QUEUED || rec.GetFlow() != "echo" {
		t.Fatalf("owner GetOwned: %v %v %v", rec, rev, err)
	}
	if rec, _, err := e.store.Get(ctx, id); err != nil || rec.GetClient() != "acme" {
		t.Fatalf("Get: %v %v", rec, err)
	}
	for _, tc := range []struct {
		name, client, id string
	}{
		{"other client", "globex", id},
		{"client that is a prefix", "acm", id},
		{"unknown ID", "acme", "01JNOTTHERE000000000000000"},
		{"empty ID", "acme", ""},
		{"ID with a space", "acme", "a b"},
		{"ID with a wildcard", "acme", "a.*"},
		{"ID that is a wildcard", "acme", "*"},
		{"ID that is a full wildcard", "acme", ">"},
		{"ID with a dot path", "acme", "../x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, _, err := e.store.GetOwned(ctx, tc.client, tc.id)
			if !errors.Is(err, jobs.ErrNotFound) || rec != nil {
				t.Fatalf("GetOwned(%q, %q) = %v, %v; want ErrNotFound", tc.client, tc.id, rec, err)
			}
		})
	}
}

// TestPut_compare_and_set: a writer holding an old revision loses, so a
// run can end in only one terminal state.
func TestPut_compare_and_set(t *testing.T) {
	e := newEnv(t, jobs.Config{})
	ctx := ctxT(t)
	rec := mustSubmit(t, e, sub("acme", "echo", "{}")).Record
	_, rev, err := e.store.Get(ctx, rec.GetId())
	if err != nil {
		t.Fatal(err)
	}

	rec.Status = cpibv1.JobStatus_JOB_STATUS_SUCCEEDED
	rev2, err := e.store.Put(ctx, rec, rev)
	if err != nil || rev2 <= rev {
		t.Fatalf("first Put: rev %d, %v", rev2, err)
	}
	rec.Status = cpibv1.JobStatus_JOB_STATUS_FAILED
	if _, err := e.store.Put(ctx, rec, rev); !errors.Is(err, jobs.ErrConflict) {
		t.Fatalf("Put with a stale revision: %v, want ErrConflict", err)
	}
	got, rev3, err := e.store.Get(ctx, rec.GetId())
	if err != nil || got.GetStatus() != cpibv1.JobStatus_JOB_STATUS_SUCCEEDED || rev3 != rev2 {
		t.Fatalf("after conflict: %v rev %d (%v); the first writer must win", got.GetStatus(), rev3, err)
	}
	if _, err := e.store.Create(ctx, rec); !errors.Is(err, jobs.ErrConflict) {
		t.Fatalf("Create of an existing record: %v, want ErrConflict", err)
	}
}

// TestMutate_retries_on_concurrent_writer: a change made between Mutate's
// read and its write is not lost; Mutate reapplies fn on the fresh record.
func TestMutate_retries_on_concurrent_writer(t *testing.T) {
	e := newEnv(t, jobs.Config{})
	ctx := ctxT(t)
	id := mustSubmit(t, e, sub("acme", "echo", "{}")).Record.GetId()

	calls := 0
	rec, _, err := e.store.Mutate(ctx, id, func(r *cpibv1.JobRecord) error {
		calls++
		if calls == 1 {
			// Another process writes after our read.
			other, rev, err := e.store.Get(ctx, id)
			if err != nil {
				return err
			}
			other.CallbackUrl = "https://other.example/"
			if _, err := e.store.Put(ctx, other, rev); err != nil {
				return err
			}
		}
		r.Attempts++
		return nil
	})
	if err != nil {
		t.Fatalf("Mutate: %v", err)
	}
	if calls != 2 {
		t.Errorf("fn ran %d times, want 2 (one retry after the conflict)", calls)
	}
	got, _, _ := e.store.Get(ctx, id)
	if got.GetAttempts() != 1 || got.GetCallbackUrl() != "https://other.example/" || rec.GetAttempts() != 1 {
		t.Fatalf("after Mutate: attempts %d, callback %q; both writes must survive", got.GetAttempts(), got.GetCallbackUrl())
	}
}

func TestMutate_concurrent_writers_all_apply(t *testing.T) {
	e := newEnv(t, jobs.Config{})
	ctx := ctxT(t)
	id := mustSubmit(t, e, sub("acme", "echo", "{}")).Record.GetId()
	const n = 8 // each writer can lose at most n-1 times, below Mutate's retry bound
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			_, _, err := e.store.Mutate(ctx, id, func(r *cpibv1.JobRecord) error { r.Attempts++; return nil })
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Mutate: %v", err)
		}
	}
	got, _, _ := e.store.Get(ctx, id)
	if got.GetAttempts() != n {
		t.Fatalf("attempts = %d after %d concurrent increments", got.GetAttempts(), n)
	}
}

func TestMutate_abort_writes_nothing(t *testing.T) {
	e := newEnv(t, jobs.Config{})
	ctx := ctxT(t)
	id := mustSubmit(t, e, sub("acme", "echo", "{}")).Record.GetId()
	_, before, _ := e.store.Get(ctx, id)
	stop := errors.New("stop")
	if _, _, err := e.store.Mutate(ctx, id, func(r *cpibv1.JobRecord) error { r.Attempts = 9; return stop }); err != stop {
		t.Fatalf("Mutate returned %v, want fn's error as is", err)
	}
	got, after, _ := e.store.Get(ctx, id)
	if after != before || got.GetAttempts() != 0 {
		t.Fatalf("aborted Mutate wrote: rev %d→%d attempts %d", before, after, got.GetAttempts())
	}
	if _, _, err := e.store.Mutate(ctx, "01JNOTTHERE000000000000000", func(*cpibv1.JobRecord) error { return nil }); !errors.Is(err, jobs.ErrNotFound) {
		t.Fatalf("Mutate of a missing job: %v", err)
	}
}

func TestCancel(t *testing.T) {
	for _, tc := range []struct {
		name    string
		status  cpibv1.JobStatus
		client  string
		wantErr error
	}{
		{"queued", cpibv1.JobStatus_JOB_STATUS_QUEUED, "acme", nil},
		{"running", cpibv1.JobStatus_JOB_STATUS_RUNNING, "acme", jobs.ErrNotCancelable},
		{"succeeded", cpibv1.JobStatus_JOB_STATUS_SUCCEEDED, "acme", jobs.ErrNotCancelable},
		{"already canceled", cpibv1.JobStatus_JOB_STATUS_CANCELED, "acme", jobs.ErrNotCancelable},
		{"other client", cpibv1.JobStatus_JOB_STATUS_QUEUED, "globex", jobs.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, jobs.Config{})
			ctx := ctxT(t)
			id := mustSubmit(t, e, sub("acme", "echo", "{}")).Record.GetId()
			if tc.status != cpibv1.JobStatus_JOB_STATUS_QUEUED {
				if _, _, err := e.store.Mutate(ctx, id, func(r *cpibv1.JobRecord) error { r.Status = tc.status; return nil }); err != nil {
					t.Fatal(err)
				}
			}
			e.clock.Advance(time.Minute)
			_, before, _ := e.store.Get(ctx, id)

			rec, err := e.store.Cancel(ctx, tc.client, id, nil)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Cancel: %v, want %v", err, tc.wantErr)
			}
			got, after, _ := e.store.Get(ctx, id)
			if tc.wantErr != nil {
				if rec != nil || after != before || got.GetStatus() != tc.status {
					t.Fatalf("failed Cancel changed the job: %v rev %d→%d", got.GetStatus(), before, after)
				}
				return
			}
			now := timestamppb.New(t0.Add(time.Minute))
			if rec.GetStatus() != cpibv1.JobStatus_JOB_STATUS_CANCELED || rec.GetError().GetCode() != jobs.CodeCanceled ||
				!rec.GetCompletedAt().AsTime().Equal(now.AsTime()) || !rec.GetUpdatedAt().AsTime().Equal(now.AsTime()) ||
				rec.GetNextAttemptAt() != nil {
				t.Fatalf("canceled record = %v", rec)
			}
			if got.GetStatus() != cpibv1.JobStatus_JOB_STATUS_CANCELED || got.GetError().GetCode() != jobs.CodeCanceled {
				t.Fatalf("stored record = %v", got)
			}
			if jobs.StatusName(got.GetStatus()) != "canceled" || !jobs.Terminal(got.GetStatus()) {
				t.Fatal("canceled is not a terminal status named canceled")
			}
		})
	}
	t.Run("unknown job", func(t *testing.T) {
		e := newEnv(t, jobs.Config{})
		if _, err := e.store.Cancel(ctxT(t), "acme", "01JNOTTHERE000000000000000", nil); !errors.Is(err, jobs.ErrNotFound) {
			t.Fatalf("Cancel: %v", err)
		}
	})
}

// TestWaitTerminal_returns_when_run_ends: a long-poll wakes on the terminal
// write of another process, not on intermediate states.
func TestWaitTerminal_returns_when_run_ends(t *testing.T) {
	e := newEnv(t, jobs.Config{})
	ctx := ctxT(t)
	id := mustSubmit(t, e, sub("acme", "echo", "{}")).Record.GetId()

	type result struct {
		rec *cpibv1.JobRecord
		err error
	}
	done := make(chan result, 1)
	go func() {
		rec, err := e.store.WaitTerminal(ctx, id)
		done <- result{rec, err}
	}()
	for _, st := range []cpibv1.JobStatus{cpibv1.JobStatus_JOB_STATUS_RUNNING, cpibv1.JobStatus_JOB_STATUS_SUCCEEDED} {
		if _, _, err := e.store.Mutate(ctx, id, func(r *cpibv1.JobRecord) error { r.Status = st; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case r := <-done:
		if r.err != nil || r.rec.GetStatus() != cpibv1.JobStatus_JOB_STATUS_SUCCEEDED {
			t.Fatalf("WaitTerminal = %v, %v", r.rec.GetStatus(), r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("WaitTerminal did not return after the terminal write")
	}
}

// TestWaitTerminal_timeout_returns_current_state: ?wait=30s on a job that
// does not finish answers its current state, not an error.
func TestWaitTerminal_timeout_returns_current_state(t *testing.T) {
	e := newEnv(t, jobs.Config{})
	id := mustSubmit(t, e, sub("acme", "echo", "{}")).Record.GetId()
	for _, tc := range []struct {
		name, id string
		want     cpibv1.JobStatus
	}{
		{"queued job", id, cpibv1.JobStatus_JOB_STATUS_QUEUED},
		{"unknown job", "01JNOTTHERE000000000000000", cpibv1.JobStatus_JOB_STATUS_UNSPECIFIED},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
			defer cancel()
			start := time.Now()
			rec, err := e.store.WaitTerminal(ctx, tc.id)
			if err != nil {
				t.Fatalf("WaitTerminal: %v", err)
			}
			if rec.GetStatus() != tc.want {
				t.Fatalf("status %v, want %v", rec.GetStatus(), tc.want)
			}
			if d := time.Since(start); d < 250*time.Millisecond || d > 5*time.Second {
				t.Fatalf("returned after %v for a 300ms wait", d)
			}
		})
	}
}

// TestRecentRecords_includes_queued_jobs: the bounded search of recent
// jobs shows a job no dispatcher has written a record for yet, read from
// its queued message.
func TestRecentRecords_includes_queued_jobs(t *testing.T) {
	e := newEnv(t, jobs.Config{})
	id := mustSubmit(t, e, sub("acme", "echo", "{}")).Record.GetId()
	recs, err := e.store.RecentRecords(ctxT(t), time.Time{}, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].GetId() != id || recs[0].GetStatus() != cpibv1.JobStatus_JOB_STATUS_QUEUED || recs[0].GetClient() != "acme" {
		t.Fatalf("recent jobs %v, want the queued job %s", recs, id)
	}
}
