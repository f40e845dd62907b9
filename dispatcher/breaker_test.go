package dispatcher_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/devkit/cpisim"
	"github.com/cpibroker/cpibroker/devkit/testkit"
	"github.com/cpibroker/cpibroker/dispatcher/state"
)

// adminPartner is an HTTP client holding an admin token.
func adminPartner(t *testing.T, sys *testkit.System) *testkit.Partner {
	tok := testkit.Token(t, sys.BaseURL, sys.Creds.Admin.ClientID, sys.Creds.Admin.ClientSecret, "")
	return &testkit.Partner{T: t, BaseURL: sys.BaseURL, Token: tok, HTTP: &http.Client{Timeout: 30 * time.Second}}
}

func breakerState(t *testing.T, admin *testkit.Partner, flow string) string {
	t.Helper()
	r := admin.Do(http.MethodGet, "/admin/v1/breakers", nil, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("breakers: %d %s", r.Status, r.Body)
	}
	var out struct {
		Items []struct{ Flow, State string }
	}
	if err := json.Unmarshal(r.Body, &out); err != nil {
		t.Fatal(err)
	}
	for _, it := range out.Items {
		if it.Flow == flow {
			return it.State
		}
	}
	return ""
}

// The simulator fails every call: the breaker opens after two failures,
// every dispatcher follows, jobs wait without calls or attempts, another
// flow of the same tenant runs, and once the iFlow is healthy a probe
// closes the breaker and every job succeeds.
func TestBreakerOpensHalfOpensAndCloses(t *testing.T) {
	t.Parallel()
	cl := startCluster(t, 2, time.Time{})
	sys := cl.sys
	flow := sys.AddFlow(cpisim.IFlow{ID: "Fragile", Name: "Fragile", Address: "/t/fragile",
		Faults: cpisim.Faults{ErrorRate: 1, ErrorStatus: 503}}, func(p *catalog.Policy) {
		unlimited(p)
		p.BackoffBase, p.BackoffCap = catalog.Duration(10*time.Millisecond), catalog.Duration(10*time.Millisecond)
		p.Breaker.ConsecutiveFailures = 2
		p.Breaker.OpenFor = catalog.Duration(20 * time.Second) // longer than the checks below take under load (-race on 2 cores)
	})
	healthy := sys.AddFlow(cpisim.IFlow{ID: "Sturdy", Name: "Sturdy", Address: "/t/sturdy"}, unlimited)
	p := sys.Partner()
	admin := adminPartner(t, sys)
	// Four jobs on three dispatchers: one of them makes two calls and trips.
	first := submitN(t, p, flow, 4)
	testkit.Eventually(t, 20*time.Second, "breaker open everywhere", func() bool {
		for _, d := range cl.disps {
			if d.BreakerStates()[flow] != "open" {
				return false
			}
		}
		return breakerState(t, admin, flow) == "open"
	})
	// Each dispatcher's breaker counts its own calls, so a few more than
	// two may fail before every one is open, and a call admitted just
	// before may still be on its way to CPI; from then on, none: the jobs
	// submitted now are not called while the breaker is open.
	callsOf := func(ids []string, status int) map[string]int {
		want := map[string]bool{}
		for _, id := range ids {
			want[id] = true
		}
		n := map[string]int{}
		for _, c := range sys.Sim.Calls("Fragile") {
			if want[c.ApplicationID] && (status == 0 || c.Status == status) {
				n[c.ApplicationID]++
			}
		}
		return n
	}
	later := submitN(t, p, flow, 5)
	testkit.Eventually(t, 5*time.Second, "waiting.reason breaker_open", func() bool {
		return waitingReason(t, p, later[4]) == "breaker_open"
	})
	// Other flows of the same tenant run normally.
	other := submitN(t, p, healthy, 1)
	if j := p.WaitJob(other[0], 10*time.Second); j.Status != "succeeded" {
		t.Fatalf("other flow: %+v", j)
	}
	if n := callsOf(later, 0); len(n) != 0 {
		t.Fatalf("calls of jobs submitted while open: %v", n)
	}
	if err := sys.Sim.SetFaults("Fragile", cpisim.Faults{}); err != nil {
		t.Fatal(err)
	}
	for _, id := range first {
		if j := p.WaitJob(id, 45*time.Second); j.Status != "succeeded" || j.Attempts < 1 {
			t.Fatalf("job that failed before the breaker opened: %+v", j)
		}
	}
	for _, id := range later {
		if j := p.WaitJob(id, 30*time.Second); j.Status != "succeeded" || j.Attempts != 1 {
			t.Fatalf("job that waited for the breaker: %+v", j)
		}
	}
	testkit.Eventually(t, 5*time.Second, "breaker closed", func() bool { return breakerState(t, admin, flow) == "closed" })
	// Every job succeeded at CPI exactly once.
	ok := callsOf(append(first, later...), http.StatusOK)
	for _, id := range append(first, later...) {
		if ok[id] != 1 {
			t.Fatalf("job %s: %d successful calls, want 1 (%v)", id, ok[id], ok)
		}
	}
}

