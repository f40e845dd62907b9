package faults_test

import (
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/broker"
	"github.com/cpibroker/cpibroker/devkit/cpisim"
	"github.com/cpibroker/cpibroker/devkit/testkit"
)

// TestOrderingDispatcherKilled: on the 3-node cluster (R3), jobs with an
// Ordering-Key run through two dispatchers; one is killed (its connection
// cut with calls in flight, as kill -9 does) and a new one started. Every
// job ends exactly once, and per key the simulator saw the jobs in the
// order of their 202s, one at a time: never two jobs of a key at once.
func TestOrderingDispatcherKilled(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{ingresses: 1, dispatchers: 2,
		iflow: cpisim.IFlow{ID: "OrderedKill", Faults: cpisim.Faults{Latency: 20 * time.Millisecond}},
		configure: func(c *broker.Config) {
			c.DispatcherConfig.SweepInterval = 500 * time.Millisecond
		}})
	p := r.first.Partner()
	jobs := p.SubmitOrdered(r.flow, testkit.Keys("PO-", 24), 8, 24)
	testkit.Eventually(t, time.Minute, "ordered jobs in flight at the simulator", func() bool {
		return r.first.Sim.InFlight(r.iflow) >= 2
	})
	r.disp[0].Kill()
	r.addDispatcher(nil)
	ids := make([]string, len(jobs))
	for i, j := range jobs {
		ids[i] = j.ID
	}
	r.verify(ids, succeeded, 2*time.Minute)
	violations, called := testkit.CheckOrder(r.first.Sim.Spans(r.iflow), jobs)
	if len(violations) > 0 {
		t.Fatalf("%d order violations, first: %s", len(violations), violations[0])
	}
	if called != len(jobs) {
		t.Fatalf("%d of %d jobs called", called, len(jobs))
	}
}
