package dispatcher_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/broker"
	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/devkit/cpisim"
	"github.com/cpibroker/cpibroker/devkit/testkit"
	"github.com/cpibroker/cpibroker/internal/natsx"
	cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"
	"google.golang.org/protobuf/proto"
)

// fastRetries keeps backoff short; schedules still round to whole seconds.
func fastRetries(max int) func(*catalog.Policy) {
	return func(p *catalog.Policy) {
		p.MaxAttempts = max
		p.BackoffBase = catalog.Duration(10 * time.Millisecond)
		p.BackoffCap = catalog.Duration(100 * time.Millisecond)
	}
}

func TestRetryThenSuccessWithoutConsumingExtraAttempts(t *testing.T) {
	// The jitter draw is pinned, so the retry waits exactly its 3 s
	// backoff: long enough to read the waiting state however loaded the
	// machine is.
	sys := testkit.Start(t, testkit.Options{Configure: func(c *broker.Config) {
		c.DispatcherConfig.Rand = func() float64 { return 1 }
	}})
	flow := sys.AddFlow(cpisim.IFlow{ID: "Wobbly", Name: "Wobbly", Address: "/t/wobbly", CSRF: true,
		Faults: cpisim.Faults{ErrorRate: 1, ErrorStatus: 503}}, func(p *catalog.Policy) {
		p.MaxAttempts = 5
		p.BackoffBase = catalog.Duration(3 * time.Second)
		p.BackoffCap = catalog.Duration(3 * time.Second)
	})
	p := sys.Partner()
	var j testkit.Job
	p.Submit(flow, "application/xml", []byte("<a/>"), nil).JSON(t, &j)
	testkit.Eventually(t, 20*time.Second, "first failed call", func() bool { return sys.Sim.CallCount("Wobbly") >= 1 })
	// Heal the iFlow first, so the retry succeeds whenever it fires.
	if err := sys.Sim.SetFaults("Wobbly", cpisim.Faults{}); err != nil {
		t.Fatal(err)
	}
	// While the retry waits, the job says so.
	testkit.Eventually(t, 10*time.Second, "retry_backoff waiting", func() bool {
		var cur testkit.Job
		p.Do(http.MethodGet, "/v1/jobs/"+j.ID, nil, nil).JSON(t, &cur)
		return cur.Status == "queued" && cur.Waiting != nil && cur.Waiting.Reason == "retry_backoff" &&
			cur.LastAttempt != nil && cur.LastAttempt.Code == "cpi_503" && cur.LastAttempt.StatusCode == 503 && cur.LastAttempt.At != ""
	})
	done := p.WaitJob(j.ID, 30*time.Second)
	if done.Status != "succeeded" || done.Attempts != 2 {
		t.Fatalf("job %+v", done)
	}
	calls := sys.Sim.Calls("Wobbly")
	if len(calls) != 2 || calls[0].Status != 503 || calls[1].Status != 200 {
		t.Fatalf("calls %+v", calls)
	}
	// Every attempt of a run carries the same idempotency key for the iFlow.
	for _, c := range calls {
		if c.IdempotencyKey != j.ID+".1" || c.ApplicationID != j.ID {
			t.Fatalf("call headers %+v", c)
		}
	}
}