func TestBreakerResetClosesEverywhere(t *testing.T) {
	t.Parallel()
	cl := startCluster(t, 1, time.Time{})
	sys := cl.sys
	flow := sys.AddFlow(cpisim.IFlow{ID: "Broken", Name: "Broken", Address: "/t/broken",
		Faults: cpisim.Faults{Outage: true}}, func(p *catalog.Policy) {
		unlimited(p)
		p.Breaker.ConsecutiveFailures = 1
		p.Breaker.OpenFor = catalog.Duration(time.Hour)
	})
	p := sys.Partner()
	admin := adminPartner(t, sys)
	ids := submitN(t, p, flow, 3)
	testkit.Eventually(t, 10*time.Second, "breaker open", func() bool { return breakerState(t, admin, flow) == "open" })
	if err := sys.Sim.SetFaults("Broken", cpisim.Faults{}); err != nil {
		t.Fatal(err)
	}
	if r := admin.Do(http.MethodPost, "/admin/v1/breakers/"+flow+"/reset", nil, nil); r.Status != http.StatusOK {
		t.Fatalf("reset: %d %s", r.Status, r.Body)
	}
	if r := admin.Do(http.MethodPost, "/admin/v1/breakers/no-such-flow/reset", nil, nil); r.Status != http.StatusNotFound {
		t.Fatalf("reset unknown: %d %s", r.Status, r.Body)
	}
	for _, id := range ids {
		if j := p.WaitJob(id, 30*time.Second); j.Status != "succeeded" {
			t.Fatalf("job %+v", j)
		}
	}
	for _, d := range cl.disps {
		if s := d.BreakerStates()[flow]; s != "closed" {
			t.Fatalf("dispatcher %s: breaker %s after reset", d.Holder(), s)
		}
	}
}

// TestBreakerResetByStateWriter: the dispatch state's writer is the
// contract the dispatchers follow. A reset written through state.Store
// (what the admin API calls) closes an open breaker in every dispatcher,
// including one that did not trip it itself.
func TestBreakerResetByStateWriter(t *testing.T) {
	t.Parallel()
	cl := startCluster(t, 1, time.Time{})
	sys := cl.sys
	flow := sys.AddFlow(cpisim.IFlow{ID: "Jammed", Name: "Jammed", Address: "/t/jammed",
		Faults: cpisim.Faults{Outage: true}}, func(p *catalog.Policy) {
		unlimited(p)
		p.Breaker.ConsecutiveFailures = 1
		p.Breaker.OpenFor = catalog.Duration(time.Hour)
	})
	submitN(t, sys.Partner(), flow, 2)
	testkit.Eventually(t, 20*time.Second, "breaker open in every dispatcher", func() bool {
		for _, d := range cl.disps {
			if d.BreakerStates()[flow] != "open" {
				return false
			}
		}
		return true
	})
	// The iFlow works again, but the breaker stays open for an hour: only
	// the reset can close it.
	if err := sys.Sim.SetFaults("Jammed", cpisim.Faults{}); err != nil {
		t.Fatal(err)
	}
	res := sys.Broker.Resources
	if _, err := state.NewStore(res.Breakers, res.Quota).Reset(t.Context(), flow, time.Now()); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 20*time.Second, "breaker closed in every dispatcher", func() bool {
		for _, d := range cl.disps {
			if d.BreakerStates()[flow] != "closed" {
				return false
			}
		}
		return true
	})
}
