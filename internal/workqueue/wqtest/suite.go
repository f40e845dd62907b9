// Package wqtest is the conformance suite of the work-queue engine: every
// user of internal/workqueue runs Run with its own key scheme and consumer
// configuration, the way each Watermill backend runs tests.TestPubSub. It
// checks the engine's promises against a real embedded JetStream:
//
//   - a consumer retired as idle just as a message arrives gets its
//     consumer back at the next reconcile (an orphan subject), and the
//     message is handled;
//   - with Features.RepairsAnyOrphan, so does a subject whose consumer
//     another process deleted, or that never had one;
//   - shutdown hands back a message pulled after Work.Close at once (Nak),
//     so it is not held until its ack wait ends;
//   - a crash between scheduling a retry and acking the message repeats the
//     attempt and still leaves one pending schedule, not two.
package wqtest

import (
	"context"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/internal/workqueue"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Queue is one user of the engine as the suite drives it.
type Queue struct {
	// JS and Stream are the user's JetStream and work-queue stream.
	JS     jetstream.JetStream
	Stream jetstream.Stream
	// Engine is the user's registry configuration (Owns, Orphans, Ensure);
	// the suite sets NewRunner.
	Engine workqueue.Config
	// Keys are distinct valid keys; each test takes its own.
	Keys []Key
	// Subject is the keyed subject of a key, Consumer its consumer's name.
	Subject  func(Key) string
	Consumer func(Key) string
	// ScheduleSubject is the pending-retry subject of a message ID.
	ScheduleSubject func(id string) string
	// Features are the promises this user's queue makes beyond the core.
	Features Features
}

// Features are optional promises of a queue.
type Features struct {
	// RepairsAnyOrphan: the reconcile gives a consumer to any keyed
	// subject that holds messages, not only to those it retired itself.
	RepairsAnyOrphan bool
}

// Key is one key of a queue: a client and its flow or lane.
type Key struct{ Client, Name string }

// Run runs the suite against q.
func Run(t *testing.T, q Queue) {
	if len(q.Keys) < 5 {
		t.Fatal("wqtest: give at least 5 keys")
	}
	t.Run("retired consumer, message arrives", func(t *testing.T) { retiredOrphan(t, q, q.Keys[0]) })
	t.Run("shutdown hands messages back", func(t *testing.T) { handBack(t, q, q.Keys[2]) })
	t.Run("crash between schedule and ack", func(t *testing.T) { crashAfterSchedule(t, q, q.Keys[3]) })
	if q.Features.RepairsAnyOrphan {
		t.Run("consumer deleted while a message arrives", func(t *testing.T) { deleted(t, q, q.Keys[1]) })
		t.Run("subject that never had a consumer", func(t *testing.T) { orphan(t, q, q.Keys[4]) })
	}
}

// registry starts a registry whose runners pass every message's data to
// got and ack it; with retire, an idle runner retires its consumer at
// once.
func registry(t *testing.T, q Queue, work *workqueue.Work, got chan<- string, retire ...bool) *workqueue.Registry {
	t.Helper()
	cfg := q.Engine
	var reg *workqueue.Registry
	cfg.NewRunner = func(ctx context.Context, name string, c jetstream.Consumer) workqueue.Runner {
		return workqueue.NewPuller(ctx, workqueue.PullConfig{
			Consumer: c, Slots: 2, IdleWait: 200 * time.Millisecond, IdleTTL: 0, Now: time.Now, Work: work,
			Handle: func(_ context.Context, m jetstream.Msg) {
				got <- string(m.Data())
				_ = m.Ack()
			},
			Retire: func(ctx context.Context, busy bool) bool {
				if len(retire) == 0 || !retire[0] || !workqueue.Retire(ctx, q.JS, c, busy) {
					return false
				}
				reg.Retired(name)
				return true
			},
		})
	}
	reg = workqueue.NewRegistry(cfg)
	return reg
}

func publish(t *testing.T, q Queue, k Key, data string) {
	t.Helper()
	if _, err := q.JS.Publish(t.Context(), q.Subject(k), []byte(data)); err != nil {
		t.Fatal(err)
	}
}

func receive(t *testing.T, got <-chan string, want string) {
	t.Helper()
	select {
	case d := <-got:
		if d != want {
			t.Fatalf("handled %q, want %q", d, want)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("%q never handled", want)
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 20s: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func orphan(t *testing.T, q Queue, k Key) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	publish(t, q, k, "orphaned")
	if _, err := q.Stream.Consumer(ctx, q.Consumer(k)); err == nil {
		t.Fatal("the consumer exists before the reconcile")
	}
	var work workqueue.Work
	got := make(chan string, 4)
	reg := registry(t, q, &work, got)
	reg.Reconcile(ctx)
	receive(t, got, "orphaned")
	if !reg.Running(q.Consumer(k)) {
		t.Error("no runner for the repaired consumer")
	}
	reg.StopAll()
	// The runners have returned once Wait does (a pull ends with its
	// context, not after IdleWait), and a stopped registry starts none.
	wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
	defer wcancel()
	if !reg.Wait(wctx) {
		t.Fatal("runners still running 5s after StopAll")
	}
	if reg.Len() != 0 {
		t.Errorf("%d runners left after Wait", reg.Len())
	}
	reg.Start(ctx, q.Consumer(k))
	reg.Reconcile(ctx)
	if reg.Len() != 0 {
		t.Error("a stopped registry started a runner")
	}
	work.Close()
}

func retiredOrphan(t *testing.T, q Queue, k Key) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	if err := q.Engine.Ensure(ctx, q.Consumer(k)); err != nil {
		t.Fatal(err)
	}
	var work workqueue.Work
	got := make(chan string, 4)
	reg := registry(t, q, &work, got, true)
	reg.Start(ctx, q.Consumer(k))
	eventually(t, "idle consumer retired", func() bool {
		_, err := q.Stream.Consumer(ctx, q.Consumer(k))
		return workqueue.Gone(err) && !reg.Running(q.Consumer(k))
	})
	// A publisher that still believed the consumer existed.
	publish(t, q, k, "just after retirement")
	reg.Reconcile(ctx)
	receive(t, got, "just after retirement")
	reg.StopAll()
	work.Close()
}

func deleted(t *testing.T, q Queue, k Key) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	if err := q.Engine.Ensure(ctx, q.Consumer(k)); err != nil {
		t.Fatal(err)
	}
	var work workqueue.Work
	got := make(chan string, 4)
	reg := registry(t, q, &work, got)
	done := make(chan struct{})
	// The periodic reconcile, as in production: the runner of the deleted
	// consumer may still be ending when one reconcile looks.
	go func() { _ = reg.Run(ctx, 50*time.Millisecond, nil); close(done) }()
	eventually(t, "runner started", func() bool { return reg.Running(q.Consumer(k)) })
	// Deleted (another process retired it as idle) just as a message comes.
	if err := q.JS.DeleteConsumer(ctx, q.Stream.CachedInfo().Config.Name, q.Consumer(k)); err != nil {
		t.Fatal(err)
	}
	publish(t, q, k, "late")
	receive(t, got, "late")
	cancel()
	<-done
	reg.StopAll()
	work.Close()
}

func handBack(t *testing.T, q Queue, k Key) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	if err := q.Engine.Ensure(ctx, q.Consumer(k)); err != nil {
		t.Fatal(err)
	}
	var work workqueue.Work
	work.Close() // shutting down: nothing may start
	got := make(chan string, 4)
	reg := registry(t, q, &work, got)
	publish(t, q, k, "during shutdown")
	reg.Start(ctx, q.Consumer(k))
	cons, err := q.Stream.Consumer(ctx, q.Consumer(k))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "pulled", func() bool {
		info, err := cons.Info(ctx)
		return err == nil && info.Delivered.Consumer >= 1
	})
	reg.StopAll()
	eventually(t, "runner stopped", func() bool { return !reg.Running(q.Consumer(k)) })
	select {
	case d := <-got:
		t.Fatalf("%q handled after Close", d)
	default:
	}
	// The next process gets it at once: handed back, not held until the
	// ack wait ends (the suite waits at most 20 s, so with an ack wait
	// longer than that a message not handed back fails it).
	if info, err := cons.Info(ctx); err == nil && info.Config.AckWait <= 20*time.Second {
		t.Logf("ack wait %v: the hand-back is not told apart from a redelivery", info.Config.AckWait)
	}
	var next workqueue.Work
	reg2 := registry(t, q, &next, got)
	reg2.Start(ctx, q.Consumer(k))
	receive(t, got, "during shutdown")
	reg2.StopAll()
	next.Close()
}

