package dispatcher_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/broker"
	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/devkit/cpisim"
	"github.com/cpibroker/cpibroker/devkit/testkit"
	"github.com/cpibroker/cpibroker/internal/clock"
	"github.com/cpibroker/cpibroker/internal/natsx"
	cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"
	"github.com/nats-io/nats.go/jetstream"
)

func setFlowStatus(t *testing.T, sys *testkit.System, id, status string) {
	t.Helper()
	f, _ := sys.Broker.Catalog.Flow(id)
	f.Status = status
	if err := sys.Broker.Catalog.PutFlow(context.Background(), f, false); err != nil {
		t.Fatal(err)
	}
}

// eventsOf counts the events on a client's event subject by type.
func eventsOf(t *testing.T, sys *testkit.System, client string) map[string]int {
	t.Helper()
	ctx := context.Background()
	out := map[string]int{}
	info, err := sys.Broker.Resources.Events.Info(ctx, jetstream.WithSubjectFilter(natsx.EventSubject(client)))
	if err != nil || info.State.Msgs == 0 {
		return out
	}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := sys.Broker.Resources.Events.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(natsx.EventSubject(client)))
		if err != nil {
			break
		}
		var e struct {
			ID   string `json:"id"`
			Type string `json:"type"`
		}
		_ = json.Unmarshal(m.Data, &e)
		out[e.ID+" "+e.Type]++
		seq = m.Sequence
	}
	return out
}

// Jobs that are never pulled (their flow disabled or undeployed) fail
// when they expire, by the sweeper: expired, or flow_unavailable for an
// undeployed flow; a job pulled after its expiry fails without a call.
func TestExpiredJobsFailBySweeperAndAtPull(t *testing.T) {
	t.Parallel()
	clk := clock.NewManual(time.Now())
	sys := testkit.Start(t, testkit.Options{Configure: func(c *broker.Config) {
		c.DispatcherConfig.Now = clk.Now
		c.DispatcherConfig.SweepInterval = 100 * time.Millisecond
	}})
	off := sys.AddFlow(cpisim.IFlow{ID: "Off", Name: "Off", Address: "/t/off"}, unlimited)
	gone := sys.AddFlow(cpisim.IFlow{ID: "Gone", Name: "Gone", Address: "/t/gone"}, unlimited)
	late := sys.AddFlow(cpisim.IFlow{ID: "Late", Name: "Late", Address: "/t/late"}, unlimited)
	p := sys.Partner()
	sys.Broker.Dispatcher.Pause()
	ttl := http.Header{"Job-Ttl": {"60"}}
	submit := func(flow string) string {
		var j testkit.Job
		r := p.Submit(flow, "text/plain", []byte("x"), ttl)
		if r.Status != http.StatusAccepted {
			t.Fatalf("submit: %d %s", r.Status, r.Body)
		}
		r.JSON(t, &j)
		return j.ID
	}
	offID, goneID, lateID := submit(off), submit(gone), submit(late)
	setFlowStatus(t, sys, off, catalog.FlowDisabled)
	setFlowStatus(t, sys, gone, catalog.FlowUnavailable)
	testkit.Eventually(t, 5*time.Second, "waiting flow_unavailable", func() bool {
		return waitingReason(t, p, goneID) == "flow_unavailable"
	})
	clk.Advance(2 * time.Minute)
	for id, code := range map[string]string{offID: "expired", goneID: "flow_unavailable"} {
		j := p.WaitJob(id, 20*time.Second)
		if j.Status != "failed" || j.Error == nil || j.Error.Code != code || j.Attempts != 0 {
			t.Fatalf("job %s: %+v %+v", id, j, j.Error)
		}
	}
	sys.Broker.Dispatcher.Resume()
	if j := p.WaitJob(lateID, 20*time.Second); j.Status != "failed" || j.Error.Code != "expired" {
		t.Fatalf("job pulled late: %+v", j)
	}
	for _, f := range []string{"Off", "Gone", "Late"} {
		if n := sys.Sim.CallCount(f); n != 0 {
			t.Fatalf("%d calls to %s", n, f)
		}
	}
	// The event follows the terminal record.
	testkit.Eventually(t, 5*time.Second, "one job.failed event each", func() bool {
		ev := eventsOf(t, sys, sys.Creds.Partner.ClientID)
		return ev["evt_"+offID+"_1 job.failed"] == 1 && ev["evt_"+goneID+"_1 job.failed"] == 1 && ev["evt_"+lateID+"_1 job.failed"] == 1
	})
	// The sweeper removed the messages: nothing is left queued.
	testkit.Eventually(t, 5*time.Second, "no queued messages", func() bool {
		info, err := sys.Broker.Resources.Jobs.Info(context.Background(), jetstream.WithSubjectFilter(natsx.KindSubjects(natsx.KindQueue)))
		return err == nil && info.State.Msgs == 0
	})
}

