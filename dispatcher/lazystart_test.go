package dispatcher_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/broker"
	"github.com/cpibroker/cpibroker/devkit/cpisim"
	"github.com/cpibroker/cpibroker/devkit/testkit"
	"github.com/cpibroker/cpibroker/internal/natsx"
	"github.com/cpibroker/cpibroker/jobs"
)

// The crash windows of an attempt whose start is written with its outcome
// (no running write for a short call), injected with jobs.Config.BeforeWrite.

// recordWrites is how many record writes the system made (the records'
// stream's last sequence): the tests below run one job each.
func recordWrites(t *testing.T, sys *testkit.System) uint64 {
	t.Helper()
	st, err := sys.Broker.Resources.JS.Stream(t.Context(), "KV_"+natsx.BucketJobs)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.LastSeq
}

// jobEvents are the events of one job.
func jobEvents(t *testing.T, sys *testkit.System, id string) []string {
	t.Helper()
	var out []string
	for _, e := range events(t, sys) {
		if e[1] == id {
			out = append(out, e[0])
		}
	}
	return out
}

// waitQueueEmpty waits until the JOBS stream holds no message: the job's
// message was acknowledged.
func waitQueueEmpty(t *testing.T, sys *testkit.System) {
	t.Helper()
	testkit.Eventually(t, 30*time.Second, "the job's message acknowledged", func() bool {
		info, err := sys.Broker.Resources.Jobs.Info(context.Background())
		return err == nil && info.State.Msgs == 0
	})
}

// TestShortAttempt_one_record_write: a call that ends before RunningAfter
// writes the job's record once, queued → succeeded, with its attempt
// counted; the message and the event make the rest of the job's writes.
func TestShortAttempt_one_record_write(t *testing.T) {
	sys := testkit.Start(t, testkit.Options{Configure: func(c *broker.Config) {
		c.DispatcherConfig.RunningAfter = time.Hour
	}})
	p := sys.Partner()
	var j testkit.Job
	p.Submit("demo-echo", "text/plain", []byte("once"), nil).JSON(t, &j)
	if done := p.WaitJob(j.ID, 30*time.Second); done.Status != "succeeded" || done.Attempts != 1 {
		t.Fatalf("job ended %s after %d attempts", done.Status, done.Attempts)
	}
	waitQueueEmpty(t, sys)
	if n := recordWrites(t, sys); n != 1 {
		t.Fatalf("record written %d times, want 1 (the outcome with its start)", n)
	}
	if got := jobEvents(t, sys, j.ID); len(got) != 1 || got[0] != jobs.EventSucceeded {
		t.Fatalf("events %v", got)
	}
}

// TestShortAttempt_crash_before_its_outcome_repeats_the_call: the
// dispatcher dies after CPI answered and before the outcome (and the
// start) was written: nothing of the attempt is stored, the message is
// redelivered, the call is repeated (with the same Idempotency-Key) and the
// run ends once, with one event.
func TestShortAttempt_crash_before_its_outcome_repeats_the_call(t *testing.T) {
	var crashes atomic.Int32
	sys := testkit.Start(t, testkit.Options{Configure: func(c *broker.Config) {
		c.DispatcherConfig.RunningAfter = time.Hour
		c.Jobs.BeforeWrite = func(_, transition string) error {
			if transition == jobs.TransitionSucceed && crashes.Add(1) == 1 {
				return errors.New("injected: the dispatcher died before writing the outcome")
			}
			return nil
		}
	}})
	p := sys.Partner()
	var j testkit.Job
	p.Submit("demo-echo", "text/plain", []byte("again"), nil).JSON(t, &j)
	if done := p.WaitJob(j.ID, 30*time.Second); done.Status != "succeeded" || done.Attempts != 1 {
		t.Fatalf("job ended %s after %d attempts", done.Status, done.Attempts)
	}
	waitQueueEmpty(t, sys)
	if n := sys.Sim.CallCount("Echo"); n != 2 {
		t.Fatalf("CPI called %d times, want 2 (the call repeated after the crash)", n)
	}
	if n := recordWrites(t, sys); n != 1 {
		t.Fatalf("record written %d times, want 1", n)
	}
	if got := jobEvents(t, sys, j.ID); len(got) != 1 || got[0] != jobs.EventSucceeded {
		t.Fatalf("events %v, want one job.succeeded", got)
	}
}