func crashAfterSchedule(t *testing.T, q Queue, k Key) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	if err := q.Engine.Ensure(ctx, q.Consumer(k)); err != nil {
		t.Fatal(err)
	}
	cons, err := q.Stream.Consumer(ctx, q.Consumer(k))
	if err != nil {
		t.Fatal(err)
	}
	publish(t, q, k, "attempt")
	const id = "wqtest-crash"
	at := workqueue.ScheduleAt(time.Now(), time.Hour) // never fires during the test
	attempts := 0
	for attempts < 2 {
		batch, err := cons.Fetch(1, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			attempts++
			if err := workqueue.ScheduleRetry(ctx, q.JS, q.ScheduleSubject(id), q.Subject(k), m.Data(), nats.Header{}, at); err != nil {
				t.Fatal(err)
			}
			if attempts == 1 {
				_ = m.Nak() // the process died before its ack: the message comes again
				continue
			}
			if err := m.DoubleAck(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	info, err := q.Stream.Info(ctx, jetstream.WithSubjectFilter(q.ScheduleSubject(id)))
	if err != nil {
		t.Fatal(err)
	}
	if n := info.State.Subjects[q.ScheduleSubject(id)]; n != 1 {
		t.Fatalf("%d pending schedules after a repeated attempt, want 1", n)
	}
	ci, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ci.NumPending != 0 || ci.NumAckPending != 0 {
		t.Fatalf("the attempted message is still queued: %+v", ci)
	}
}
