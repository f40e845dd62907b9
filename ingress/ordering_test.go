package ingress_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/broker"
	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/devkit/cpisim"
	"github.com/cpibroker/cpibroker/devkit/testkit"
	"github.com/cpibroker/cpibroker/internal/natsx"
	"github.com/nats-io/nats.go/jetstream"
)

// orderedSystem starts dispatchers brokers (the first also the ingress)
// on one JetStream server, and a flow "demo-ordered" on iflow with the
// policy edited by policy.
func orderedSystem(t *testing.T, dispatchers int, iflow cpisim.IFlow, policy func(*catalog.Policy)) (*testkit.System, string) {
	t.Helper()
	ns, err := natsx.StartEmbedded(natsx.EmbeddedConfig{StoreDir: t.TempDir(), Listen: "127.0.0.1:-1", ReadyTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	configure := func(c *broker.Config) {
		c.DispatcherConfig.SweepInterval = 200 * time.Millisecond
	}
	first := testkit.Start(t, testkit.Options{NATSURLs: ns.ClientURL(), Configure: configure})
	for range dispatchers - 1 {
		testkit.Start(t, testkit.Options{NATSURLs: ns.ClientURL(), NoIngress: true, Join: first, Configure: configure})
	}
	if iflow.ID == "" {
		iflow = cpisim.IFlow{ID: "Ordered", Address: "/ordered"}
	}
	flow := first.AddFlow(iflow, func(p *catalog.Policy) {
		p.Rate, p.Concurrency = 0, 0
		p.BackoffBase, p.BackoffCap = catalog.Duration(time.Second), catalog.Duration(time.Second)
		if policy != nil {
			policy(p)
		}
	})
	return first, flow
}

// waitAll waits for every job to end and returns them by ID.
func waitAll(p *testkit.Partner, ids []string) map[string]testkit.Job {
	out := map[string]testkit.Job{}
	for _, id := range ids {
		out[id] = p.WaitJob(id, 2*time.Minute)
	}
	return out
}

func idsOf(js []testkit.OrderedJob) []string {
	out := make([]string, len(js))
	for i, j := range js {
		out[i] = j.ID
	}
	return out
}

// TestOrderingStrictUnderConcurrency: jobs of one key run one at a time in
// the order of their 202s, with three dispatchers pulling; keys run in
// parallel, and unordered jobs of the same flow are not held back.
func TestOrderingStrictUnderConcurrency(t *testing.T) {
	sys, flow := orderedSystem(t, 3, cpisim.IFlow{ID: "Ordered", Address: "/ordered", Faults: cpisim.Faults{Latency: 5 * time.Millisecond}}, nil)
	p := sys.Partner()
	done := make(chan []string)
	go func() {
		var ids []string
		for i := range 20 {
			r := p.Submit(flow, "text/plain", []byte("free "+strconv.Itoa(i)), nil)
			var j testkit.Job
			if r.Status == http.StatusAccepted {
				r.JSON(t, &j)
				ids = append(ids, j.ID)
			}
		}
		done <- ids
	}()
	jobs := p.SubmitOrdered(flow, testkit.Keys("order-", 8), 8, 8)
	free := <-done
	if len(free) != 20 {
		t.Fatalf("unordered submits: %d accepted of 20", len(free))
	}
	for id, j := range waitAll(p, append(idsOf(jobs), free...)) {
		if j.Status != "succeeded" {
			t.Fatalf("job %s ended %s", id, j.Status)
		}
	}
	violations, called := testkit.CheckOrder(sys.Sim.Spans("Ordered"), jobs)
	if len(violations) > 0 {
		t.Fatalf("%d order violations, first: %s", len(violations), violations[0])
	}
	if called != len(jobs) {
		t.Fatalf("%d of %d ordered jobs called", called, len(jobs))
	}
	if peak := sys.Sim.MaxInFlight("Ordered"); peak < 2 {
		t.Fatalf("peak concurrency %d: keys did not run in parallel", peak)
	}
}

// TestOrderingKeyHeader: the header's syntax and the flow's ordering
// policy (required, off) are enforced with 400s naming the header.
func TestOrderingKeyHeader(t *testing.T) {
	sys, flow := orderedSystem(t, 1, cpisim.IFlow{}, func(p *catalog.Policy) { p.Ordering = catalog.OrderingRequired })
	p := sys.Partner()
	for name, h := range map[string]http.Header{
		"empty":     {"Ordering-Key": {""}},
		"space":     {"Ordering-Key": {"a b"}},
		"too long":  {"Ordering-Key": {strings.Repeat("k", 129)}},
		"twice":     {"Ordering-Key": {"a", "b"}},
		"non-ascii": {"Ordering-Key": {"é"}},
	} {
		r := p.Submit(flow, "text/plain", []byte("x"), h)
		if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), "Ordering-Key") {
			t.Errorf("%s: %d %s", name, r.Status, r.Body)
		}
	}
	r := p.Submit(flow, "text/plain", []byte("x"), nil)
	if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), "ordering_key_required") {
		t.Fatalf("missing key under required: %d %s", r.Status, r.Body)
	}
	if r := p.Submit(flow, "text/plain", []byte("x"), http.Header{"Ordering-Key": {strings.Repeat("k", 128)}}); r.Status != http.StatusAccepted {
		t.Fatalf("128-byte key: %d %s", r.Status, r.Body)
	}
	admin := adminOf(t, sys)
	expectStatus(t, sendJSON(admin, http.MethodPatch, "/admin/v1/flows/"+flow, map[string]any{"policy": map[string]any{"ordering": "off"}}), http.StatusOK)
	testkit.Eventually(t, 10*time.Second, "ordering off applied", func() bool {
		f, _ := sys.Broker.Catalog.Flow(flow)
		return f.Policy.Ordering == catalog.OrderingOff
	})
	r = p.Submit(flow, "text/plain", []byte("x"), http.Header{"Ordering-Key": {"k"}})
	if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), "Ordering-Key") {
		t.Fatalf("key under off: %d %s", r.Status, r.Body)
	}
	for field, v := range map[string]any{"ordering": "sometimes", "on_failure": "retry"} {
		r := sendJSON(admin, http.MethodPatch, "/admin/v1/flows/"+flow, map[string]any{"policy": map[string]any{field: v}})
		if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), "policy."+field) {
			t.Errorf("policy %s=%v: %d %s", field, v, r.Status, r.Body)
		}
	}
	g := admin.Do(http.MethodGet, "/admin/v1/flows/"+flow, nil, nil)
	if !strings.Contains(string(g.Body), `"ordering":"off"`) || !strings.Contains(string(g.Body), `"on_failure":"block"`) {
		t.Fatalf("flow policy does not show ordering and on_failure: %s", g.Body)
	}
}

