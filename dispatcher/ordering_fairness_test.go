package dispatcher_test

import (
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/devkit/cpisim"
	"github.com/cpibroker/cpibroker/devkit/testkit"
)

// TestOrderedPartnerSharesFairly: one call at a time on the flow; partner
// A has 40 ordered jobs (10 keys × 4), partner B 8 unordered ones. A's keys
// keep their order and B is not held back by A's sequences beyond its fair
// share: the pairs alternate, so all of B's jobs are done within the first
// 18 calls instead of after A's 40.
func TestOrderedPartnerSharesFairly(t *testing.T) {
	// Not parallel: the order depends on a waiting puller asking again
	// within one call's latency.
	sys := testkit.Start(t, testkit.Options{})
	flow := sys.AddFlow(cpisim.IFlow{ID: "NarrowOrdered", Name: "NarrowOrdered", Address: "/t/narrow-ordered",
		Faults: cpisim.Faults{Latency: 50 * time.Millisecond}}, func(p *catalog.Policy) { p.Rate, p.Concurrency = 0, 1 })
	a := sys.Partner()
	b := addPartner(t, sys, "bee", 1, nil, flow)
	sys.Broker.Dispatcher.Pause()
	aJobs := a.SubmitOrdered(flow, testkit.Keys("PO-", 10), 4, 10)
	bIDs := submitN(t, b, flow, 8)
	isB := map[string]bool{}
	for _, id := range bIDs {
		isB[id] = true
	}
	sys.Broker.Dispatcher.Resume()
	for _, j := range aJobs {
		if got := a.WaitJob(j.ID, 2*time.Minute); got.Status != "succeeded" {
			t.Fatalf("A's job %s: %s", j.ID, got.Status)
		}
	}
	for _, id := range bIDs {
		b.WaitJob(id, time.Minute)
	}
	calls := sys.Sim.Calls("NarrowOrdered")
	if len(calls) != 48 {
		t.Fatalf("%d calls for 48 jobs", len(calls))
	}
	lastB, order := 0, make([]byte, len(calls))
	for i, c := range calls {
		order[i] = 'a'
		if isB[c.ApplicationID] {
			order[i], lastB = 'b', i+1
		}
	}
	if lastB > 18 {
		t.Fatalf("B's last job was call %d of %d (order %s); fair sharing puts it within 18", lastB, len(calls), order)
	}
	if v, called := testkit.CheckOrder(sys.Sim.Spans("NarrowOrdered"), aJobs); len(v) > 0 || called != len(aJobs) {
		t.Fatalf("A's order: %v (%d of %d called)", v, called, len(aJobs))
	}
	t.Logf("call order %s", order)
}
