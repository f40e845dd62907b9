package discovery_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/catalog/discovery"
	"github.com/cpibroker/cpibroker/devkit/cpisim"
	"github.com/cpibroker/cpibroker/devkit/testkit"
	"github.com/cpibroker/cpibroker/internal/lease"
	"github.com/cpibroker/cpibroker/internal/natsx"
)

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// waits records backoff waits instead of sleeping.
type waits struct {
	mu sync.Mutex
	d  []time.Duration
}

func (w *waits) Sleep(_ context.Context, d time.Duration) error {
	w.mu.Lock()
	w.d = append(w.d, d)
	w.mu.Unlock()
	return nil
}

func (w *waits) All() []time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]time.Duration(nil), w.d...)
}

// node is one process's view: a catalog store and a discovery runner.
type node struct {
	store  *catalog.Store
	runner *discovery.Runner
	waits  *waits
}

func newNode(t *testing.T, res *natsx.Resources, holder string, clk *clock, lookup func(string) (string, bool)) *node {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st := catalog.NewStore(res.Catalog, res.Clients, testkit.Logger(t))
	done := make(chan struct{})
	go func() { _ = st.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	<-st.Ready()
	lm, err := lease.New(lease.Config{KV: res.Leases, Holder: holder, TTL: 10 * time.Second, Log: testkit.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	w := &waits{}
	cfg := discovery.Config{
		Store: st, KV: res.Catalog, Leases: lm, Tick: 10 * time.Millisecond,
		BackoffBase: time.Millisecond, BackoffCap: 10 * time.Millisecond, Sleep: w.Sleep, Log: testkit.Logger(t),
		Lookup: lookup,
	}
	if clk != nil {
		cfg.Now = clk.Now
	}
	r, err := discovery.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &node{store: st, runner: r, waits: w}
}

func mustLeases(t *testing.T, res *natsx.Resources) *lease.Manager {
	t.Helper()
	lm, err := lease.New(lease.Config{KV: res.Leases})
	if err != nil {
		t.Fatal(err)
	}
	return lm
}

func startSim(t *testing.T, cfg cpisim.Config, flows ...cpisim.IFlow) *cpisim.Sim {
	t.Helper()
	sim, err := cpisim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range flows {
		if err := sim.Deploy(f); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := sim.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	return sim
}

// cpiProvider is a provider for the simulator with its default keys.
func cpiProvider(id string, sim *cpisim.Sim) catalog.Provider {
	return catalog.Provider{
		ID: id, Type: catalog.ProviderCPI, CSRF: true,
		Runtime: catalog.Endpoint{URL: sim.URL(), TokenURL: sim.TokenURL(), ClientID: cpisim.DefaultRuntimeClientID, ClientSecret: cpisim.DefaultRuntimeClientSecret},
		API:     &catalog.Endpoint{URL: sim.URL(), TokenURL: sim.TokenURL(), ClientID: cpisim.DefaultAPIClientID, ClientSecret: cpisim.DefaultAPIClientSecret},
	}
}

func putProvider(t *testing.T, st *catalog.Store, p catalog.Provider) {
	t.Helper()
	if err := st.PutProvider(context.Background(), p, false); err != nil {
		t.Fatal(err)
	}
}

func discover(t *testing.T, n *node, provider string) discovery.Result {
	t.Helper()
	res, err := n.runner.Discover(context.Background(), provider)
	if err != nil {
		t.Fatalf("discover %s: %v (%+v)", provider, err, res)
	}
	return res
}

func flow(t *testing.T, st *catalog.Store, id string) catalog.Flow {
	t.Helper()
	f, ok := st.Flow(id)
	if !ok {
		ids := []string{}
		for _, f := range st.Flows() {
			ids = append(ids, f.ID)
		}
		t.Fatalf("flow %s not found; flows: %v", id, ids)
	}
	return f
}
