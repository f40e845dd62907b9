package faults_test

import (
	"bytes"
	"net/http"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/broker"
	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/devkit/cpisim"
	"github.com/cpibroker/cpibroker/devkit/testkit"
	"github.com/cpibroker/cpibroker/internal/natsx"
	cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"
)

const succeeded = cpibv1.JobStatus_JOB_STATUS_SUCCEEDED

// TestNodeLoss: the node leading the JOBS stream is shut down in the middle
// of 2 000 jobs submitted through two ingresses and run by two
// dispatchers. Every accepted job ends terminal exactly once.
func TestNodeLoss(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{ingresses: 2, dispatchers: 2, iflow: cpisim.IFlow{ID: "NodeLoss"}})
	lost := -1
	ids, refused := r.load(2000, 16, 600, func() {
		lost = r.cl.WaitStreamLeader(natsx.StreamJobs)
		r.cl.Stop(lost)
	})
	t.Logf("node n%d stopped; %d accepted, %d submits refused and retried", lost+1, len(ids), refused)
	if len(ids) != 2000 {
		t.Fatalf("%d jobs accepted, want 2000", len(ids))
	}
	r.verify(ids, succeeded, 2*time.Minute)
	if leader := r.cl.StreamLeader(natsx.StreamJobs); leader == lost || leader < 0 {
		t.Errorf("JOBS leader after the loss: %d", leader)
	}
}

// TestDispatcherCutOff: the only dispatcher loses its NATS connection with
// jobs in flight at the simulator (as a killed process does); a new
// dispatcher, started while a NATS node is down (processes start in any
// order), gets them after AckWait and every job ends exactly once.
func TestDispatcherCutOff(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{ingresses: 1, dispatchers: 1,
		iflow: cpisim.IFlow{ID: "CutOff", Faults: cpisim.Faults{Latency: 300 * time.Millisecond}}})
	ids, _ := r.load(200, 8, 200, nil)
	testkit.Eventually(t, 30*time.Second, "jobs in flight at the simulator", func() bool {
		return r.first.Sim.InFlight(r.iflow) >= 5
	})
	r.disp[0].Kill()
	calls := r.first.Sim.CallCount(r.iflow)
	r.cl.Stop(r.cl.Size() - 1)
	r.addDispatcher(nil)
	r.verify(ids, succeeded, time.Minute)
	if got := r.first.Sim.CallCount(r.iflow); got <= len(ids) {
		t.Errorf("%d CPI calls for %d jobs: no job in flight at the cut was redelivered (calls at the cut: %d)", got, len(ids), calls)
	}
}

// TestLeaderStepDown: the leaders of the JOBS stream and of the job records
// bucket step down mid-load through the JetStream API; nothing is lost.
func TestLeaderStepDown(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{ingresses: 1, dispatchers: 1, iflow: cpisim.IFlow{ID: "StepDown"}})
	ids, refused := r.load(200, 8, 60, func() {
		r.cl.StepDown(r.nc, natsx.StreamJobs)
		r.cl.StepDown(r.nc, "KV_"+natsx.BucketJobs)
	})
	t.Logf("%d accepted, %d submits refused and retried", len(ids), refused)
	r.verify(ids, succeeded, time.Minute)
}

// TestCPIOutage: the iFlow answers 503 to every call for a while (the
// simulator's outage fault, set through its admin API); every job is
// retried and succeeds once the tenant is back.
func TestCPIOutage(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{ingresses: 1, dispatchers: 1, iflow: cpisim.IFlow{ID: "Outage"},
		policy: func(p *catalog.Policy) {
			p.MaxAttempts = 100
			p.BackoffBase, p.BackoffCap = catalog.Duration(50*time.Millisecond), catalog.Duration(500*time.Millisecond)
			p.Breaker.OpenFor = catalog.Duration(time.Second)
		}})
	setOutage(t, r.first.Sim.URL(), r.iflow, true)
	ids, _ := r.load(100, 8, 100, nil)
	// The flow's breaker opens after 5 failures and lets a probe through
	// every second: a few calls show the outage was met.
	testkit.Eventually(t, 30*time.Second, "calls refused by the outage", func() bool {
		return r.first.Sim.CallCount(r.iflow) >= 10
	})
	setOutage(t, r.first.Sim.URL(), r.iflow, false)
	r.verify(ids, succeeded, time.Minute)
}

func setOutage(t *testing.T, simURL, iflow string, on bool) {
	t.Helper()
	body := `{"outage":false}`
	if on {
		body = `{"outage":true}`
	}
	req, _ := http.NewRequest(http.MethodPut, simURL+"/sim/v1/iflows/"+iflow+"/faults", bytes.NewReader([]byte(body)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("set outage: %d", resp.StatusCode)
	}
}

// TestNoQuorum: with two of three nodes down, JetStream cannot store
// anything; the ingress answers 503 unavailable, never a 202. Once the
// nodes are back, submits are accepted again and every accepted job runs.
func TestNoQuorum(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{ingresses: 1, dispatchers: 1, iflow: cpisim.IFlow{ID: "Quorum"},
		configure: func(c *broker.Config) { c.Jobs.StoreTimeout = 2 * time.Second }})
	ids, _ := r.load(20, 4, 20, nil)
	stopped := []int{}
	for i := range r.cl.Size() {
		if len(stopped) < 2 && i != r.cl.StreamLeader(natsx.StreamJobs) {
			stopped = append(stopped, i)
			r.cl.Stop(i)
		}
	}
	for i := range 2 {
		status, code, id, err := r.submit(0, `{"quorum":false}`)
		if err != nil {
			t.Fatalf("submit without quorum: %v", err)
		}
		if status != http.StatusServiceUnavailable || code != "unavailable" {
			t.Fatalf("submit %d without quorum: %d %q (job %q), want 503 unavailable", i, status, code, id)
		}
	}
	for _, i := range stopped {
		r.cl.Restart(i)
	}
	more, _ := r.load(20, 4, 20, nil)
	r.verify(append(ids, more...), succeeded, time.Minute)
}
