package broker_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/oklog/ulid/v2"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cpibroker/cpibroker/devkit/demo"
	"github.com/cpibroker/cpibroker/devkit/testkit"
	"github.com/cpibroker/cpibroker/internal/natsx"
	"github.com/cpibroker/cpibroker/jobs"
	cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"
)

// publishOldRelease queues a job the way the release before the job ID
// moved into the queue subject did (844aff1 jobs/submit.go publish): the
// job message on the five-token subject cpib.jobs.<kind>.<client>.<flow>
// under Nats-Msg-Id = the job ID, with its trace headers, and its queued
// record in cpib-jobs. attempts > 0 makes it a retry whose backoff elapsed
// (kind r; the record queued with the attempts made).
func publishOldRelease(t *testing.T, res *natsx.Resources, kind, flow string, payload []byte, attempts uint32) string {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	id := ulid.MustNew(ulid.Timestamp(now), ulid.DefaultEntropy()).String()
	job := &cpibv1.Job{
		Id: id, Client: demo.PartnerID, Flow: flow, Run: 1,
		CreatedAt: timestamppb.New(now), ExpiresAt: timestamppb.New(now.Add(time.Hour)),
		ContentType: "text/plain", PayloadSize: int64(len(payload)), Payload: payload,
		Attempts: attempts,
	}
	rec := jobs.Accept(job)
	rec.Attempts = attempts
	jb, err := proto.Marshal(job)
	if err != nil {
		t.Fatal(err)
	}
	rb, err := proto.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	msg := &nats.Msg{Subject: "cpib.jobs." + kind + "." + demo.PartnerID + "." + flow, Data: jb, Header: nats.Header{}}
	msg.Header.Set("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	if _, err := res.JS.PublishMsg(ctx, msg, jetstream.WithMsgID(id)); err != nil {
		t.Fatalf("old-format job: %v", err)
	}
	if _, err := res.JS.PublishMsg(ctx, &nats.Msg{Subject: "$KV." + natsx.BucketJobs + "." + id, Data: rb},
		jetstream.WithExpectLastSequencePerSubject(0)); err != nil {
		t.Fatalf("old-format record: %v", err)
	}
	return id
}

// Jobs queued by the previous release on the old subjects (no job ID
// token, so no consumer pulls them) are moved at start: each runs once and
// succeeds, and a second start moves nothing.
func TestStartMovesJobsQueuedOnOldSubjects(t *testing.T) {
	dir := t.TempDir()
	first := testkit.Start(t, testkit.Options{DataDir: dir, NoDispatcher: true})
	if first.Broker.Moved.Total() != 0 {
		t.Fatalf("fresh store: moved %+v", first.Broker.Moved)
	}
	// The previous release's consumer of the pair filters the old subject.
	if _, err := first.Broker.Resources.JS.CreateOrUpdateConsumer(context.Background(), natsx.StreamJobs, jetstream.ConsumerConfig{
		Durable: natsx.QueueConsumer(demo.PartnerID, "demo-echo"), FilterSubject: "cpib.jobs.q." + demo.PartnerID + ".demo-echo",
		AckPolicy: jetstream.AckExplicitPolicy, MaxDeliver: -1,
	}); err != nil {
		t.Fatal(err)
	}
	const queued = 4
	want := map[string][]byte{}
	for i := range queued {
		body := fmt.Appendf(nil, "old queued %d", i)
		want[publishOldRelease(t, first.Broker.Resources, natsx.KindQueue, "demo-echo", body, 0)] = body
	}
	body := []byte("old retry")
	want[publishOldRelease(t, first.Broker.Resources, natsx.KindRetry, "demo-echo", body, 1)] = body
	if err := first.Broker.Stop(); err != nil {
		t.Fatal(err)
	}

	// The upgraded broker: the old messages are still in the duplicate
	// window under their job IDs, the hardest case for the republish.
	again := testkit.Start(t, testkit.Options{DataDir: dir})
	if m := again.Broker.Moved; m.Queued != queued || m.Retries != 1 || m.Consumers != 1 {
		t.Fatalf("moved %+v, want %d queued, 1 retry, 1 consumer refiltered", m, queued)
	}
	p := again.Partner()
	for id, body := range want {
		j := p.WaitJob(id, 60*time.Second)
		if j.Status != "succeeded" {
			t.Fatalf("moved job %s: %+v", id, j)
		}
		r := p.Do(http.MethodGet, "/v1/jobs/"+id+"/result", nil, nil)
		if r.Status != http.StatusOK || !bytes.Equal(r.Body, body) {
			t.Fatalf("result of %s: %d %q, want %q", id, r.Status, r.Body, body)
		}
	}
	// Exactly once: one Echo call per job; the JOBS stream holds no job
	// message any more (old or new subject), so nothing is left to run.
	testkit.Eventually(t, 30*time.Second, "JOBS stream empty", func() bool {
		info, err := again.Broker.Resources.Jobs.Info(context.Background(), jetstream.WithSubjectFilter("cpib.jobs.*.>"))
		return err == nil && info.State.Msgs == 0
	})
	if n := again.Sim.CallCount("Echo"); n != len(want) {
		t.Fatalf("Echo called %d times for %d jobs", n, len(want))
	}
	if err := again.Broker.Stop(); err != nil {
		t.Fatal(err)
	}

	third := testkit.Start(t, testkit.Options{DataDir: dir, Sim: again.Sim, SimCfg: again.SimCfg})
	if m := third.Broker.Moved; m.Total() != 0 || m.Consumers != 0 {
		t.Fatalf("second start moved %+v", m)
	}
	p3 := third.Partner()
	for id := range want {
		if j := p3.WaitJob(id, 30*time.Second); j.Status != "succeeded" {
			t.Fatalf("job %s after the second start: %+v", id, j)
		}
	}
	if n := third.Sim.CallCount("Echo"); n != len(want) {
		t.Fatalf("Echo called %d times after the second start, want %d", n, len(want))
	}
}