// A failed job replayed from the DLQ runs again as run 2 (attempts from
// 0) and ends with one terminal event per run; its DLQ entry is gone.
func TestDLQReplayStartsANewRun(t *testing.T) {
	t.Parallel()
	sys := testkit.Start(t, testkit.Options{})
	flow := sys.AddFlow(cpisim.IFlow{ID: "Dead", Name: "Dead", Address: "/t/dead",
		Faults: cpisim.Faults{Outage: true}}, func(pol *catalog.Policy) { unlimited(pol); pol.MaxAttempts = 1 })
	p := sys.Partner()
	admin := adminPartner(t, sys)
	ids := submitN(t, p, flow, 2)
	for _, id := range ids {
		if j := p.WaitJob(id, 20*time.Second); j.Status != "failed" || j.Error.Code != "attempts_exhausted" {
			t.Fatalf("job %+v", j)
		}
	}
	if err := sys.Sim.SetFaults("Dead", cpisim.Faults{}); err != nil {
		t.Fatal(err)
	}
	var res struct {
		Replayed []string
		Skipped  []struct{ ID, Reason string }
	}
	// The DLQ entries follow the terminal records.
	testkit.Eventually(t, 10*time.Second, "both jobs in the DLQ", func() bool {
		var pg struct {
			Items []struct {
				JobID string `json:"job_id"`
			}
		}
		admin.Do(http.MethodGet, "/admin/v1/dlq?kind=job&flow="+flow, nil, nil).JSON(t, &pg)
		return len(pg.Items) == 2
	})
	var listed struct {
		Items []struct {
			JobID string `json:"job_id"`
		}
	}
	// Without a kind, a flow filter lists job entries too.
	admin.Do(http.MethodGet, "/admin/v1/dlq?flow="+flow, nil, nil).JSON(t, &listed)
	if len(listed.Items) != 2 {
		t.Fatalf("DLQ filtered by flow only: %+v", listed)
	}
	admin.Do(http.MethodGet, "/admin/v1/dlq?job="+ids[0], nil, nil).JSON(t, &listed)
	if len(listed.Items) != 1 || listed.Items[0].JobID != ids[0] {
		t.Fatalf("DLQ filtered by job %s: %+v", ids[0], listed)
	}
	// By job ID first, then the rest by filter: the flow's failed jobs
	// with that code.
	one, _ := json.Marshal(map[string]string{"job": ids[0]})
	r := admin.Do(http.MethodPost, "/admin/v1/dlq/replay", bytes.NewReader(one), http.Header{"Content-Type": {"application/json"}})
	if r.Status != http.StatusOK {
		t.Fatalf("replay by job: %d %s", r.Status, r.Body)
	}
	r.JSON(t, &res)
	if len(res.Replayed) != 1 || len(res.Skipped) != 0 {
		t.Fatalf("replay by job: %s", r.Body)
	}
	if j := p.WaitJob(ids[0], 20*time.Second); j.Run != 2 {
		t.Fatalf("the job replayed by ID: %+v", j)
	}
	body, _ := json.Marshal(map[string]string{"kind": "job", "flow": flow, "code": "attempts_exhausted"})
	r = admin.Do(http.MethodPost, "/admin/v1/dlq/replay", bytes.NewReader(body), http.Header{"Content-Type": {"application/json"}})
	if r.Status != http.StatusOK {
		t.Fatalf("replay: %d %s", r.Status, r.Body)
	}
	r.JSON(t, &res)
	if len(res.Replayed) != 1 || len(res.Skipped) != 0 {
		t.Fatalf("replay by filter: %s", r.Body)
	}
	for _, id := range ids {
		j := p.WaitJob(id, 20*time.Second)
		if j.Status != "succeeded" || j.Run != 2 || j.Attempts != 1 || j.Error != nil {
			t.Fatalf("replayed job %+v", j)
		}
	}
	testkit.Eventually(t, 5*time.Second, "one terminal event per run", func() bool {
		ev := eventsOf(t, sys, sys.Creds.Partner.ClientID)
		for _, id := range ids {
			if ev["evt_"+id+"_1 job.failed"] != 1 || ev["evt_"+id+"_2 job.succeeded"] != 1 {
				return false
			}
		}
		return true
	})
	// The entries are gone; replaying again finds nothing.
	r = admin.Do(http.MethodPost, "/admin/v1/dlq/replay", bytes.NewReader(body), http.Header{"Content-Type": {"application/json"}})
	r.JSON(t, &res)
	if len(res.Replayed) != 0 {
		t.Fatalf("second replay: %s", r.Body)
	}
}