// consumers counts a stream's consumers.
func consumers(t *testing.T, js jetstream.JetStream, stream string) int {
	t.Helper()
	s, err := js.Stream(context.Background(), stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Consumers
}

// waitingOf reads a job and returns its waiting reason and job.
func waitingOf(p *testkit.Partner, id string) (status, reason, job string) {
	var j testkit.Job
	p.Do(http.MethodGet, "/v1/jobs/"+id, nil, nil).JSON(p.T, &j)
	if j.Waiting != nil {
		return j.Status, j.Waiting.Reason, j.Waiting.Job
	}
	return j.Status, "", ""
}

// sequenceList is the admin list of sequences.
type sequenceList struct {
	Items []struct {
		ID        string `json:"id"`
		Client    string `json:"client"`
		Flow      string `json:"flow"`
		Key       string `json:"key"`
		State     string `json:"state"`
		Head      string `json:"head"`
		HeadError *struct {
			Code string `json:"code"`
		} `json:"head_error"`
	} `json:"items"`
	NextCursor string `json:"next_cursor"`
}

// TestOrderingRetryHoldsSequence: a head waiting for its retry keeps its
// key's sequence; the jobs behind it say so and run after it, in order.
func TestOrderingRetryHoldsSequence(t *testing.T) {
	sys, flow := orderedSystem(t, 2, cpisim.IFlow{ID: "Ordered", Address: "/ordered",
		Faults: cpisim.Faults{ErrorRate: 1, ErrorStatus: http.StatusServiceUnavailable}}, nil)
	p := sys.Partner()
	jobs := p.SubmitOrdered(flow, []string{"PO-1"}, 3, 1)
	testkit.Eventually(t, time.Minute, "the head to be called twice", func() bool { return sys.Sim.CallCount("Ordered") >= 2 })
	for _, j := range jobs[1:] {
		st, reason, head := waitingOf(p, j.ID)
		if st != "queued" || reason != "sequence" || head != jobs[0].ID {
			t.Fatalf("job %d: %s waiting %q for %q, want queued waiting sequence for %s", j.N, st, reason, head, jobs[0].ID)
		}
	}
	for _, sp := range sys.Sim.Spans("Ordered") {
		if sp.Job != jobs[0].ID {
			t.Fatalf("job %s called while the head %s waits for its retry", sp.Job, jobs[0].ID)
		}
	}
	if err := sys.Sim.SetFaults("Ordered", cpisim.Faults{}); err != nil {
		t.Fatal(err)
	}
	for id, j := range waitAll(p, idsOf(jobs)) {
		if j.Status != "succeeded" {
			t.Fatalf("job %s ended %s", id, j.Status)
		}
	}
	if v, called := testkit.CheckOrder(sys.Sim.Spans("Ordered"), jobs); len(v) > 0 || called != 3 {
		t.Fatalf("order: %v (%d called)", v, called)
	}
}

// TestOrderingBlockSkipReplay: a failed head blocks its key (on_failure
// block, the default); the jobs behind it wait with sequence_blocked; the
// sequence is listed and counted; replay runs the failed job again as the
// head, skip releases the rest. Other keys are not held up meanwhile.
func TestOrderingBlockSkipReplay(t *testing.T) {
	sys, flow := orderedSystem(t, 1, cpisim.IFlow{ID: "Ordered", Address: "/ordered",
		Faults: cpisim.Faults{ErrorRate: 1, ErrorStatus: http.StatusBadRequest}}, nil)
	p, admin := sys.Partner(), adminOf(t, sys)
	jobs := p.SubmitOrdered(flow, []string{"ORDER-7"}, 3, 1)
	if j := p.WaitJob(jobs[0].ID, time.Minute); j.Status != "failed" || j.Error == nil || j.Error.Code != "cpi_error" {
		t.Fatalf("head: %+v", j)
	}
	testkit.Eventually(t, 30*time.Second, "the next job to show sequence_blocked", func() bool {
		_, reason, head := waitingOf(p, jobs[1].ID)
		return reason == "sequence_blocked" && head == jobs[0].ID
	})
	var list sequenceList
	r := admin.Do(http.MethodGet, "/admin/v1/sequences?state=blocked&flow="+flow, nil, nil)
	expectStatus(t, r, http.StatusOK)
	r.JSON(t, &list)
	if len(list.Items) != 1 || list.Items[0].Head != jobs[0].ID || list.Items[0].Key != "ORDER-7" ||
		list.Items[0].HeadError == nil || list.Items[0].HeadError.Code != "cpi_error" {
		t.Fatalf("blocked sequences: %s", r.Body)
	}
	seq := list.Items[0].ID
	testkit.Eventually(t, 30*time.Second, "the blocked gauge at 1", func() bool {
		return blockedGauge(admin) == "1"
	})
	// Another key runs while ORDER-7 is blocked.
	if err := sys.Sim.SetFaults("Ordered", cpisim.Faults{}); err != nil {
		t.Fatal(err)
	}
	other := p.SubmitOrdered(flow, []string{"ORDER-8"}, 1, 1)
	if j := p.WaitJob(other[0].ID, time.Minute); j.Status != "succeeded" {
		t.Fatalf("other key: %s", j.Status)
	}
	// Replay: the failed head runs again (run 2) and succeeds; then the rest.
	r = admin.Do(http.MethodPost, "/admin/v1/sequences/"+seq+"/replay", nil, nil)
	expectStatus(t, r, http.StatusOK)
	for id, j := range waitAll(p, idsOf(jobs)) {
		if j.Status != "succeeded" {
			t.Fatalf("job %s ended %s", id, j.Status)
		}
	}
	if j := p.WaitJob(jobs[0].ID, time.Second); j.Run != 2 {
		t.Fatalf("replayed head run %d, want 2", j.Run)
	}
	if v, _ := testkit.CheckOrder(sys.Sim.Spans("Ordered"), jobs); len(v) > 0 {
		t.Fatalf("order: %v", v)
	}
	// Skip: block the key again, then release the rest without the failed job.
	if err := sys.Sim.SetFaults("Ordered", cpisim.Faults{ErrorRate: 1, ErrorStatus: http.StatusBadRequest}); err != nil {
		t.Fatal(err)
	}
	more := p.SubmitOrdered(flow, []string{"ORDER-7"}, 3, 1)
	if j := p.WaitJob(more[0].ID, time.Minute); j.Status != "failed" {
		t.Fatalf("head: %s", j.Status)
	}
	testkit.Eventually(t, 30*time.Second, "the key to block again", func() bool {
		_, reason, _ := waitingOf(p, more[1].ID)
		return reason == "sequence_blocked"
	})
	if err := sys.Sim.SetFaults("Ordered", cpisim.Faults{}); err != nil {
		t.Fatal(err)
	}
	expectStatus(t, admin.Do(http.MethodPost, "/admin/v1/sequences/"+seq+"/skip", nil, nil), http.StatusOK)
	for _, j := range more[1:] {
		if got := p.WaitJob(j.ID, time.Minute); got.Status != "succeeded" {
			t.Fatalf("job %d after skip: %s", j.N, got.Status)
		}
	}
	if j := p.WaitJob(more[0].ID, time.Second); j.Status != "failed" || j.Run != 1 {
		t.Fatalf("skipped head: %s run %d", j.Status, j.Run)
	}
	// Nothing blocked any more; skip and replay of a sequence that is not
	// blocked are refused.
	r = admin.Do(http.MethodGet, "/admin/v1/sequences?state=blocked", nil, nil)
	expectStatus(t, r, http.StatusOK)
	list = sequenceList{}
	r.JSON(t, &list)
	if len(list.Items) != 0 {
		t.Fatalf("still blocked: %s", r.Body)
	}
	testkit.Eventually(t, 30*time.Second, "the blocked gauge back at 0", func() bool {
		return blockedGauge(admin) == "0"
	})
	if r := admin.Do(http.MethodPost, "/admin/v1/sequences/"+seq+"/skip", nil, nil); r.Status != http.StatusNotFound && r.Status != http.StatusConflict {
		t.Fatalf("skip of an idle sequence: %d %s", r.Status, r.Body)
	}
	for _, bad := range []string{"x", "a.b.c", "demo-partner.demo-ordered.ZZZZZZZZZZZZZZZZ", "..%2e"} {
		if r := admin.Do(http.MethodPost, "/admin/v1/sequences/"+bad+"/replay", nil, nil); r.Status != http.StatusNotFound {
			t.Errorf("replay of %q: %d %s", bad, r.Status, r.Body)
		}
	}
	if r := admin.Do(http.MethodGet, "/admin/v1/sequences?state=stuck", nil, nil); r.Status != http.StatusBadRequest {
		t.Errorf("state=stuck: %d", r.Status)
	}
	a := admin.Do(http.MethodGet, "/admin/v1/audit?action=sequence.skipped", nil, nil)
	if !strings.Contains(string(a.Body), seq) {
		t.Errorf("audit has no sequence.skipped for %s: %s", seq, a.Body)
	}
}

// TestOrderingContinue: under on_failure continue a failed job releases
// the next one of its key.
func TestOrderingContinue(t *testing.T) {
	sys, flow := orderedSystem(t, 1, cpisim.IFlow{ID: "Ordered", Address: "/ordered",
		Faults: cpisim.Faults{ErrorRate: 1, ErrorStatus: http.StatusBadRequest}},
		func(p *catalog.Policy) { p.OnFailure = catalog.OnFailureContinue })
	p := sys.Partner()
	jobs := p.SubmitOrdered(flow, []string{"K"}, 3, 1)
	for id, j := range waitAll(p, idsOf(jobs)) {
		if j.Status != "failed" {
			t.Fatalf("job %s ended %s", id, j.Status)
		}
	}
	if v, called := testkit.CheckOrder(sys.Sim.Spans("Ordered"), jobs); len(v) > 0 || called != 3 {
		t.Fatalf("order: %v (%d called)", v, called)
	}
}

// TestOrderingCancel: canceling a waiting job takes it out of its
// sequence; canceling the head (queued) releases the next job.
func TestOrderingCancel(t *testing.T) {
	sys, flow := orderedSystem(t, 1, cpisim.IFlow{}, nil)
	p := sys.Partner()
	sys.Broker.Dispatcher.Pause() // the head stays queued
	jobs := p.SubmitOrdered(flow, []string{"K"}, 4, 1)
	if _, reason, head := waitingOf(p, jobs[2].ID); reason != "sequence" || head != jobs[0].ID {
		t.Fatalf("job 2 waits %q for %q", reason, head)
	}
	expectStatus(t, p.Do(http.MethodDelete, "/v1/jobs/"+jobs[1].ID, nil, nil), http.StatusOK) // waiting
	expectStatus(t, p.Do(http.MethodDelete, "/v1/jobs/"+jobs[0].ID, nil, nil), http.StatusOK) // head
	testkit.Eventually(t, 30*time.Second, "job 2 to become the head", func() bool {
		_, reason, _ := waitingOf(p, jobs[3].ID)
		return reason == "sequence"
	})
	if _, reason, _ := waitingOf(p, jobs[2].ID); reason != "" {
		t.Fatalf("the new head waits for %q", reason)
	}
	if _, reason, head := waitingOf(p, jobs[3].ID); reason != "sequence" || head != jobs[2].ID {
		t.Fatalf("job 3 waits %q for %q, want sequence for job 2", reason, head)
	}
	sys.Broker.Dispatcher.Resume()
	for i, want := range []string{"canceled", "canceled", "succeeded", "succeeded"} {
		if j := p.WaitJob(jobs[i].ID, time.Minute); j.Status != want {
			t.Fatalf("job %d ended %s, want %s", i, j.Status, want)
		}
	}
	for _, sp := range sys.Sim.Spans("Ordered") {
		if sp.Job == jobs[0].ID || sp.Job == jobs[1].ID {
			t.Fatalf("canceled job %s was called", sp.Job)
		}
	}
	if v, _ := testkit.CheckOrder(sys.Sim.Spans("Ordered"), jobs); len(v) > 0 {
		t.Fatalf("order: %v", v)
	}
}

// TestOrderingManyKeys: 2000 keys cost no consumer per key: the SEQ
// stream has none and the flow's queue keeps its one.
func TestOrderingManyKeys(t *testing.T) {
	sys, flow := orderedSystem(t, 1, cpisim.IFlow{}, nil)
	p := sys.Partner()
	sys.Broker.Dispatcher.Pause() // every key's head waits in the one queue
	jobs := p.SubmitOrdered(flow, testkit.Keys("k", 2000), 2, 16)
	js := sys.Broker.Resources.JS
	if n := consumers(t, js, natsx.StreamSeq); n != 0 {
		t.Fatalf("SEQ has %d consumers", n)
	}
	if n := consumers(t, js, natsx.StreamJobs); n > 4 {
		t.Fatalf("JOBS has %d consumers for 2000 keys", n)
	}
	sys.Broker.Dispatcher.Resume()
	for id, j := range waitAll(p, idsOf(jobs)) {
		if j.Status != "succeeded" {
			t.Fatalf("job %s ended %s", id, j.Status)
		}
	}
	if v, called := testkit.CheckOrder(sys.Sim.Spans("Ordered"), jobs); len(v) > 0 || called != len(jobs) {
		t.Fatalf("order: %d violations (%d of %d called)", len(v), called, len(jobs))
	}
	if n := consumers(t, js, natsx.StreamSeq); n != 0 {
		t.Fatalf("SEQ has %d consumers", n)
	}
}

// TestOrderingClientDeleted: deleting a client cancels its ordered jobs,
// the heads and the jobs waiting behind them, without calling any.
func TestOrderingClientDeleted(t *testing.T) {
	sys, flow := orderedSystem(t, 1, cpisim.IFlow{}, nil)
	p, admin := sys.Partner(), adminOf(t, sys)
	sys.Broker.Dispatcher.Pause()
	jobs := p.SubmitOrdered(flow, []string{"A", "B"}, 3, 2)
	expectStatus(t, admin.Do(http.MethodDelete, "/admin/v1/clients/"+sys.Creds.Partner.ClientID, nil, nil), http.StatusNoContent)
	sys.Broker.Dispatcher.Resume()
	for _, j := range jobs {
		testkit.Eventually(t, time.Minute, "job "+j.ID+" canceled", func() bool {
			var got testkit.Job
			r := admin.Do(http.MethodGet, "/admin/v1/jobs/"+j.ID, nil, nil)
			return r.Status == http.StatusOK && json.Unmarshal(r.Body, &got) == nil && got.Status == "canceled"
		})
	}
	if n := len(sys.Sim.Spans("Ordered")); n != 0 {
		t.Fatalf("%d calls of a deleted client's ordered jobs", n)
	}
}

// blockedGauge reads cpibroker_sequences_blocked from /metrics ("" when
// absent).
func blockedGauge(p *testkit.Partner) string {
	m := p.Do(http.MethodGet, "/metrics", nil, nil)
	for _, line := range strings.Split(string(m.Body), "\n") {
		if strings.HasPrefix(line, "cpibroker_sequences_blocked") {
			f := strings.Fields(line)
			return f[len(f)-1]
		}
	}
	return ""
}
