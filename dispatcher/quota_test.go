package dispatcher_test

import (
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
	"github.com/cpibroker/cpibroker/dispatcher"
	"github.com/cpibroker/cpibroker/internal/clock"
)

// cluster is a broker plus two more dispatchers on the same JetStream,
// all three reading one manual clock.
type cluster struct {
	sys   *testkit.System
	clk   *clock.Manual
	disps []*dispatcher.Dispatcher
}

// startCluster starts the cluster with its clock at start (zero: now).
// Retry schedules fire by JetStream's clock, so tests with retries start
// at now.
func startCluster(t *testing.T, extra int, start time.Time) *cluster {
	t.Helper()
	real := start.IsZero()
	if real {
		start = time.Now()
	}
	clk := clock.NewManual(start)
	// One clock for the dispatchers and the ingress: a breaker record's
	// until is written on the dispatcher's clock and read (open or
	// half-open) on the ingress's.
	sys := testkit.Start(t, testkit.Options{Configure: func(c *broker.Config) {
		c.DispatcherConfig.Now, c.IngressConfig.Now = clk.Now, clk.Now
	}})
	cl := &cluster{sys: sys, clk: clk, disps: []*dispatcher.Dispatcher{sys.Broker.Dispatcher}}
	for range extra {
		d, err := dispatcher.New(dispatcher.Config{
			Now: clk.Now, ReconcileInterval: 200 * time.Millisecond, IdleWait: time.Second, Grace: 5 * time.Second,
			Logger: testkit.Logger(t),
		}, sys.Broker.NC, sys.Broker.Resources, sys.Broker.Jobs, sys.Broker.Catalog)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- d.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
		cl.disps = append(cl.disps, d)
	}
	if real && clk.Now().Before(time.Now()) {
		// A start on a loaded machine can take seconds: begin the test at
		// the real time, as a deployment would.
		clk.Set(time.Now())
	}
	return cl
}

// unlimited removes the flow's own rate and concurrency limits.
func unlimited(p *catalog.Policy) { p.Rate, p.Concurrency = 0, 0 }

func submitN(t *testing.T, p *testkit.Partner, flow string, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		var j testkit.Job
		r := p.Submit(flow, "text/plain", []byte(fmt.Sprint(i)), nil)
		if r.Status != http.StatusAccepted {
			t.Fatalf("submit: %d %s", r.Status, r.Body)
		}
		r.JSON(t, &j)
		ids[i] = j.ID
	}
	return ids
}

// settled waits until every dispatcher that has a puller for the pair
// waits on a budget for it, the calls made so far have finished, and no
// dispatcher still holds unreported tokens; then it returns the calls.
func (cl *cluster) settled(t *testing.T, iflow, pair, reason string, want int) {
	t.Helper()
	testkit.Eventually(t, 45*time.Second, fmt.Sprintf("%d calls then a %s wait", want, reason), func() bool {
		if cl.sys.Sim.CallCount(iflow) < want || cl.sys.Sim.InFlight(iflow) != 0 {
			return false
		}
		for _, d := range cl.disps {
			if d.Waiting()[pair] != reason {
				return false
			}
		}
		return cl.noHolds(t)
	})
	if n := cl.sys.Sim.CallCount(iflow); n != want {
		t.Fatalf("%d calls at the simulator, quota allows %d", n, want)
	}
}

func TestClientRateAndBurstExactWithThreeDispatchers(t *testing.T) {
	t.Parallel()
	cl := startCluster(t, 2, time.Time{})
	flow := cl.sys.AddFlow(cpisim.IFlow{ID: "Metered", Name: "Metered", Address: "/t/metered"}, unlimited)
	p := addPartner(t, cl.sys, "metered", 1, &catalog.Quota{Rate: 2, Burst: 4}, flow)
	ids := submitN(t, p, flow, 14)
	pair := "metered/" + flow
	// The clock stands still: the burst and nothing more.
	cl.settled(t, "Metered", pair, "quota", 4)
	// One second: two tokens.
	cl.clk.Advance(time.Second)
	cl.settled(t, "Metered", pair, "quota", 6)
	// A long pause refills up to the burst only.
	cl.clk.Advance(time.Minute)
	cl.settled(t, "Metered", pair, "quota", 10)
	// A waiting job says why.
	testkit.Eventually(t, 10*time.Second, "waiting.reason quota", func() bool {
		return waitingReason(t, p, ids[len(ids)-1]) == "quota"
	})
	cl.clk.Advance(2 * time.Second)
	cl.settled(t, "Metered", pair, "quota", 14)
}

func TestClientAllowPerMinuteExact(t *testing.T) {
	t.Parallel()
	// 10 s into a minute, so 30 s later is the same minute.
	cl := startCluster(t, 2, time.Now().UTC().Truncate(time.Minute).Add(time.Minute+10*time.Second))
	flow := cl.sys.AddFlow(cpisim.IFlow{ID: "Daily", Name: "Daily", Address: "/t/daily"}, unlimited)
	p := addPartner(t, cl.sys, "allowed", 1, &catalog.Quota{Allow: 5, Interval: "minute"}, flow)
	ids := submitN(t, p, flow, 12)
	pair := "allowed/" + flow
	cl.settled(t, "Daily", pair, "quota", 5)
	cl.clk.Advance(30 * time.Second) // same minute: nothing more
	cl.settled(t, "Daily", pair, "quota", 5)
	cl.clk.Advance(30 * time.Second) // the next minute
	cl.settled(t, "Daily", pair, "quota", 10)
	cl.clk.Advance(time.Minute)
	for _, id := range ids {
		if j := p.WaitJob(id, 20*time.Second); j.Status != "succeeded" || j.Attempts != 1 {
			t.Fatalf("job %+v", j)
		}
	}
	if n := cl.sys.Sim.CallCount("Daily"); n != 12 {
		t.Fatalf("%d calls for 12 jobs", n)
	}
}