// Over max_backlog a submit answers 429 backlog_full with Retry-After and
// the RateLimit headers, which a client with a quota also gets on 202s.
func TestBacklogFull(t *testing.T) {
	t.Parallel()
	// One listing of the consumers, at start, and no background listing
	// during the submits: the counts below are exact, not racing a refresh.
	sys := testkit.Start(t, testkit.Options{Configure: func(c *broker.Config) { c.BacklogTTL = time.Hour }})
	testkit.Eventually(t, 10*time.Second, "the first backlog listing", func() bool { return !sys.Broker.Backlog.Listed().IsZero() })
	flow := sys.AddFlow(cpisim.IFlow{ID: "Pile", Name: "Pile", Address: "/t/pile"}, unlimited)
	secret := "secret-piler-0123456789"
	h, _ := catalog.HashSecret(secret)
	c := catalog.Client{ID: "piler", Enabled: true, Grants: []string{flow}, SecretHashes: []string{h},
		MaxBacklog: 3, Quota: &catalog.Quota{Allow: 100, Interval: "day"}}
	c.SetDefaults()
	if err := sys.Broker.Catalog.PutClient(context.Background(), c, false); err != nil {
		t.Fatal(err)
	}
	p := &testkit.Partner{T: t, BaseURL: sys.BaseURL, Token: testkit.Token(t, sys.BaseURL, "piler", secret, ""), HTTP: http.DefaultClient}
	sys.Broker.Dispatcher.Pause()
	for i := range 3 {
		r := p.Submit(flow, "text/plain", []byte("x"), nil)
		if r.Status != http.StatusAccepted {
			t.Fatalf("submit %d: %d %s", i, r.Status, r.Body)
		}
		if got := r.Header.Get("RateLimit-Policy"); got != `"backlog";q=3, "allow";q=100;w=86400` {
			t.Fatalf("RateLimit-Policy %q", got)
		}
		if got := r.Header.Get("RateLimit"); !strings.HasPrefix(got, fmt.Sprintf(`"backlog";r=%d, "allow";r=100;t=`, 2-i)) {
			t.Fatalf("RateLimit %q", got)
		}
	}
	r := p.Submit(flow, "text/plain", []byte("x"), nil)
	var prob struct{ Code string }
	r.JSON(t, &prob)
	if r.Status != http.StatusTooManyRequests || prob.Code != "backlog_full" || r.Header.Get("Retry-After") != "5" ||
		!strings.HasPrefix(r.Header.Get("RateLimit"), `"backlog";r=0;t=5, "allow";r=100;t=`) {
		t.Fatalf("over the backlog: %d %s %v", r.Status, r.Body, r.Header)
	}
	// Once the backlog drains, submits are accepted again.
	sys.Broker.Dispatcher.Resume()
	testkit.Eventually(t, 20*time.Second, "accepted again", func() bool {
		sys.Broker.Backlog.Refresh(context.Background())
		return p.Submit(flow, "text/plain", []byte("x"), nil).Status == http.StatusAccepted
	})
}

// Deleting a client cancels its queued jobs, whichever process deleted it:
// each record canceled with one job.canceled event, the messages removed.
func TestDeletedClientJobsCanceled(t *testing.T) {
	t.Parallel()
	sys := testkit.Start(t, testkit.Options{})
	flow := sys.AddFlow(cpisim.IFlow{ID: "Parked", Name: "Parked", Address: "/t/parked"}, unlimited)
	leaver := addPartner(t, sys, "leaver", 1, nil, flow)
	setFlowStatus(t, sys, flow, catalog.FlowEnabled)
	sys.Broker.Dispatcher.Pause()
	ids := submitN(t, leaver, flow, 3)
	setFlowStatus(t, sys, flow, catalog.FlowDisabled) // the jobs wait
	sys.Broker.Dispatcher.Resume()
	admin := adminPartner(t, sys)
	if r := admin.Do(http.MethodDelete, "/admin/v1/clients/leaver", nil, nil); r.Status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	ctx := context.Background()
	for _, id := range ids {
		testkit.Eventually(t, 20*time.Second, "job canceled", func() bool {
			rec, _, err := sys.Broker.Jobs.Get(ctx, id)
			return err == nil && rec.GetStatus() == cpibv1.JobStatus_JOB_STATUS_CANCELED
		})
	}
	testkit.Eventually(t, 5*time.Second, "one job.canceled event each", func() bool {
		ev := eventsOf(t, sys, "leaver")
		for _, id := range ids {
			if ev["evt_"+id+"_1 job.canceled"] != 1 {
				return false
			}
		}
		return true
	})
	testkit.Eventually(t, 5*time.Second, "messages removed", func() bool {
		info, err := sys.Broker.Resources.Jobs.Info(ctx, jetstream.WithSubjectFilter(natsx.ConsumerSubject(natsx.KindQueue, "leaver", flow)))
		return err == nil && info.State.Msgs == 0
	})
	if n := sys.Sim.CallCount("Parked"); n != 0 {
		t.Fatalf("%d calls", n)
	}
}
