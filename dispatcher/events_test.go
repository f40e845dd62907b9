package dispatcher_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/devkit/cpisim"
	"github.com/cpibroker/cpibroker/devkit/testkit"
	"github.com/cpibroker/cpibroker/internal/natsx"
	"github.com/cpibroker/cpibroker/jobs"
	cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// events returns the (type, job) of every event of the demo partner.
func events(t *testing.T, sys *testkit.System) [][2]string {
	t.Helper()
	var out [][2]string
	for seq := uint64(1); ; {
		m, err := sys.Broker.Resources.Events.GetMsg(context.Background(), seq, jetstream.WithGetMsgSubject(natsx.EventSubject("demo-partner")))
		if err != nil {
			return out
		}
		var e jobs.Event
		if err := json.Unmarshal(m.Data, &e); err != nil {
			t.Fatal(err)
		}
		out = append(out, [2]string{e.Type, e.Data.ID})
		seq = m.Sequence + 1
	}
}

// A run whose terminal record was written but whose event was not (the
// process died in between, before acking) gets its event from the
// redelivered message; a cancel whose event was not published gets it
// from the dispatcher that drops the canceled job's message. Each run has
// exactly one event.
func TestEventRepublishedAfterCrash(t *testing.T) {
	sys := testkit.Start(t, testkit.Options{})
	sys.Broker.Dispatcher.Pause() // the flow below is new: its pullers start paused
	flow := sys.AddFlow(cpisim.IFlow{ID: "Evt", Name: "Evt", Address: "/t/evt"}, nil)
	p := sys.Partner()
	ctx := context.Background()
	var ended, canceled testkit.Job
	p.Submit(flow, "text/plain", []byte("a"), nil).JSON(t, &ended)
	p.Submit(flow, "text/plain", []byte("b"), nil).JSON(t, &canceled)
	seqOf := func(id string) uint64 {
		info, err := sys.Broker.Resources.Jobs.Info(ctx, jetstream.WithSubjectFilter(natsx.ConsumerSubject(natsx.KindQueue, "demo-partner", flow)))
		if err != nil || info.State.Msgs != 2 {
			t.Fatalf("queue: %v %+v", err, info)
		}
		for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
			m, err := sys.Broker.Resources.Jobs.GetMsg(ctx, seq)
			if err == nil && m.Header.Get("Nats-Msg-Id") == id {
				return seq
			}
		}
		t.Fatalf("no message for %s", id)
		return 0
	}
	// As if a dispatcher had ended the run with this message and died
	// before publishing the event and acking.
	seq := seqOf(ended.ID)
	now := timestamppb.Now()
	writeRecord(t, sys, ended.ID, func(r *cpibv1.JobRecord) {
		r.Status, r.Attempts, r.DispatchSeq = cpibv1.JobStatus_JOB_STATUS_SUCCEEDED, 1, seq
		r.Result = &cpibv1.Result{StatusCode: 200, Body: []byte("a"), Size: 1}
		r.UpdatedAt, r.CompletedAt = now, now
	})
	// As if the ingress had canceled and died before publishing.
	writeRecord(t, sys, canceled.ID, func(r *cpibv1.JobRecord) {
		r.Status = cpibv1.JobStatus_JOB_STATUS_CANCELED
		r.Error = &cpibv1.JobError{Code: jobs.CodeCanceled, Message: "canceled by the client"}
		r.UpdatedAt, r.CompletedAt = now, now
	})
	if got := events(t, sys); len(got) != 0 {
		t.Fatalf("events before the messages are handled: %v", got)
	}
	sys.Broker.Dispatcher.Resume()
	testkit.Eventually(t, 30*time.Second, "both messages handled", func() bool {
		info, err := sys.Broker.Resources.Jobs.Info(ctx, jetstream.WithSubjectFilter(natsx.ConsumerSubject(natsx.KindQueue, "demo-partner", flow)))
		return err == nil && info.State.Msgs == 0
	})
	got := events(t, sys)
	want := map[[2]string]bool{{jobs.EventSucceeded, ended.ID}: true, {jobs.EventCanceled, canceled.ID}: true}
	if len(got) != 2 || !want[got[0]] || !want[got[1]] {
		t.Fatalf("events %v, want one succeeded and one canceled", got)
	}
	if n := sys.Sim.CallCount("Evt"); n != 0 {
		t.Fatalf("CPI called %d times for runs that had ended", n)
	}
	// Publishing again (a second crash) adds nothing: Nats-Msg-Id.
	rec, _, _ := sys.Broker.Jobs.Get(ctx, ended.ID)
	if err := sys.Broker.Jobs.PublishEvent(ctx, rec, nil); err != nil {
		t.Fatal(err)
	}
	if got := events(t, sys); len(got) != 2 {
		t.Fatalf("a re-published event was stored again: %v", got)
	}
}

// writeRecord changes a job record behind the lifecycle's back, as a
// process that died right after its record write leaves it.
func writeRecord(t *testing.T, sys *testkit.System, id string, fn func(*cpibv1.JobRecord)) {
	t.Helper()
	// A job no dispatcher has written yet is read from its message.
	rec, rev, err := sys.Broker.Jobs.Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	fn(rec)
	b, err := proto.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	kv := sys.Broker.Resources.Records
	if rev == 0 {
		_, err = kv.Create(t.Context(), id, b)
	} else {
		_, err = kv.Update(t.Context(), id, b, rev)
	}
	if err != nil {
		t.Fatal(err)
	}
}
