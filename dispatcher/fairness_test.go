package dispatcher_test

import (
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/devkit/cpisim"
	"github.com/cpibroker/cpibroker/devkit/testkit"
)

// One call at a time on the flow; client A has 30 jobs queued, client B
// (weight 3) 9. Served in weighted fair order, B gets three calls for each
// of A's, so all of B's jobs are done within the first 13 calls instead of
// waiting behind A's backlog (FIFO) or alternating 1:1.
func TestWeightedFairSharingOfAFlow(t *testing.T) {
	// Not parallel: the order depends on a waiting puller asking again
	// within one call's latency.
	sys := testkit.Start(t, testkit.Options{})
	flow := sys.AddFlow(cpisim.IFlow{ID: "Narrow", Name: "Narrow", Address: "/t/narrow",
		Faults: cpisim.Faults{Latency: 50 * time.Millisecond}}, func(p *catalog.Policy) { p.Rate, p.Concurrency = 0, 1 })
	a := sys.Partner()
	b := addPartner(t, sys, "bee", 3, nil, flow)
	sys.Broker.Dispatcher.Pause()
	aIDs := submitN(t, a, flow, 30)
	bIDs := submitN(t, b, flow, 9)
	isB := map[string]bool{}
	for _, id := range bIDs {
		isB[id] = true
	}
	sys.Broker.Dispatcher.Resume()
	for _, id := range aIDs {
		a.WaitJob(id, 60*time.Second)
	}
	calls := sys.Sim.Calls("Narrow")
	if len(calls) != 39 {
		t.Fatalf("%d calls for 39 jobs", len(calls))
	}
	if m := sys.Sim.MaxInFlight("Narrow"); m != 1 {
		t.Fatalf("%d calls in flight, flow concurrency 1", m)
	}
	lastB, order := 0, make([]byte, len(calls))
	for i, c := range calls {
		order[i] = 'a'
		if isB[c.ApplicationID] {
			order[i], lastB = 'b', i+1
		}
	}
	if lastB > 13 {
		t.Fatalf("B's last job was call %d of %d (order %s); weighted fair order puts it within 13", lastB, len(calls), order)
	}
	t.Logf("call order %s", order)
}
