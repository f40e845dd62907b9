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

// TestNoOverlappingDiscoveriesInOneProcess: a discovery asked for while
// another of the same provider runs in this process (a Rediscover after a
// 404, the admin API's Discover, the periodic run after a PATCH) does not
// run alongside it. The lease does not exclude this process's own holder,
// and two overlapping discoveries each retired the flows the other had
// just created: a flow submitted to right after the demo setup answered
// 409 flow_unavailable.
func TestNoOverlappingDiscoveriesInOneProcess(t *testing.T) {
	_, _, res := testkit.NATS(t)
	ctx, cancel := context.WithCancel(context.Background())
	sim := startSim(t, cpisim.Config{}, cpisim.DemoIFlows()...)
	st := catalog.NewStore(res.Catalog, res.Clients, testkit.Logger(t))
	done := make(chan struct{})
	go func() { _ = st.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	<-st.Ready()
	lm, err := lease.New(lease.Config{KV: res.Leases, Holder: "a", TTL: time.Minute, Log: testkit.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	gate := &listingGate{entered: make(chan struct{}), release: make(chan struct{})}
	r, err := discovery.New(discovery.Config{
		Store: st, KV: res.Catalog, Leases: lm, HTTP: &http.Client{Transport: gate, Timeout: time.Minute},
		Log: testkit.Logger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
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
