package ingress_test

import (
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/broker"
	"github.com/cpibroker/cpibroker/devkit/testkit"
	"github.com/cpibroker/cpibroker/jobs"
	"github.com/nats-io/nats.go/jetstream"
)

// lostAck injects one lost acknowledgement of a job message: the message
// reaches JetStream, or with drop it is lost on the way (the connection
// died), and Submit hears a timeout.
type lostAck struct {
	armed atomic.Bool
	drop  atomic.Bool
}

func (l *lostAck) fault(string) jobs.Fault {
	switch {
	case !l.armed.CompareAndSwap(true, false):
		return jobs.NoFault
	case l.drop.Load():
		return jobs.LoseMessage
	}
	return jobs.LoseAck
}

func startLostAck(t *testing.T, configure func(*broker.Config)) (*testkit.System, *lostAck) {
	l := &lostAck{}
	sys := testkit.Start(t, testkit.Options{Configure: func(c *broker.Config) {
		c.Jobs.Fault = l.fault
		c.DispatchPaused = true // nothing pulls a message before the test decides
		if configure != nil {
			configure(c)
		}
	}})
	return sys, l
}

// TestLostAck_503_then_replay_runs_the_job: a submit with an
// Idempotency-Key whose message acknowledgement is lost answers 503
// without claiming that nothing was stored, and the partner's retry with
// the same key answers 202 only for a job that runs: once when the first
// message was stored, and also when it never was (the replay stores it).
func TestLostAck_503_then_replay_runs_the_job(t *testing.T) {
	for _, tc := range []struct {
		name string
		drop bool
	}{{"message stored", false}, {"message never stored", true}} {
		t.Run(tc.name, func(t *testing.T) {
			sys, l := startLostAck(t, nil)
			p := sys.Partner()
			key := http.Header{"Idempotency-Key": {"lost-ack-" + strings.ReplaceAll(tc.name, " ", "-")}}
			l.drop.Store(tc.drop)
			l.armed.Store(true)
			first := p.Submit("demo-echo", "application/json", []byte(`{"n":1}`), key)
			pb := expectProblem(t, first, http.StatusServiceUnavailable, "unavailable")
			if strings.Contains(pb.Detail, "nothing was stored") || !strings.Contains(pb.Detail, "Idempotency-Key") {
				t.Fatalf("503 after a lost acknowledgement says %q", pb.Detail)
			}
			again := p.Submit("demo-echo", "application/json", []byte(`{"n":1}`), key)
			if again.Status != http.StatusAccepted || again.Header.Get("Idempotent-Replayed") != "true" {
				t.Fatalf("retry with the same key: %d %v %s", again.Status, again.Header, again.Body)
			}
			var j testkit.Job
			again.JSON(t, &j)
			sys.Broker.Dispatcher.Resume()
			if got := p.WaitJob(j.ID, 30*time.Second); got.Status != "succeeded" || got.Attempts != 1 {
				t.Fatalf("replayed job ended %s after %d attempts: %+v", got.Status, got.Attempts, got.Error)
			}
			if n := sys.Sim.CallCount("Echo"); n != 1 {
				t.Fatalf("CPI called %d times for one job", n)
			}
		})
	}
}

// TestLostAck_lost_message_leaves_nothing_queued: a submit whose message
// was lost on its way answers 503 and leaves neither a record nor a
// message: a job's record is written only by a dispatcher (or a cancel),
// so no job can claim to be queued without its message. A job stored
// normally meanwhile runs.
func TestLostAck_lost_message_leaves_nothing_queued(t *testing.T) {
	sys, l := startLostAck(t, nil)
	p := sys.Partner()
	l.drop.Store(true)
	l.armed.Store(true)
	expectProblem(t, p.Submit("demo-echo", "application/json", []byte(`{"n":1}`), http.Header{"Idempotency-Key": {"never-retried"}}),
		http.StatusServiceUnavailable, "unavailable")
	if keys, err := sys.Broker.Resources.Records.Keys(t.Context()); !errors.Is(err, jetstream.ErrNoKeysFound) {
		t.Fatalf("records after the lost message: %v %v", keys, err)
	}
	if info, err := sys.Broker.Resources.Jobs.Info(t.Context()); err != nil || info.State.Msgs != 0 {
		t.Fatalf("JOBS after the lost message: %+v %v", info, err)
	}
	ok := p.Submit("demo-echo", "application/json", []byte(`{"n":2}`), nil)
	if ok.Status != http.StatusAccepted {
		t.Fatalf("submit: %d %s", ok.Status, ok.Body)
	}
	var stored testkit.Job
	ok.JSON(t, &stored)
	sys.Broker.Dispatcher.Resume()
	if j := p.WaitJob(stored.ID, 30*time.Second); j.Status != "succeeded" {
		t.Fatalf("stored job ended %s %+v", j.Status, j.Error)
	}
}
