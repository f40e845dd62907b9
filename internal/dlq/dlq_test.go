package dlq_test

import (
	"context"
	"testing"

	"github.com/cpibroker/cpibroker/devkit/testkit"
	"github.com/cpibroker/cpibroker/internal/dlq"
	cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"
)

// TestWriteThenList: what the writers keep, the reader shows with the same
// code, message and status, so the format has one author on both sides.
func TestWriteThenList(t *testing.T) {
	_, _, res := testkit.NATS(t)
	ctx := context.Background()
	job := &cpibv1.Job{Id: "01J0000000000000000000000A", Client: "acme", Flow: "orders", Run: 2, Attempts: 5}
	if err := dlq.WriteJob(ctx, res.JS, job, dlq.Reason{Code: "attempts_exhausted", Message: "5 attempts failed", Status: 503}); err != nil {
		t.Fatal(err)
	}
	// A redelivered failure is kept once.
	if err := dlq.WriteJob(ctx, res.JS, job, dlq.Reason{Code: "attempts_exhausted"}); err != nil {
		t.Fatal(err)
	}
	task := &cpibv1.Delivery{Id: "ev1_w-hook", Client: "acme", Flow: "orders", JobId: job.Id, EventId: "ev1", WebhookId: "hook"}
	if err := dlq.WriteDelivery(ctx, res.JS, task, dlq.Reason{Code: dlq.CodeGone, Message: "410", Status: 410}); err != nil {
		t.Fatal(err)
	}
	if err := dlq.WriteUndecodable(ctx, res.JS, "acme", "orders", []byte{0xff, 0xff}); err != nil {
		t.Fatal(err)
	}
	page, err := dlq.List(ctx, res.DLQ, dlq.Query{Client: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 3 {
		t.Fatalf("entries = %+v, want 3", page.Items)
	}
	j, d, u := page.Items[0], page.Items[1], page.Items[2]
	if j.Kind != dlq.KindJob || j.JobID != job.Id || j.Run != 2 || j.Attempts != 5 || j.Code != "attempts_exhausted" || j.Message != "5 attempts failed" || j.StatusCode != 503 {
		t.Errorf("job entry = %+v", j)
	}
	if d.Kind != dlq.KindCallback || d.JobID != job.Id || d.Code != dlq.CodeGone || d.StatusCode != 410 || d.WebhookID != "hook" {
		t.Errorf("delivery entry = %+v", d)
	}
	if u.Kind != dlq.KindJob || u.Code != dlq.CodeUndecodable {
		t.Errorf("undecodable entry = %+v", u)
	}
	if page, _ := dlq.List(ctx, res.DLQ, dlq.Query{Kind: dlq.KindCallback}); len(page.Items) != 1 {
		t.Errorf("callback entries = %+v, want 1", page.Items)
	}
}

// TestReplayHandsEachKindToItsOwner: Replay calls the job replayer for job
// entries and the delivery replayer for delivery entries, removes what was
// replayed and keeps what was skipped.
func TestReplayHandsEachKindToItsOwner(t *testing.T) {
	_, _, res := testkit.NATS(t)
	ctx := context.Background()
	job := &cpibv1.Job{Id: "01J0000000000000000000000B", Client: "acme", Flow: "orders"}
	skip := &cpibv1.Job{Id: "01J0000000000000000000000C", Client: "acme", Flow: "orders"}
	task := &cpibv1.Delivery{Id: "ev2_w-hook", Client: "acme", Flow: "orders", Attempts: 7}
	for _, j := range []*cpibv1.Job{job, skip} {
		if err := dlq.WriteJob(ctx, res.JS, j, dlq.Reason{Code: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := dlq.WriteDelivery(ctx, res.JS, task, dlq.Reason{Code: dlq.CodeRejected}); err != nil {
		t.Fatal(err)
	}
	var jobsPut []string
	var tasksPut []uint64
	out, err := dlq.Replay(ctx, res.DLQ, []uint64{1, 2, 3, 99}, dlq.Replayers{
		Job: func(_ context.Context, j *cpibv1.Job) (string, error) {
			if j.GetId() == skip.Id {
				return "the job is not failed", nil
			}
			jobsPut = append(jobsPut, j.GetId())
			return "", nil
		},
		Delivery: func(_ context.Context, t *cpibv1.Delivery, seq uint64) error {
			tasksPut = append(tasksPut, seq)
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(jobsPut) != 1 || jobsPut[0] != job.Id || len(tasksPut) != 1 || tasksPut[0] != 3 {
		t.Fatalf("jobs %v, deliveries %v", jobsPut, tasksPut)
	}
	if len(out.Replayed) != 2 || len(out.Skipped) != 2 {
		t.Fatalf("result = %+v", out)
	}
	page, err := dlq.List(ctx, res.DLQ, dlq.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 1 || page.Items[0].JobID != skip.Id {
		t.Fatalf("left = %+v, want the skipped job only", page.Items)
	}
}
