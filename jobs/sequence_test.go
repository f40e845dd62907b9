package jobs_test

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/internal/natsx"
	"github.com/cpibroker/cpibroker/jobs"
	cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"
)

// repair runs both repair passes once over everything.
func repair(t *testing.T, e *env) {
	t.Helper()
	if _, err := e.store.RepairSequences(ctxT(t), 0, 1000); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.RepairHeads(ctxT(t), 0, 1000, 0, time.Hour); err != nil {
		t.Fatal(err)
	}
}

func ordered(body, key string) jobs.Submission {
	s := sub("acme", "orders", body)
	s.OrderingKey = key
	return s
}

// TestSequenceCrashWindows: only a key's head is ever queued; a head that
// ended without moving its sequence on (its process died between the two
// writes) is moved on by the repair pass, once however often it runs; a
// canceled head releases the next job; a waiting job past its expiry is
// expired by the repair pass and never queued.
func TestSequenceCrashWindows(t *testing.T) {
	e := newEnv(t, jobs.Config{})
	ctx := ctxT(t)
	var ids []string
	for _, b := range []string{"1", "2", "3"} {
		ids = append(ids, mustSubmit(t, e, ordered(b, "PO-1")).Record.GetId())
	}
	if n := jobMsgs(t, e); n != 1 {
		t.Fatalf("%d queued messages for one key, want 1 (the head)", n)
	}
	if job, _ := queued(t, e, "acme", "orders"); job.GetId() != ids[0] || job.GetOrderingKey() != "PO-1" {
		t.Fatalf("queued %s, want the first job %s", job.GetId(), ids[0])
	}
	rec, _, _ := e.store.Get(ctx, ids[1])
	if w := e.store.SequenceWaiting(ctx, rec); w == nil || w.Reason != jobs.WaitSequence || w.Job != ids[0] {
		t.Fatalf("job 2 waiting %+v", w)
	}
	// The head ends but its process dies before moving the sequence on.
	if _, _, err := e.store.Mutate(ctx, ids[0], func(r *cpibv1.JobRecord) error {
		r.Status = cpibv1.JobStatus_JOB_STATUS_SUCCEEDED
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	seqID := natsx.SequenceID("acme", "orders", "PO-1")
	if q, err := e.store.GetSequence(ctx, seqID); err != nil || q.Head != ids[0] {
		t.Fatalf("sequence before repair: %+v %v", q, err)
	}
	for range 2 {
		repair(t, e)
		if q, err := e.store.GetSequence(ctx, seqID); err != nil || q.Head != ids[1] || q.State != jobs.SequenceActive {
			t.Fatalf("sequence after repair: %+v %v", q, err)
		}
		if n := jobMsgs(t, e); n != 2 {
			t.Fatalf("%d queued messages after repair, want 2 (job 2 once)", n)
		}
	}
	// The normal path: the head is canceled while queued; the next runs.
	if _, err := e.store.Cancel(ctx, "acme", ids[1], nil); err != nil {
		t.Fatal(err)
	}
	if q, err := e.store.GetSequence(ctx, seqID); err != nil || q.Head != ids[2] {
		t.Fatalf("after canceling the head: %+v %v", q, err)
	}
	// The last job ends: the key has no sequence any more, and its SEQ
	// messages are gone.
	if _, err := e.store.Cancel(ctx, "acme", ids[2], nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.GetSequence(ctx, seqID); !errors.Is(err, jobs.ErrSequenceNotFound) {
		t.Fatalf("ended sequence: %v", err)
	}
	if info, err := e.res.Seq.Info(ctx); err != nil || info.State.Msgs != 0 {
		t.Fatalf("SEQ keeps %d messages of ended jobs (%v)", info.State.Msgs, err)
	}

	// Expiry of a waiting job.
	s4, s5 := ordered("4", "PO-2"), ordered("5", "PO-2")
	s5.TTL = time.Second
	id4 := mustSubmit(t, e, s4).Record.GetId()
	id5 := mustSubmit(t, e, s5).Record.GetId()
	before := jobMsgs(t, e)
	e.clock.Advance(2 * time.Second)
	repair(t, e)
	if r5, _, _ := e.store.Get(ctx, id5); r5.GetStatus() != cpibv1.JobStatus_JOB_STATUS_FAILED || r5.GetError().GetCode() != jobs.CodeExpired {
		t.Fatalf("waiting job past its expiry: %v %v", r5.GetStatus(), r5.GetError())
	}
	if _, err := e.store.Cancel(ctx, "acme", id4, nil); err != nil {
		t.Fatal(err)
	}
	if n := jobMsgs(t, e); n != before {
		t.Fatalf("the expired job was queued (%d messages, want %d)", n, before)
	}
	if _, err := e.store.GetSequence(ctx, natsx.SequenceID("acme", "orders", "PO-2")); !errors.Is(err, jobs.ErrSequenceNotFound) {
		t.Fatalf("sequence after its last job: %v", err)
	}
}

// TestSequenceBlocks: a head that failed under block stops its key; skip
// releases the rest; under continue the next job is queued at once.
func TestSequenceBlocks(t *testing.T) {
	block := true
	e := newEnv(t, jobs.Config{BlockOnFailure: func(string) bool { return block }})
	ctx := ctxT(t)
	fail := func(id string) {
		t.Helper()
		rec, rev, err := e.store.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.store.Apply(ctx, rec, rev, jobs.Fail(1, nil, &cpibv1.JobError{Code: jobs.CodeCPIError}), nil); err != nil && !errors.Is(err, jobs.ErrEventPending) {
			t.Fatal(err)
		}
	}
	a := mustSubmit(t, e, ordered("a", "K")).Record.GetId()
	b := mustSubmit(t, e, ordered("b", "K")).Record.GetId()
	c := mustSubmit(t, e, ordered("c", "K")).Record.GetId()
	fail(a)
	seqID := natsx.SequenceID("acme", "orders", "K")
	q, err := e.store.GetSequence(ctx, seqID)
	if err != nil || q.State != jobs.SequenceBlocked || q.Head != a || q.HeadError == nil || q.HeadError.Code != jobs.CodeCPIError {
		t.Fatalf("blocked: %+v %v", q, err)
	}
	rec, _, _ := e.store.Get(ctx, b)
	if w := e.store.SequenceWaiting(ctx, rec); w == nil || w.Reason != jobs.WaitSequenceBlocked || w.Job != a {
		t.Fatalf("waiting %+v", w)
	}
	if n, err := e.store.BlockedSequences(ctx); err != nil || n != 1 {
		t.Fatalf("blocked count %d %v", n, err)
	}
	if list, _, err := e.store.ListSequences(ctx, jobs.SequenceFilter{State: jobs.SequenceBlocked, Client: "acme"}, 0, 10); err != nil || len(list) != 1 {
		t.Fatalf("list %+v %v", list, err)
	}
	if list, _, err := e.store.ListSequences(ctx, jobs.SequenceFilter{Client: "other"}, 0, 10); err != nil || len(list) != 0 {
		t.Fatalf("list of another client %+v %v", list, err)
	}
	if q, err := e.store.SkipSequence(ctx, seqID); err != nil || q.Head != b || q.State != jobs.SequenceActive {
		t.Fatalf("skip: %+v %v", q, err)
	}
	if _, err := e.store.SkipSequence(ctx, seqID); !errors.Is(err, jobs.ErrSequenceNotBlocked) {
		t.Fatalf("skip of an active sequence: %v", err)
	}
	block = false
	fail(b)
	if q, err := e.store.GetSequence(ctx, seqID); err != nil || q.Head != c || q.State != jobs.SequenceActive {
		t.Fatalf("continue: %+v %v", q, err)
	}
}

// TestSequenceLostClaim: a job that claimed its idle key but whose message
// never got stored (the submit answered 503) does not hold the key: the
// repair pass releases the claim, and the key's next job runs.
func TestSequenceLostClaim(t *testing.T) {
	var lose atomic.Bool
	e := newEnv(t, jobs.Config{Fault: func(string) jobs.Fault {
		if lose.Load() {
			return jobs.LoseMessage
		}
		return jobs.NoFault
	}})
	ctx := ctxT(t)
	lose.Store(true)
	if _, err := e.store.Submit(ctx, ordered("lost", "K")); !errors.Is(err, jobs.ErrUnavailable) {
		t.Fatalf("submit with a lost message: %v", err)
	}
	lose.Store(false)
	seqID := natsx.SequenceID("acme", "orders", "K")
	ghost, err := e.store.GetSequence(ctx, seqID)
	if err != nil {
		t.Fatal(err)
	}
	next := mustSubmit(t, e, ordered("next", "K")).Record.GetId()
	rec, _, _ := e.store.Get(ctx, next)
	if w := e.store.SequenceWaiting(ctx, rec); w == nil || w.Job != ghost.Head {
		t.Fatalf("next job waiting %+v, want it behind the claim %s", w, ghost.Head)
	}
	e.clock.Advance(time.Second) // past the repair grace (0 here)
	repair(t, e)
	if q, err := e.store.GetSequence(ctx, seqID); err != nil || q.Head != next {
		t.Fatalf("after repair: %+v %v, want head %s", q, err, next)
	}
	if job, _ := queued(t, e, "acme", "orders"); job.GetId() != next {
		t.Fatalf("queued %s", job.GetId())
	}
}

// TestSequenceLostClaimRetried: the partner retries a submit whose message
// was lost with the same Idempotency-Key: the job keeps its claim of the
// key and is queued as its head.
func TestSequenceLostClaimRetried(t *testing.T) {
	var lose atomic.Bool
	e := newEnv(t, jobs.Config{Fault: func(string) jobs.Fault {
		if lose.Load() {
			return jobs.LoseMessage
		}
		return jobs.NoFault
	}})
	ctx := ctxT(t)
	s := ordered("x", "K")
	s.IdempotencyKey = "idem-1"
	lose.Store(true)
	if _, err := e.store.Submit(ctx, s); !errors.Is(err, jobs.ErrUnavailable) {
		t.Fatalf("submit with a lost message: %v", err)
	}
	lose.Store(false)
	e.clock.Advance(time.Minute) // past the in-flight window
	acc, err := e.store.Submit(ctx, s)
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	q, err := e.store.GetSequence(ctx, natsx.SequenceID("acme", "orders", "K"))
	if err != nil || q.Head != acc.Record.GetId() {
		t.Fatalf("sequence %+v %v, want head %s", q, err, acc.Record.GetId())
	}
	if job, _ := queued(t, e, "acme", "orders"); job.GetId() != acc.Record.GetId() {
		t.Fatalf("queued %s, want %s", job.GetId(), acc.Record.GetId())
	}
	if info, err := e.res.Seq.Info(ctx); err != nil || info.State.Msgs != 0 {
		t.Fatalf("the retried head also waits on SEQ (%d messages, %v)", info.State.Msgs, err)
	}
}

// TestSequenceHeadNeverQueued: the writer that made a job the head dies
// between the cursor write and the queue publish (here: the publish is
// lost). The repair pass, once the head is older than its grace, finds no
// queue message for it and queues it, under its ID.
func TestSequenceHeadNeverQueued(t *testing.T) {
	var lose atomic.Bool
	e := newEnv(t, jobs.Config{Fault: func(subject string) jobs.Fault {
		if lose.Load() && strings.HasPrefix(subject, "cpib.jobs.q.") {
			return jobs.LoseMessage
		}
		return jobs.NoFault
	}})
	ctx := ctxT(t)
	first := mustSubmit(t, e, ordered("1", "K")).Record.GetId()
	second := mustSubmit(t, e, ordered("2", "K")).Record.GetId()
	before := jobMsgs(t, e)
	lose.Store(true)
	if _, err := e.store.Cancel(ctx, "acme", first, nil); err != nil {
		t.Fatal(err)
	}
	lose.Store(false)
	seqID := natsx.SequenceID("acme", "orders", "K")
	if q, err := e.store.GetSequence(ctx, seqID); err != nil || q.Head != second {
		t.Fatalf("after the head's end: %+v %v, want head %s", q, err, second)
	}
	if n := jobMsgs(t, e); n != before {
		t.Fatalf("the lost publish stored something: %d messages, want %d", n, before)
	}
	if _, err := e.store.RepairHeads(ctx, 0, 1000, time.Minute, time.Hour); err != nil {
		t.Fatal(err)
	}
	if n := jobMsgs(t, e); n != before {
		t.Fatalf("queued within the grace: %d messages, want %d", n, before)
	}
	e.clock.Advance(2 * time.Minute)
	for range 2 {
		if _, err := e.store.RepairHeads(ctx, 0, 1000, time.Minute, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if job, _ := queued(t, e, "acme", "orders"); job.GetId() != second {
		t.Fatalf("queued %s, want the head %s", job.GetId(), second)
	}
	if n := jobMsgs(t, e); n != before+1 {
		t.Fatalf("%d messages after two repairs, want %d (the head once)", n, before+1)
	}
}

// succeed ends a job the way a dispatcher does: its terminal record is
// written by Apply, which moves its key's sequence on.
func succeed(t *testing.T, e *env, id string) {
	t.Helper()
	ctx := ctxT(t)
	rec, rev, err := e.store.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if rev, err = e.store.Apply(ctx, rec, rev, jobs.StartAttempt(1), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Apply(ctx, rec, rev, jobs.Succeed(1, nil), nil); err != nil && !errors.Is(err, jobs.ErrEventPending) {
		t.Fatal(err)
	}
}

// cursorWrites is the last sequence of the cursor bucket's stream: how
// many cursor writes there were.
func cursorWrites(t *testing.T, e *env) uint64 {
	t.Helper()
	st, err := e.res.JS.Stream(ctxT(t), "KV_"+natsx.BucketSeq)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.LastSeq
}

// TestSequenceSteadyKeyOneCursorWrite: a key whose jobs come one after the
// other, each after the previous ended, writes its cursor once per job
// (the claim that makes the job its head), not twice: the end of a head
// with nothing behind it leaves the cursor as it is. Each job is queued at
// once (no SEQ message), the key reads as idle between jobs (no sequence
// listed), and another process whose cache knows nothing of the key claims
// it at once too.
func TestSequenceSteadyKeyOneCursorWrite(t *testing.T) {
	e := newEnv(t, jobs.Config{})
	ctx := ctxT(t)
	seqID := natsx.SequenceID("acme", "orders", "K")
	steady := func(e *env, body string) {
		t.Helper()
		writes, msgs := cursorWrites(t, e), jobMsgs(t, e)
		acc := mustSubmit(t, e, ordered(body, "K"))
		id := acc.Record.GetId()
		if !acc.Head {
			t.Fatalf("job %s of an idle key did not become its head", body)
		}
		if n := jobMsgs(t, e); n != msgs+1 {
			t.Fatalf("job %s: %d queued messages, want %d", body, n, msgs+1)
		}
		if q, err := e.store.GetSequence(ctx, seqID); err != nil || q.Head != id {
			t.Fatalf("job %s: sequence %+v %v, want head %s", body, q, err, id)
		}
		succeed(t, e, id)
		if got := cursorWrites(t, e) - writes; got != 1 {
			t.Fatalf("job %s: %d cursor writes from its submit to its end, want 1", body, got)
		}
		if _, err := e.store.GetSequence(ctx, seqID); !errors.Is(err, jobs.ErrSequenceNotFound) {
			t.Fatalf("job %s ended, nothing waits: sequence %v, want not found", body, err)
		}
		if list, _, err := e.store.ListSequences(ctx, jobs.SequenceFilter{}, 0, 10); err != nil || len(list) != 0 {
			t.Fatalf("job %s ended, nothing waits: listed %+v %v", body, list, err)
		}
	}
	for _, b := range []string{"1", "2", "3", "4"} {
		steady(e, b)
	}
	other := newEnvOn(t, e.res, jobs.Config{}) // another process: nothing cached
	steady(other, "5")
	steady(e, "6") // its cache is stale now: a conflict, then a read
	if info, err := e.res.Seq.Info(ctx); err != nil || info.State.Msgs != 0 {
		t.Fatalf("a steady key's jobs waited on SEQ (%d messages, %v)", info.State.Msgs, err)
	}

	// A job behind a running head still waits, and runs when it ends.
	first := mustSubmit(t, e, ordered("7", "K"))
	second := mustSubmit(t, e, ordered("8", "K"))
	if !first.Head || second.Head {
		t.Fatalf("head flags %v %v, want true false", first.Head, second.Head)
	}
	succeed(t, e, first.Record.GetId())
	if job, _ := queued(t, e, "acme", "orders"); job.GetId() != second.Record.GetId() {
		t.Fatalf("queued %s, want the job behind the head %s", job.GetId(), second.Record.GetId())
	}
}

// TestSequenceAppendAfterHeadEnded: a submit finds its key's head running
// and goes to SEQ; before its message is stored, the head ends and, seeing
// nothing behind it, leaves the cursor as it was. The submit then finds
// the head ended and makes its own job the head: it is queued before the
// submit returns, not left for the repair pass.
func TestSequenceAppendAfterHeadEnded(t *testing.T) {
	var (
		e     *env
		head  string
		ended atomic.Bool
	)
	e = newEnv(t, jobs.Config{Fault: func(subject string) jobs.Fault {
		if strings.HasPrefix(subject, "cpib.seq.") && head != "" && ended.CompareAndSwap(false, true) {
			succeed(t, e, head) // before the waiting job's message is stored
		}
		return jobs.NoFault
	}})
	ctx := ctxT(t)
	head = mustSubmit(t, e, ordered("1", "K")).Record.GetId()
	acc := mustSubmit(t, e, ordered("2", "K"))
	if !ended.Load() || acc.Head {
		t.Fatalf("the second job did not go to SEQ (head ended: %v, head flag: %v)", ended.Load(), acc.Head)
	}
	if r, _, err := e.store.Get(ctx, head); err != nil || r.GetStatus() != cpibv1.JobStatus_JOB_STATUS_SUCCEEDED {
		t.Fatalf("head %v %v", r.GetStatus(), err)
	}
	next := acc.Record.GetId()
	if job, _ := queued(t, e, "acme", "orders"); job.GetId() != next {
		t.Fatalf("queued %s, want the waiting job %s", job.GetId(), next)
	}
	if q, err := e.store.GetSequence(ctx, natsx.SequenceID("acme", "orders", "K")); err != nil || q.Head != next || q.State != jobs.SequenceActive {
		t.Fatalf("sequence %+v %v, want head %s", q, err, next)
	}
}

// TestSequenceClaimBehindFailedHead: a submit that finds its key's head
// failed under on_failure block, before the head's end blocked the key,
// does not take the key: it waits, and the key is blocked.
func TestSequenceClaimBehindFailedHead(t *testing.T) {
	var (
		other *env
		late  atomic.Value
	)
	e := newEnv(t, jobs.Config{
		BlockOnFailure: func(string) bool { return true },
		AfterWrite: func(id, transition string) error {
			if transition == "fail" && late.Load() == nil {
				// Between the head's failed record and its end's cursor
				// write: another process submits to the key.
				late.Store(mustSubmit(t, other, ordered("late", "K")))
			}
			return nil
		},
	})
	other = newEnvOn(t, e.res, jobs.Config{BlockOnFailure: func(string) bool { return true }})
	ctx := ctxT(t)
	head := mustSubmit(t, e, ordered("1", "K")).Record.GetId()
	before := jobMsgs(t, e)
	rec, rev, err := e.store.Get(ctx, head)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Apply(ctx, rec, rev, jobs.Fail(1, nil, &cpibv1.JobError{Code: jobs.CodeCPIError}), nil); err != nil && !errors.Is(err, jobs.ErrEventPending) {
		t.Fatal(err)
	}
	acc, ok := late.Load().(jobs.Accepted)
	if !ok {
		t.Fatal("no submit between the head's failure and its end")
	}
	if acc.Head {
		t.Fatal("the late job took the key of a failed head")
	}
	if n := jobMsgs(t, e); n != before {
		t.Fatalf("%d queued messages, want %d (nothing queued behind the failed head)", n, before)
	}
	q, err := e.store.GetSequence(ctx, natsx.SequenceID("acme", "orders", "K"))
	if err != nil || q.State != jobs.SequenceBlocked || q.Head != head {
		t.Fatalf("sequence %+v %v, want blocked at %s", q, err, head)
	}
	late2, _, _ := e.store.Get(ctx, acc.Record.GetId())
	if w := e.store.SequenceWaiting(ctx, late2); w == nil || w.Reason != jobs.WaitSequenceBlocked || w.Job != head {
		t.Fatalf("late job waiting %+v", w)
	}
}

// TestSequenceEndedHeadRetired: the cursor a head's end left naming it
// goes idle in the repair pass once it is older than the grace, and stays
// so: later passes write nothing; the key's next job still claims it.
func TestSequenceEndedHeadRetired(t *testing.T) {
	e := newEnv(t, jobs.Config{})
	ctx := ctxT(t)
	succeed(t, e, mustSubmit(t, e, ordered("1", "K")).Record.GetId())
	w := cursorWrites(t, e)
	if _, err := e.store.RepairHeads(ctx, 0, 1000, time.Minute, time.Hour); err != nil {
		t.Fatal(err)
	}
	if got := cursorWrites(t, e); got != w {
		t.Fatalf("repair within the grace wrote %d cursors", got-w)
	}
	e.clock.Advance(2 * time.Minute)
	for range 2 {
		if _, err := e.store.RepairHeads(ctx, 0, 1000, time.Minute, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if got := cursorWrites(t, e); got != w+1 {
		t.Fatalf("two repairs past the grace wrote %d cursors, want 1 (idle)", got-w)
	}
	if acc := mustSubmit(t, e, ordered("2", "K")); !acc.Head {
		t.Fatal("the next job did not claim the idle key")
	}
}

// TestSequenceAppendLeftToEnd: a submit of the process that is ending
// its key's head finds, after appending its job to SEQ, the head ended:
// it leaves the move to that end instead of racing it (the job is not
// queued when the submit returns), and the end, which looks at SEQ after
// its record write, queues it once.
func TestSequenceAppendLeftToEnd(t *testing.T) {
	var (
		e            *env
		head         string
		claimed      = make(chan struct{}) // the late submit decided to wait on SEQ
		goOn         = make(chan struct{}) // the head's record is written
		late         = make(chan jobs.Accepted, 1)
		queuedBefore uint64
	)
	e = newEnv(t, jobs.Config{
		Fault: func(subject string) jobs.Fault {
			if strings.HasPrefix(subject, "cpib.seq.") {
				close(claimed)
				<-goOn
			}
			return jobs.NoFault
		},
		BeforeWrite: func(id, transition string) error {
			if id == head && transition == jobs.TransitionSucceed {
				go func() {
					acc, err := e.store.Submit(ctxT(t), ordered("2", "K"))
					if err != nil {
						t.Error(err)
					}
					late <- acc
				}()
				<-claimed
			}
			return nil
		},
		AfterWrite: func(id, transition string) error {
			if id == head && transition == jobs.TransitionSucceed {
				close(goOn)
				acc := <-late
				if acc.Head {
					t.Error("the late job claimed the key of a head that was running when it looked")
				}
				queuedBefore = jobMsgs(t, e)
			}
			return nil
		},
	})
	ctx := ctxT(t)
	head = mustSubmit(t, e, ordered("1", "K")).Record.GetId()
	before := jobMsgs(t, e)
	writes := cursorWrites(t, e)
	succeed(t, e, head)
	if queuedBefore != before {
		t.Fatalf("the late submit queued its job itself (%d messages, want %d): it raced the end under way", queuedBefore, before)
	}
	if n := jobMsgs(t, e); n != before+1 {
		t.Fatalf("%d queued messages after the head's end, want %d (the late job once)", n, before+1)
	}
	if w := cursorWrites(t, e) - writes; w != 1 {
		t.Fatalf("%d cursor writes, want 1 (the move to the late job)", w)
	}
	q, err := e.store.GetSequence(ctx, natsx.SequenceID("acme", "orders", "K"))
	if err != nil || q.Head == head || q.State != jobs.SequenceActive {
		t.Fatalf("sequence %+v %v, want the late job as head", q, err)
	}
}

// TestSequenceLeftToEndThatDidNotLook: a job left to an end under way of
// its key that does not move the key (the end of a waiting job, not the
// head) is started when that end finishes.
func TestSequenceLeftToEndThatDidNotLook(t *testing.T) {
	var (
		e       *env
		waiting string
		next    atomic.Value
	)
	e = newEnv(t, jobs.Config{AfterWrite: func(id, transition string) error {
		if id == waiting && transition == jobs.TransitionCancel && next.Load() == nil {
			next.Store(mustSubmit(t, e, ordered("3", "K")).Record.GetId())
		}
		return nil
	}})
	ctx := ctxT(t)
	head := mustSubmit(t, e, ordered("1", "K")).Record.GetId()
	waiting = mustSubmit(t, e, ordered("2", "K")).Record.GetId()
	// The head ends, but its process dies before moving the sequence on.
	if _, _, err := e.store.Mutate(ctx, head, func(r *cpibv1.JobRecord) error {
		r.Status = cpibv1.JobStatus_JOB_STATUS_SUCCEEDED
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Cancel(ctx, "acme", waiting, nil); err != nil {
		t.Fatal(err)
	}
	id, _ := next.Load().(string)
	if id == "" {
		t.Fatal("no submit during the waiting job's cancel")
	}
	if job, _ := queued(t, e, "acme", "orders"); job.GetId() != id {
		t.Fatalf("queued %s, want the job left to the cancel %s", job.GetId(), id)
	}
}