// TestShortAttempt_cancel_during_the_call_wins: a DELETE that lands while
// a short call is under way (the job still reads queued) cancels the job;
// the call's outcome, written afterwards, loses the compare-and-set and is
// dropped. The run ends once, canceled, with one event.
func TestShortAttempt_cancel_during_the_call_wins(t *testing.T) {
	var (
		once     sync.Once
		partner  atomic.Pointer[testkit.Partner]
		canceled = make(chan testkit.Response, 1)
	)
	sys := testkit.Start(t, testkit.Options{Configure: func(c *broker.Config) {
		c.DispatcherConfig.RunningAfter = time.Hour
		c.Jobs.BeforeWrite = func(id, transition string) error {
			if transition == jobs.TransitionSucceed {
				// CPI has answered; the partner cancels before the outcome
				// is written.
				once.Do(func() { canceled <- partner.Load().Do(http.MethodDelete, "/v1/jobs/"+id, nil, nil) })
			}
			return nil
		}
	}})
	p := sys.Partner()
	partner.Store(p)
	var j testkit.Job
	p.Submit("demo-echo", "text/plain", []byte("too late"), nil).JSON(t, &j)
	var cancel testkit.Response
	select {
	case cancel = <-canceled:
	case <-time.After(30 * time.Second):
		t.Fatal("the job's outcome was never written")
	}
	if cancel.Status != http.StatusOK {
		t.Fatalf("DELETE during the call: %d %s", cancel.Status, cancel.Body)
	}
	waitQueueEmpty(t, sys)
	if done := p.WaitJob(j.ID, 30*time.Second); done.Status != "canceled" {
		t.Fatalf("job ended %s, want canceled", done.Status)
	}
	if n := sys.Sim.CallCount("Echo"); n != 1 {
		t.Fatalf("CPI called %d times", n)
	}
	if got := jobEvents(t, sys, j.ID); len(got) != 1 || got[0] != jobs.EventCanceled {
		t.Fatalf("events %v, want one job.canceled", got)
	}
	if r := p.Do(http.MethodGet, "/v1/jobs/"+j.ID+"/result", nil, nil); r.Status != http.StatusConflict {
		t.Fatalf("result of the canceled job: %d %s", r.Status, r.Body)
	}
}

// TestLongAttempt_written_running_refuses_cancel: a call that lasts longer
// than RunningAfter writes the record as running (attempt counted), after
// which a DELETE is refused and the job ends with its outcome: two record
// writes.
func TestLongAttempt_written_running_refuses_cancel(t *testing.T) {
	started := make(chan struct{})
	var once sync.Once
	sys := testkit.Start(t, testkit.Options{Configure: func(c *broker.Config) {
		c.DispatcherConfig.RunningAfter = time.Millisecond
		c.Jobs.BeforeWrite = func(_, transition string) error {
			if transition == jobs.TransitionStartAttempt {
				once.Do(func() { close(started) })
			}
			return nil
		}
	}})
	// The call lasts far longer than RunningAfter.
	flow := sys.AddFlow(cpisim.IFlow{ID: "Long", Name: "Long", Address: "/t/long", Faults: cpisim.Faults{Latency: 3 * time.Second}}, nil)
	p := sys.Partner()
	var j testkit.Job
	p.Submit(flow, "text/plain", []byte("long"), nil).JSON(t, &j)
	select {
	case <-started:
	case <-time.After(30 * time.Second):
		t.Fatal("the running state was never written")
	}
	testkit.Eventually(t, 30*time.Second, "the job reads running", func() bool {
		var cur testkit.Job
		p.Do(http.MethodGet, "/v1/jobs/"+j.ID, nil, nil).JSON(t, &cur)
		return cur.Status == "running" && cur.Attempts == 1
	})
	if r := p.Do(http.MethodDelete, "/v1/jobs/"+j.ID, nil, nil); r.Status != http.StatusConflict {
		t.Fatalf("DELETE of a running job: %d %s", r.Status, r.Body)
	}
	if done := p.WaitJob(j.ID, 30*time.Second); done.Status != "succeeded" || done.Attempts != 1 {
		t.Fatalf("job ended %s after %d attempts", done.Status, done.Attempts)
	}
	if n := recordWrites(t, sys); n != 2 {
		t.Fatalf("record written %d times, want 2 (running, then the outcome)", n)
	}
}

// TestLongAttempt_running_write_with_lost_ack_still_ends: the running
// write of a long call is stored but its acknowledgement is lost (as in a
// node loss). The outcome's compare-and-set then finds the record moved by
// the attempt's own start; it must still end the job, not drop the
// outcome as if a cancel had won (the job stayed running with its message
// acknowledged).
func TestLongAttempt_running_write_with_lost_ack_still_ends(t *testing.T) {
	lost := make(chan struct{})
	var once sync.Once
	sys := testkit.Start(t, testkit.Options{Configure: func(c *broker.Config) {
		c.DispatcherConfig.RunningAfter = time.Millisecond
		c.Jobs.AfterWrite = func(_, transition string) error {
			if transition != jobs.TransitionStartAttempt {
				return nil
			}
			err := errors.New("acknowledgement lost")
			once.Do(func() { close(lost) })
			return err
		}
	}})
	flow := sys.AddFlow(cpisim.IFlow{ID: "LongLost", Name: "LongLost", Address: "/t/longlost", Faults: cpisim.Faults{Latency: 3 * time.Second}}, nil)
	p := sys.Partner()
	var j testkit.Job
	p.Submit(flow, "text/plain", []byte("long"), nil).JSON(t, &j)
	select {
	case <-lost:
	case <-time.After(30 * time.Second):
		t.Fatal("the running state was never written")
	}
	if done := p.WaitJob(j.ID, 30*time.Second); done.Status != "succeeded" || done.Attempts != 1 {
		t.Fatalf("job ended %s after %d attempts", done.Status, done.Attempts)
	}
	waitQueueEmpty(t, sys)
	if got := jobEvents(t, sys, j.ID); len(got) != 1 || got[0] != jobs.EventSucceeded {
		t.Fatalf("events %v", got)
	}
	if n := sys.Sim.CallCount("LongLost"); n != 1 {
		t.Fatalf("%d calls, want 1", n)
	}
}