func TestAttemptsExhaustedGoesToDLQ(t *testing.T) {
	sys := testkit.Start(t, testkit.Options{})
	flow := sys.AddFlow(cpisim.IFlow{ID: "Down", Name: "Down", Address: "/t/down",
		Faults: cpisim.Faults{Outage: true}}, fastRetries(2))
	p := sys.Partner()
	var j testkit.Job
	p.Submit(flow, "text/plain", []byte("payload kept"), nil).JSON(t, &j)
	done := p.WaitJob(j.ID, 30*time.Second)
	if done.Status != "failed" || done.Error == nil || done.Error.Code != "attempts_exhausted" || done.Attempts != 2 {
		t.Fatalf("job %+v %+v", done, done.Error)
	}
	if done.Error.StatusCode != 503 {
		t.Fatalf("error %+v", done.Error)
	}
	if la := done.LastAttempt; la == nil || la.Code != "cpi_503" || la.StatusCode != 503 || !strings.Contains(la.Message, "503") {
		t.Fatalf("last_attempt %+v", done.LastAttempt)
	}
	// The job, payload included, waits in the DLQ.
	ctx := context.Background()
	msg, err := sys.Broker.Resources.DLQ.GetLastMsgForSubject(ctx, natsx.DLQSubject("demo-partner", flow))
	if err != nil {
		t.Fatalf("dlq: %v", err)
	}
	job := &cpibv1.Job{}
	if err := proto.Unmarshal(msg.Data, job); err != nil || job.GetId() != j.ID || string(job.GetPayload()) != "payload kept" {
		t.Fatalf("dlq job %v %+v", err, job)
	}
	if msg.Header.Get("Cpib-Error-Code") != "attempts_exhausted" {
		t.Fatalf("dlq headers %v", msg.Header)
	}
	// The admin API's DLQ entry counts the attempts the record counts.
	admin := &testkit.Partner{T: t, BaseURL: sys.BaseURL, HTTP: http.DefaultClient,
		Token: testkit.Token(t, sys.BaseURL, sys.Creds.Admin.ClientID, sys.Creds.Admin.ClientSecret, "")}
	var page struct {
		Items []struct {
			JobID    string `json:"job_id"`
			Attempts int    `json:"attempts"`
		} `json:"items"`
	}
	admin.Do(http.MethodGet, "/admin/v1/dlq?job="+j.ID, nil, nil).JSON(t, &page)
	if len(page.Items) != 1 || page.Items[0].Attempts != done.Attempts {
		t.Fatalf("dlq entries %+v, want attempts %d", page.Items, done.Attempts)
	}
}

func TestBusinessErrorKeepsCPIBody(t *testing.T) {
	sys := testkit.Start(t, testkit.Options{})
	flow := sys.AddFlow(cpisim.IFlow{ID: "Broken", Name: "Broken", Address: "/t/broken",
		Faults: cpisim.Faults{ErrorRate: 1, ErrorStatus: 500}}, nil)
	p := sys.Partner()
	var j testkit.Job
	p.Submit(flow, "text/plain", []byte("x"), nil).JSON(t, &j)
	done := p.WaitJob(j.ID, 30*time.Second)
	if done.Status != "failed" || done.Error.Code != "cpi_error" || done.Error.StatusCode != 500 || done.Attempts != 1 {
		t.Fatalf("job %+v %+v", done, done.Error)
	}
	r := p.Do(http.MethodGet, "/v1/jobs/"+j.ID+"/result", nil, nil)
	if r.Status != 200 || r.Header.Get("CPI-Status") != "500" || r.Header.Get("Job-Status") != "failed" ||
		!strings.Contains(string(r.Body), "The MPL ID for the failed message is") {
		t.Fatalf("result %d %v %q", r.Status, r.Header, r.Body)
	}
}

func TestRetryOn500ByPolicy(t *testing.T) {
	sys := testkit.Start(t, testkit.Options{})
	flow := sys.AddFlow(cpisim.IFlow{ID: "Broken500", Name: "Broken500", Address: "/t/b500",
		Faults: cpisim.Faults{ErrorRate: 1, ErrorStatus: 500}}, func(p *catalog.Policy) {
		fastRetries(2)(p)
		p.RetryOn500 = true
	})
	p := sys.Partner()
	var j testkit.Job
	p.Submit(flow, "text/plain", []byte("x"), nil).JSON(t, &j)
	if done := p.WaitJob(j.ID, 30*time.Second); done.Error == nil || done.Error.Code != "attempts_exhausted" || done.Attempts != 2 {
		t.Fatalf("job %+v", done)
	}
}

