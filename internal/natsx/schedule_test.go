package natsx_test

import (
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/devkit/testkit"
	"github.com/cpibroker/cpibroker/internal/natsx"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestSchedule_fires_onto_retry_consumer is the retry path of DESIGN 5: a
// schedule on cpib.jobs.s.<id> delivers the job to cpib.jobs.r.<c>.<f> at
// its time, through the consumer EnsureConsumer(KindRetry) makes, not before,
// not to the queue consumer, and leaves nothing behind once acked.
func TestSchedule_fires_onto_retry_consumer(t *testing.T) {
	ctx := ctxT(t)
	_, _, res := testkit.NATS(t)
	const client, flow, id = "acme", "echo", "01JRETRY"
	retry, err := natsx.EnsureConsumer(ctx, res.JS, natsx.KindRetry, client, flow, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	queue, err := natsx.EnsureConsumer(ctx, res.JS, natsx.KindQueue, client, flow, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}

	// Whole seconds, as the dispatcher rounds: @at has second precision.
	at := time.Now().Truncate(time.Second).Add(2 * time.Second)
	msg := &nats.Msg{Subject: natsx.ScheduleSubject(id), Data: []byte("attempt 2"), Header: nats.Header{}}
	msg.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	if _, err := res.JS.PublishMsg(ctx, msg,
		jetstream.WithScheduleAt(at), jetstream.WithScheduleTarget(natsx.RetrySubject(client, flow, id))); err != nil {
		t.Fatalf("publish schedule: %v", err)
	}

	var got jetstream.Msg
	deadline := time.Now().Add(15 * time.Second)
	for got == nil && time.Now().Before(deadline) {
		batch, err := retry.Fetch(1, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			t.Fatalf("fetch: %v", err)
		}
		for m := range batch.Messages() {
			got = m
		}
	}
	arrived := time.Now()
	if got == nil {
		t.Fatal("scheduled message never reached the retry consumer")
	}
	if arrived.Before(at) {
		t.Errorf("fired at %v, before its time %v", arrived, at)
	}
	if got.Subject() != natsx.RetrySubject(client, flow, id) || string(got.Data()) != "attempt 2" {
		t.Errorf("got %s %q", got.Subject(), got.Data())
	}
	if tp := got.Headers().Get("traceparent"); tp != msg.Header.Get("traceparent") {
		t.Errorf("traceparent on the fired message = %q", tp)
	}
	if err := got.DoubleAck(ctx); err != nil {
		t.Fatalf("ack: %v", err)
	}

	if qi, err := queue.Info(ctx); err != nil {
		t.Fatal(err)
	} else if qi.NumPending != 0 || qi.Delivered.Stream != 0 {
		t.Errorf("queue consumer saw the retry: %d pending, delivered up to %d", qi.NumPending, qi.Delivered.Stream)
	}
	info, err := res.Jobs.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 0 {
		t.Errorf("JOBS holds %d messages after the fired retry was acked", info.State.Msgs)
	}
}

// TestSchedule_replaces_pending_schedule: the schedule subject holds one
// schedule per job; publishing again before it fires moves it, so a job
// never gets two retries for one failure.
func TestSchedule_replaces_pending_schedule(t *testing.T) {
	ctx := ctxT(t)
	_, _, res := testkit.NATS(t)
	const client, flow, id = "acme", "echo", "01JMOVED"
	retry, err := natsx.EnsureConsumer(ctx, res.JS, natsx.KindRetry, client, flow, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().Truncate(time.Second).Add(2 * time.Second)
	for _, body := range []string{"first", "second"} {
		if _, err := res.JS.PublishMsg(ctx, &nats.Msg{Subject: natsx.ScheduleSubject(id), Data: []byte(body)},
			jetstream.WithScheduleAt(at), jetstream.WithScheduleTarget(natsx.RetrySubject(client, flow, id))); err != nil {
			t.Fatalf("publish %s: %v", body, err)
		}
	}
	var got []string
	deadline := time.Now().Add(at.Sub(time.Now()) + 3*time.Second)
	for time.Now().Before(deadline) {
		batch, err := retry.Fetch(10, jetstream.FetchMaxWait(500*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			got = append(got, string(m.Data()))
			_ = m.DoubleAck(ctx)
		}
	}
	if len(got) != 1 || got[0] != "second" {
		t.Fatalf("retry consumer got %q, want [second]", got)
	}
}
