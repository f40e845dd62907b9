package discovery_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/catalog/discovery"
	"github.com/cpibroker/cpibroker/devkit/cpisim"
	"github.com/cpibroker/cpibroker/devkit/testkit"
	"github.com/cpibroker/cpibroker/internal/lease"
)

// listingGate holds the first read of the endpoint listing until release
// is closed, and counts the listing reads that arrive meanwhile.
type listingGate struct {
	once     sync.Once
	entered  chan struct{}
	release  chan struct{}
	holding  atomic.Bool
	overlaps atomic.Int32
}

func (g *listingGate) RoundTrip(req *http.Request) (*http.Response, error) {
	if strings.Contains(req.URL.Path, "ServiceEndpoints") {
		first := false
		g.once.Do(func() { first = true })
		switch {
		case first:
			g.holding.Store(true)
			close(g.entered)
			<-g.release
			g.holding.Store(false)
		case g.holding.Load():
			g.overlaps.Add(1)
		}
	}
	return http.DefaultTransport.RoundTrip(req)
}

// gatedRunner is a store and a runner whose HTTP goes through gate.
func gatedRunner(t *testing.T, gate *listingGate) (*catalog.Store, *discovery.Runner) {
	t.Helper()
	_, _, res := testkit.NATS(t)
	ctx, cancel := context.WithCancel(context.Background())
	st := catalog.NewStore(res.Catalog, res.Clients, testkit.Logger(t))
	done := make(chan struct{})
	go func() { _ = st.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	<-st.Ready()
	lm, err := lease.New(lease.Config{KV: res.Leases, Holder: "a", TTL: time.Minute, Log: testkit.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	r, err := discovery.New(discovery.Config{
		Store: st, KV: res.Catalog, Leases: lm, HTTP: &http.Client{Transport: gate, Timeout: time.Minute},
		Log: testkit.Logger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	return st, r
}

// TestFlowWrittenDuringListingNotRetired: a discovery retires only the
// flows it read before listing the tenant, and only while they are
// unchanged: a flow published while the listing is read (an iFlow
// deployed and its flow put right after the artifacts were listed), or a
// flow written meanwhile, stays as it is; a flow whose artifact is gone
// and that nobody touched is retired.
func TestFlowWrittenDuringListingNotRetired(t *testing.T) {
	ctx := context.Background()
	gate := &listingGate{entered: make(chan struct{}), release: make(chan struct{})}
	st, r := gatedRunner(t, gate)
	sim := startSim(t, cpisim.Config{}, cpisim.DemoIFlows()...)
	putProvider(t, st, cpiProvider("acme", sim))
	put := func(id, artifact, addr string) {
		t.Helper()
		f := catalog.Flow{ID: id, Provider: "acme", ArtifactID: artifact, Address: addr, Title: artifact,
			URL: sim.URL() + "/http" + addr, Status: catalog.FlowEnabled, Policy: catalog.DefaultPolicy()}
		if err := st.PutFlow(ctx, f, false); err != nil {
			t.Fatal(err)
		}
	}
	put("acme-gone", "Gone", "/gone")          // not deployed, untouched: retired
	put("acme-touched", "Touched", "/touched") // not deployed, written during the listing

	first := make(chan error, 1)
	var res discovery.Result
	go func() {
		var err error
		res, err = r.Discover(ctx, "acme")
		first <- err
	}()
	select {
	case <-gate.entered: // the artifacts are listed; the endpoints are being read
	case err := <-first:
		t.Fatalf("discovery ended before reading the listing: %v", err)
	}
	if err := sim.Deploy(cpisim.IFlow{ID: "Late", Address: "/late"}); err != nil {
		t.Fatal(err)
	}
	put("acme-late", "Late", "/late")
	if _, err := st.UpdateFlow(ctx, "acme-touched", func(f *catalog.Flow) error {
		f.Title = "Touched by an admin"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	close(gate.release)
	if err := <-first; err != nil || !res.OK || res.Unavailable != 1 {
		t.Fatalf("discovery: %+v %v", res, err)
	}
	for id, want := range map[string]string{
		"acme-gone": catalog.FlowUnavailable, "acme-late": catalog.FlowEnabled, "acme-touched": catalog.FlowEnabled,
	} {
		if f := flow(t, st, id); f.Status != want {
			t.Errorf("flow %s: status %s, want %s", id, f.Status, want)
		}
	}
	// The next discovery judges them by a listing that includes them.
	if res = discover(t, &node{store: st, runner: r}, "acme"); res.Unavailable != 1 {
		t.Fatalf("second discovery: %+v", res)
	}
	if f := flow(t, st, "acme-touched"); f.Status != catalog.FlowUnavailable {
		t.Fatalf("acme-touched after the second discovery: %+v", f)
	}
	if f := flow(t, st, "acme-late"); f.Status != catalog.FlowEnabled {
		t.Fatalf("acme-late after the second discovery: %+v", f)
	}
}

// TestNoOverlappingDiscoveriesInOneProcess: a discovery asked for while
// another of the same provider runs in this process (a Rediscover after a
// 404, the admin API's Discover, the periodic run after a PATCH) does not
// run alongside it. The lease does not exclude this process's own holder,
// and two overlapping discoveries each retired the flows the other had
// just created: a flow submitted to right after the demo setup answered
// 409 flow_unavailable.
func TestNoOverlappingDiscoveriesInOneProcess(t *testing.T) {
	ctx := context.Background()
	gate := &listingGate{entered: make(chan struct{}), release: make(chan struct{})}
	st, r := gatedRunner(t, gate)
	sim := startSim(t, cpisim.Config{}, cpisim.DemoIFlows()...)
	putProvider(t, st, cpiProvider("acme", sim))

	type outcome struct {
		res discovery.Result
		err error
	}
	first := make(chan outcome, 1)
	go func() {
		res, err := r.Discover(ctx, "acme")
		first <- outcome{res, err}
	}()
	select {
	case <-gate.entered: // the first discovery is reading the listing
	case o := <-first:
		t.Fatalf("first discovery ended before reading the listing: %+v %v", o.res, o.err)
	}
	if err := r.Rediscover(ctx, "acme"); err != nil {
		t.Fatalf("rediscover while a discovery runs: %v", err)
	}
	if n := gate.overlaps.Load(); n != 0 {
		t.Fatalf("%d discoveries read the listing while the first one ran", n)
	}
	close(gate.release)
	o := <-first
	if o.err != nil || !o.res.OK || o.res.Added != 3 || o.res.Unavailable != 0 {
		t.Fatalf("first discovery: %+v %v", o.res, o.err)
	}
	flows := st.ProviderFlows("acme")
	if len(flows) != 3 {
		t.Fatalf("%d flows, want 3: %+v", len(flows), flows)
	}
	for _, f := range flows {
		if f.Status == catalog.FlowUnavailable {
			t.Fatalf("flow %s retired: %+v", f.ID, f)
		}
	}
}