func TestConcurrencyQuotaAcrossDispatchers(t *testing.T) {
	t.Parallel()
	cl := startCluster(t, 2, time.Time{})
	flow := cl.sys.AddFlow(cpisim.IFlow{ID: "Slowish", Name: "Slowish", Address: "/t/slowish",
		Faults: cpisim.Faults{Latency: 100 * time.Millisecond}}, func(p *catalog.Policy) { p.Rate, p.Concurrency = 0, 4 })
	p := addPartner(t, cl.sys, "parallel", 1, &catalog.Quota{Concurrency: 3}, flow)
	ids := submitN(t, p, flow, 24)
	for _, id := range ids {
		if j := p.WaitJob(id, 30*time.Second); j.Status != "succeeded" {
			t.Fatalf("job %+v", j)
		}
	}
	if m := cl.sys.Sim.MaxInFlight("Slowish"); m > 3 || m < 2 {
		t.Fatalf("at most %d calls in flight, quota 3", m)
	}
}

func TestFlowRateAcrossClients(t *testing.T) {
	t.Parallel()
	cl := startCluster(t, 2, time.Time{})
	flow := cl.sys.AddFlow(cpisim.IFlow{ID: "Shared", Name: "Shared", Address: "/t/shared"}, func(p *catalog.Policy) { p.Rate, p.Concurrency = 3, 0 })
	other := addPartner(t, cl.sys, "other", 1, nil, flow)
	p := cl.sys.Partner()
	submitN(t, p, flow, 5)
	submitN(t, other, flow, 5)
	cl.settledFlow(t, "Shared", flow, 3)
	cl.clk.Advance(time.Second)
	cl.settledFlow(t, "Shared", flow, 6)
	cl.clk.Advance(10 * time.Second)
	cl.settledFlow(t, "Shared", flow, 9)
	cl.clk.Advance(10 * time.Second)
	testkit.Eventually(t, 20*time.Second, "all 10 calls", func() bool { return cl.sys.Sim.CallCount("Shared") == 10 })
}

// noHolds reports whether no dispatcher holds tokens it has not reported
// used, so the next refill is exact.
func (cl *cluster) noHolds(t *testing.T) bool {
	t.Helper()
	ctx := context.Background()
	keys, err := cl.sys.Broker.Resources.Quota.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for k := range keys.Keys() {
		if !strings.HasPrefix(k, "rate.") {
			continue
		}
		e, err := cl.sys.Broker.Resources.Quota.Get(ctx, k)
		if err != nil {
			return false
		}
		var st struct {
			H map[string]any `json:"h"`
		}
		if json.Unmarshal(e.Value(), &st) != nil || len(st.H) > 0 {
			return false
		}
	}
	return true
}

// settledFlow is settled for a flow-wide budget: any pair may be the one
// waiting.
func (cl *cluster) settledFlow(t *testing.T, iflow, flow string, want int) {
	t.Helper()
	testkit.Eventually(t, 20*time.Second, fmt.Sprintf("%d calls", want), func() bool {
		if cl.sys.Sim.CallCount(iflow) < want || cl.sys.Sim.InFlight(iflow) != 0 {
			return false
		}
		for _, d := range cl.disps {
			for pair, why := range d.Waiting() {
				if why == "quota" && strings.HasSuffix(pair, "/"+flow) {
					return cl.noHolds(t)
				}
			}
		}
		return false
	})
	if n := cl.sys.Sim.CallCount(iflow); n != want {
		t.Fatalf("%d calls at the simulator, flow rate allows %d", n, want)
	}
}

// addPartner registers another partner client granted flows and returns
// its HTTP client.
func addPartner(t *testing.T, sys *testkit.System, id string, weight int, q *catalog.Quota, flows ...string) *testkit.Partner {
	t.Helper()
	secret := "secret-" + id + "-0123456789"
	h, err := catalog.HashSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	// One write: a client written twice in a row can briefly read as the
	// older version when the watch delivers the first write late.
	c := catalog.Client{ID: id, Enabled: true, Grants: flows, SecretHashes: []string{h}, Weight: weight, Quota: q}
	c.SetDefaults()
	if err := sys.Broker.Catalog.PutClient(context.Background(), c, false); err != nil {
		t.Fatal(err)
	}
	tok := testkit.Token(t, sys.BaseURL, id, secret, "")
	return &testkit.Partner{T: t, BaseURL: sys.BaseURL, Token: tok, HTTP: &http.Client{Timeout: 90 * time.Second}}
}

func waitingReason(t *testing.T, p *testkit.Partner, id string) string {
	t.Helper()
	var j testkit.Job
	p.Do(http.MethodGet, "/v1/jobs/"+id, nil, nil).JSON(t, &j)
	if j.Waiting == nil {
		return ""
	}
	return j.Waiting.Reason
}