// A retry waits in JetStream (a message schedule), not in an ack slot, and
// then runs ahead of the client's backlog on the same flow.
func TestRetryDoesNotQueueBehindBacklog(t *testing.T) {
	sys := testkit.Start(t, testkit.Options{Configure: func(c *broker.Config) {
		c.DispatcherConfig.Concurrency = 1
	}})
	flow := sys.AddFlow(cpisim.IFlow{ID: "Busy", Name: "Busy", Address: "/t/busy",
		Faults: cpisim.Faults{ErrorRate: 1, ErrorStatus: 503, Latency: 50 * time.Millisecond}}, fastRetries(3))
	p := sys.Partner()
	var first testkit.Job
	p.Submit(flow, "text/plain", []byte("first"), nil).JSON(t, &first)
	testkit.Eventually(t, 20*time.Second, "first failure", func() bool { return sys.Sim.CallCount("Busy") >= 1 })
	if err := sys.Sim.SetFaults("Busy", cpisim.Faults{Latency: 50 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	const backlog = 100 // 5 s of work at concurrency 1
	ids := make([]string, backlog)
	for i := range ids {
		var j testkit.Job
		p.Submit(flow, "text/plain", []byte("backlog"), nil).JSON(t, &j)
		ids[i] = j.ID
	}
	if done := p.WaitJob(first.ID, 30*time.Second); done.Status != "succeeded" {
		t.Fatalf("first %+v", done)
	}
	// When the retried job finished, most of the backlog was still queued.
	calls := sys.Sim.CallCount("Busy")
	if calls > backlog/2 {
		t.Fatalf("the retry ran after %d of %d backlog jobs", calls-2, backlog)
	}
	for _, id := range ids {
		if j := p.WaitJob(id, 60*time.Second); j.Status != "succeeded" {
			t.Fatalf("backlog job %+v", j)
		}
	}
}

func TestFlowPathAndQueryForwarded(t *testing.T) {
	sys := testkit.Start(t, testkit.Options{})
	flow := sys.AddFlow(cpisim.IFlow{ID: "Orders", Name: "Orders", Address: "/t/orders/*"}, func(p *catalog.Policy) {
		p.ForwardHeaders = []string{"X-Partner-Ref"}
	})
	p := sys.Partner()
	h := http.Header{"Flow-Path": {"/eu/create"}, "X-Partner-Ref": {"PO-7"}, "X-Not-Forwarded": {"no"}}
	r := p.Do(http.MethodPost, "/v1/flows/"+flow+"/jobs?mode=fast&x=1", strings.NewReader("{}"), h)
	var j testkit.Job
	r.JSON(t, &j)
	if done := p.WaitJob(j.ID, 30*time.Second); done.Status != "succeeded" {
		t.Fatalf("job %+v", done)
	}
	c := sys.Sim.Calls("Orders")[0]
	if c.Path != "/http/t/orders/eu/create" || c.Query != "mode=fast&x=1" || c.Header.Get("X-Partner-Ref") != "PO-7" || c.Header.Get("X-Not-Forwarded") != "" {
		t.Fatalf("call %+v", c)
	}
}

func TestExpiredBeforeDispatch(t *testing.T) {
	sys := testkit.Start(t, testkit.Options{})
	sys.Broker.Dispatcher.Pause()
	p := sys.Partner()
	var j testkit.Job
	p.Submit("demo-echo", "text/plain", []byte("x"), http.Header{"Job-Ttl": {"1"}}).JSON(t, &j)
	// Wait out the TTL on the record's own clock, then let it be pulled.
	testkit.Eventually(t, 5*time.Second, "job TTL to pass", func() bool {
		rec, _, err := sys.Broker.Jobs.Get(context.Background(), j.ID)
		return err == nil && time.Now().After(rec.GetExpiresAt().AsTime())
	})
	sys.Broker.Dispatcher.Resume()
	done := p.WaitJob(j.ID, 30*time.Second)
	if done.Status != "failed" || done.Error.Code != "expired" || sys.Sim.CallCount("Echo") != 0 {
		t.Fatalf("job %+v %+v", done, done.Error)
	}
}

// The record write is lost (a crash between the two writes): the
// dispatcher recreates the record from the message and runs the job.
func TestMissingRecordIsRecreatedFromMessage(t *testing.T) {
	sys := testkit.Start(t, testkit.Options{})
	sys.Broker.Dispatcher.Pause()
	p := sys.Partner()
	var j testkit.Job
	p.Submit("demo-echo", "text/plain", []byte("x"), nil).JSON(t, &j)
	if err := sys.Broker.Resources.Records.Purge(context.Background(), j.ID); err != nil {
		t.Fatal(err)
	}
	sys.Broker.Dispatcher.Resume()
	testkit.Eventually(t, 20*time.Second, "record recreated", func() bool {
		_, _, err := sys.Broker.Jobs.Get(context.Background(), j.ID)
		return err == nil
	})
	if done := p.WaitJob(j.ID, 30*time.Second); done.Status != "succeeded" {
		t.Fatalf("job %+v", done)
	}
}

// Payloads and results above inline_max travel through the object store.
func TestLargePayloadRoundTrip(t *testing.T) {
	sys := testkit.Start(t, testkit.Options{})
	p := sys.Partner()
	body := make([]byte, 3<<20)
	for i := range body {
		body[i] = byte(i * 7)
	}
	r := p.Submit("demo-echo", "application/octet-stream", body, nil)
	var j testkit.Job
	r.JSON(t, &j)
	if r.Status != 202 {
		t.Fatalf("submit: %d %s", r.Status, r.Body)
	}
	if done := p.WaitJob(j.ID, 30*time.Second); done.Status != "succeeded" || done.Result.Size != int64(len(body)) {
		t.Fatalf("job %+v", done)
	}
	res := p.Do(http.MethodGet, "/v1/jobs/"+j.ID+"/result", nil, nil)
	if res.Status != 200 || !bytes.Equal(res.Body, body) {
		t.Fatalf("result: %d, %d bytes", res.Status, len(res.Body))
	}
	ctx := context.Background()
	for _, name := range []string{j.ID + "/request", j.ID + "/result.1"} {
		if _, err := sys.Broker.Resources.Payloads.GetInfo(ctx, name); err != nil {
			t.Fatalf("object %s: %v", name, err)
		}
	}
}

// A queue whose consumer vanished (removed as idle just as a job arrived,
// by a dispatcher that is gone since) gets a consumer back from the
// sweeper, which sees the queued job without one, and its jobs run.
func TestOrphanedQueueIsReconciled(t *testing.T) {
	sys := testkit.Start(t, testkit.Options{Configure: func(c *broker.Config) {
		c.DispatcherConfig.SweepInterval = 100 * time.Millisecond
	}})
	sys.Broker.Dispatcher.Pause()
	p := sys.Partner()
	var j testkit.Job
	p.Submit("demo-echo", "text/plain", []byte("orphan"), nil).JSON(t, &j)
	ctx := context.Background()
	name := natsx.ConsumerName(natsx.KindQueue, "demo-partner", "demo-echo")
	if err := sys.Broker.Resources.JS.DeleteConsumer(ctx, natsx.StreamJobs, name); err != nil {
		t.Fatal(err)
	}
	sys.Broker.Dispatcher.Resume()
	if done := p.WaitJob(j.ID, 30*time.Second); done.Status != "succeeded" {
		t.Fatalf("job %+v", done)
	}
	if _, err := sys.Broker.Resources.Jobs.Consumer(ctx, name); err != nil {
		t.Fatalf("consumer not recreated: %v", err)
	}
}
