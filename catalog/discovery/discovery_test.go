package discovery_test

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/catalog/discovery"
	"github.com/cpibroker/cpibroker/devkit/cpisim"
	"github.com/cpibroker/cpibroker/devkit/testkit"
)

// TestDiscoverPagingThousands discovers 2500 endpoints read in pages of
// 1000, all new flows disabled; a second run changes nothing.
func TestDiscoverPagingThousands(t *testing.T) {
	_, _, res := testkit.NATS(t)
	sim := startSim(t, cpisim.Config{}, cpisim.GeneratedIFlows(2500)...)
	n := newNode(t, res, "a", nil, nil)
	putProvider(t, n.store, cpiProvider("big", sim))
	r := discover(t, n, "big")
	if !r.OK || r.Endpoints != 2500 || r.Added != 2500 || r.Skipped != 0 {
		t.Fatalf("first discovery: %+v", r)
	}
	// 1 page of artifacts... 3 of each collection at 1000 per page.
	if got := sim.APIRequests(); got != 6 {
		t.Fatalf("%d API requests, want 6 (3 pages of each collection)", got)
	}
	f := flow(t, n.store, "big-gen-02500")
	if f.Status != catalog.FlowDisabled || f.Protocol != "SOAP" || !strings.HasSuffix(f.URL, "/cxf/gen/02500") {
		t.Fatalf("flow = %+v", f)
	}
	r = discover(t, n, "big")
	if r.Unchanged != 2500 || r.Added+r.Updated+r.Unavailable != 0 {
		t.Fatalf("second discovery: %+v", r)
	}
}

// TestUndeployRedeploy: an undeployed artifact's flow becomes unavailable
// and keeps its status and policy; redeployed, it comes back with them.
func TestUndeployRedeploy(t *testing.T) {
	_, _, res := testkit.NATS(t)
	ctx := context.Background()
	sim := startSim(t, cpisim.Config{}, append(cpisim.DemoIFlows(),
		cpisim.IFlow{ID: "Orders", Address: "/orders/create"},
		cpisim.IFlow{ID: "Orders-cancel", Artifact: "Orders", Address: "/orders/cancel"},
		cpisim.IFlow{ID: "Invoices", Address: "/invoices", Protocol: cpisim.ProtocolODataV2},
	)...)
	n := newNode(t, res, "a", nil, nil)
	putProvider(t, n.store, cpiProvider("acme", sim))
	r := discover(t, n, "acme")
	if r.Added != 5 || r.Skipped != 1 {
		t.Fatalf("discovery: %+v", r)
	}
	// An artifact with several entry points gets the address in its IDs.
	for _, id := range []string{"acme-echo", "acme-slow", "acme-flaky", "acme-orders-orders-create", "acme-orders-orders-cancel"} {
		flow(t, n.store, id)
	}
	if _, err := n.store.UpdateFlow(ctx, "acme-echo", func(f *catalog.Flow) error {
		f.Status, f.Policy.MaxAttempts = catalog.FlowEnabled, 3
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := sim.Undeploy("Echo"); err != nil {
		t.Fatal(err)
	}
	r = discover(t, n, "acme")
	if r.Unavailable != 1 || r.Unchanged != 4 {
		t.Fatalf("after undeploy: %+v", r)
	}
	f := flow(t, n.store, "acme-echo")
	if f.Status != catalog.FlowUnavailable || f.AvailableStatus != catalog.FlowEnabled || f.Policy.MaxAttempts != 3 {
		t.Fatalf("undeployed flow = %+v", f)
	}
	// Still unavailable: nothing to write.
	if r = discover(t, n, "acme"); r.Unavailable != 0 || r.Unchanged != 4 {
		t.Fatalf("again: %+v", r)
	}
	if err := sim.Deploy(cpisim.DemoIFlows()[0]); err != nil {
		t.Fatal(err)
	}
	r = discover(t, n, "acme")
	if r.Restored != 1 || r.Updated != 1 {
		t.Fatalf("after redeploy: %+v", r)
	}
	f = flow(t, n.store, "acme-echo")
	if f.Status != catalog.FlowEnabled || f.AvailableStatus != "" || f.Policy.MaxAttempts != 3 {
		t.Fatalf("redeployed flow = %+v", f)
	}
	// Undeploying both entry points of an artifact takes both flows.
	_ = sim.Undeploy("Orders")
	_ = sim.Undeploy("Orders-cancel")
	if r = discover(t, n, "acme"); r.Unavailable != 2 {
		t.Fatalf("artifact undeployed: %+v", r)
	}
}

// TestRenamedAndCollidingArtifacts: a new title updates the flow; an
// artifact ID renamed at the same address keeps the flow's ID; artifacts
// whose names slug the same get distinct, stable IDs.
func TestRenamedAndCollidingArtifacts(t *testing.T) {
	_, _, res := testkit.NATS(t)
	sim := startSim(t, cpisim.Config{},
		cpisim.IFlow{ID: "Orders_Create", Name: "Create orders", Address: "/orders/create"},
		cpisim.IFlow{ID: "Orders-Create", Address: "/orders/create2"},
	)
	n := newNode(t, res, "a", nil, nil)
	// Another provider's flow already holds the plain name of a third artifact.
	other := catalog.Flow{ID: "acme-billing", Provider: "other", URL: "https://x.example/http/b", Status: catalog.FlowDisabled, Policy: catalog.DefaultPolicy()}
	if err := n.store.PutFlow(context.Background(), other, true); err != nil {
		t.Fatal(err)
	}
	if err := sim.Deploy(cpisim.IFlow{ID: "Billing", Address: "/billing"}); err != nil {
		t.Fatal(err)
	}
	putProvider(t, n.store, cpiProvider("acme", sim))
	if r := discover(t, n, "acme"); r.Added != 3 {
		t.Fatalf("discovery: %+v", r)
	}
	ids := map[string]string{} // address → id
	for _, f := range n.store.ProviderFlows("acme") {
		ids[f.Address] = f.ID
	}
	// Artifacts are named in key order: "Orders-Create" sorts first and
	// gets the plain name, "Orders_Create" the hashed one.
	if ids["/orders/create2"] != "acme-orders-create" {
		t.Fatalf("first of the colliding pair: %v", ids)
	}
	hashed := ids["/orders/create"]
	if !strings.HasPrefix(hashed, "acme-orders-create-") || !catalog.ValidID(hashed) {
		t.Fatalf("second of the colliding pair: %q", hashed)
	}
	if b := ids["/billing"]; !strings.HasPrefix(b, "acme-billing-") {
		t.Fatalf("collision with another provider's flow: %q", b)
	}
	// Title renamed in CPI: same ID, new title.
	if err := sim.Deploy(cpisim.IFlow{ID: "Orders_Create", Name: "Create orders (v2)", Address: "/orders/create"}); err != nil {
		t.Fatal(err)
	}
	// Artifact ID renamed, same address: same flow.
	_ = sim.Undeploy("Orders-Create")
	if err := sim.Deploy(cpisim.IFlow{ID: "OrdersCreateNew", Address: "/orders/create2"}); err != nil {
		t.Fatal(err)
	}
	r := discover(t, n, "acme")
	if r.Added != 0 || r.Updated != 2 || r.Unavailable != 0 {
		t.Fatalf("after renames: %+v", r)
	}
	if f := flow(t, n.store, hashed); f.Title != "Create orders (v2)" {
		t.Fatalf("title not updated: %+v", f)
	}
	if f := flow(t, n.store, "acme-orders-create"); f.ArtifactID != "OrdersCreateNew" || f.Status != catalog.FlowDisabled {
		t.Fatalf("renamed artifact: %+v", f)
	}
	// An operator's title is kept by later discoveries.
	if _, err := n.store.UpdateFlow(context.Background(), hashed, func(f *catalog.Flow) error {
		f.Title, f.CustomTitle = "Orders for partners", true
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if r := discover(t, n, "acme"); r.Updated != 0 {
		t.Fatalf("custom title overwritten: %+v", r)
	}
}

// TestTenantAnswering429Then200 backs off, honouring Retry-After, then succeeds.
func TestTenantAnswering429Then200(t *testing.T) {
	_, _, res := testkit.NATS(t)
	sim := startSim(t, cpisim.Config{}, cpisim.DemoIFlows()...)
	n := newNode(t, res, "a", nil, nil)
	putProvider(t, n.store, cpiProvider("acme", sim))
	if err := sim.SetAPIFaults(cpisim.APIFaults{FailNext: 3, RetryAfter: 2 * time.Second}); err != nil {
		t.Fatal(err)
	}
	r := discover(t, n, "acme")
	w := n.waits.All()
	if !r.OK || r.Added != 3 || len(w) != 3 {
		t.Fatalf("discovery %+v after waits %v", r, w)
	}
	for _, d := range w {
		if d < 2*time.Second {
			t.Fatalf("waited %v, less than Retry-After 2s", d)
		}
	}
	// A tenant that keeps failing: the run fails, the outcome says why,
	// and no flow is touched.
	if err := sim.SetAPIFaults(cpisim.APIFaults{FailNext: 1000, Status: 503}); err != nil {
		t.Fatal(err)
	}
	r, err := n.runner.Discover(context.Background(), "acme")
	if err == nil || r.OK || !strings.Contains(r.Error, "503") {
		t.Fatalf("failing tenant: %+v, %v", r, err)
	}
	if last, err := n.runner.Last(context.Background(), "acme"); err != nil || last.OK || last.Error == "" {
		t.Fatalf("recorded outcome: %+v, %v", last, err)
	}
	if f := flow(t, n.store, "acme-echo"); f.Status != catalog.FlowDisabled {
		t.Fatalf("flow touched by a failed discovery: %+v", f)
	}
}

// TestHTTPProviderDeclaredFlows: a plain HTTPS backend's declared flows
// become flows; a flow removed from the declaration becomes unavailable.
func TestHTTPProviderDeclaredFlows(t *testing.T) {
	_, _, res := testkit.NATS(t)
	n := newNode(t, res, "a", nil, nil)
	p := catalog.Provider{ID: "legacy", Type: catalog.ProviderHTTP, AutoEnable: true,
		Runtime: catalog.Endpoint{URL: "https://legacy.example.com/api"},
		Flows:   []catalog.DeclaredFlow{{ID: "legacy-orders", Path: "/orders", Title: "Orders"}, {ID: "legacy-stock", Path: "/stock"}}}
	putProvider(t, n.store, p)
	if r := discover(t, n, "legacy"); r.Added != 2 {
		t.Fatalf("declared: %+v", r)
	}
	if f := flow(t, n.store, "legacy-orders"); f.URL != "https://legacy.example.com/api/orders" || f.Status != catalog.FlowEnabled || f.Title != "Orders" {
		t.Fatalf("declared flow: %+v", f)
	}
	p.Flows = p.Flows[:1]
	putProvider(t, n.store, p)
	if r := discover(t, n, "legacy"); r.Unavailable != 1 || r.Unchanged != 1 {
		t.Fatalf("after removing a declared flow: %+v", r)
	}
}

// TestPeriodicOneRunnerAcrossProcesses: two processes run discovery on one
// JetStream; each period is discovered once, and both see the flows.
func TestPeriodicOneRunnerAcrossProcesses(t *testing.T) {
	_, _, res := testkit.NATS(t)
	sim := startSim(t, cpisim.Config{}, cpisim.DemoIFlows()...)
	clk := &clock{t: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	a := newNode(t, res, "a", clk, nil)
	b := newNode(t, res, "b", clk, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	for _, n := range []*node{a, b} {
		go func() { _ = n.runner.Run(ctx); done <- struct{}{} }()
	}
	defer func() { cancel(); <-done; <-done }()
	p := cpiProvider("acme", sim)
	p.DiscoveryInterval = catalog.Duration(time.Minute)
	putProvider(t, a.store, p)
	// Process b sees the flows process a or b discovered, through the watch.
	testkit.Eventually(t, 5*time.Second, "flows discovered and visible in both processes", func() bool {
		_, okA := a.store.Flow("acme-echo")
		_, okB := b.store.Flow("acme-flaky")
		return okA && okB
	})
	// The flows are applied before the outcome is recorded: wait for the
	// record of the first period, or it could be stamped with the advanced
	// clock and make the second period look already done.
	first := clk.Now()
	testkit.Eventually(t, 5*time.Second, "first period recorded", func() bool {
		last, err := b.runner.Last(context.Background(), "acme")
		return err == nil && last.FinishedAt.Equal(first)
	})
	if got := sim.APIRequests(); got != 2 {
		t.Fatalf("%d API requests after the first period, want 2 (one discovery)", got)
	}
	clk.Add(time.Minute)
	testkit.Eventually(t, 5*time.Second, "second period discovered", func() bool {
		last, err := b.runner.Last(context.Background(), "acme")
		return err == nil && last.FinishedAt.Equal(clk.Now())
	})
	if got := sim.APIRequests(); got != 4 {
		t.Fatalf("%d API requests after two periods, want 4", got)
	}
}

// TestConnection answers what failed in plain words.
func TestConnection(t *testing.T) {
	_, _, res := testkit.NATS(t)
	sim := startSim(t, cpisim.Config{}, cpisim.DemoIFlows()...)
	tlsSrv := httptest.NewUnstartedServer(sim.Handler())
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are the point
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)
	tlsURL := tlsSrv.URL
	env := map[string]string{"CPIB_ACME_API_SECRET": cpisim.DefaultAPIClientSecret}
	n := newNode(t, res, "a", nil, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	ctx := context.Background()

	good := cpiProvider("acme", sim)
	good.API.ClientSecret = "${CPIB_ACME_API_SECRET}"
	if rep := n.runner.Test(ctx, good); !rep.OK || len(rep.Steps) != 4 || !strings.Contains(rep.Steps[1].Detail, "3 deployed artifacts") ||
		!rep.API.OK || !rep.Runtime.OK {
		t.Fatalf("good provider: %+v", rep)
	}
	cases := []struct {
		name string
		edit func(*catalog.Provider)
		want []string
	}{
		{"token URL answers 401", func(p *catalog.Provider) { p.API.ClientSecret = "wrong" },
			[]string{"api_token", "answered 401", "client ID or secret is wrong", "Bad credentials"}},
		{"runtime key on the API", func(p *catalog.Provider) {
			p.API.ClientID, p.API.ClientSecret = cpisim.DefaultRuntimeClientID, cpisim.DefaultRuntimeClientSecret
		}, []string{"api_call", "403", "plan \"api\""}},
		{"wrong path", func(p *catalog.Provider) { p.API.URL = sim.URL() + "/itspaces" }, []string{"api_call", "wrong path", "404"}},
		{"unset secret reference", func(p *catalog.Provider) { p.API.ClientSecret = "${CPIB_NOPE_SECRET}" }, []string{"CPIB_NOPE_SECRET", "not set"}},
		{"connection refused", func(p *catalog.Provider) { p.API.TokenURL = "http://127.0.0.1:1/oauth/token" }, []string{"refused"}},
		{"untrusted TLS certificate", func(p *catalog.Provider) { p.API.TokenURL = tlsURL + "/oauth/token" }, []string{"TLS handshake", "not trusted"}},
		{"plain HTTP on a TLS URL", func(p *catalog.Provider) { p.API.TokenURL = strings.Replace(sim.TokenURL(), "http://", "https://", 1) }, []string{"TLS handshake", "does not speak TLS"}},
	}
	for _, tc := range cases {
		p := cpiProvider("acme", sim)
		tc.edit(&p)
		rep := n.runner.Test(ctx, p)
		if rep.OK {
			t.Errorf("%s: report ok: %+v", tc.name, rep)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(rep.Summary, w) {
				t.Errorf("%s: summary %q lacks %q", tc.name, rep.Summary, w)
			}
		}
		if strings.Contains(rep.Summary, cpisim.DefaultAPIClientSecret) || strings.Contains(rep.Summary, "wrong\"") {
			t.Errorf("%s: summary leaks a secret: %q", tc.name, rep.Summary)
		}
	}

	// DNS: a resolver that cannot answer, as on a host without DNS for
	// the tenant's name.
	noDNS := &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
		return nil, errors.New("no route to the DNS server")
	}}
	dialer := &net.Dialer{Resolver: noDNS}
	r, err := discovery.New(discovery.Config{
		Store: n.store, KV: res.Catalog, Leases: mustLeases(t, res), Log: testkit.Logger(t),
		HTTP: &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}},
	})
	if err != nil {
		t.Fatal(err)
	}
	p := cpiProvider("acme", sim)
	p.API.TokenURL = "https://acme.authentication.eu10.hana.ondemand.example/oauth/token"
	if rep := r.Test(ctx, p); rep.OK || !strings.Contains(rep.Summary, "cannot resolve host acme.authentication.eu10.hana.ondemand.example (DNS)") {
		t.Fatalf("DNS failure: %+v", rep)
	}
}

// TestDiscoverProgress: while a large tenant is read, the progress (pages,
// artifacts, entry points, started_at) is in KV for any process to show;
// when the discovery ends it is gone and the outcome is there.
func TestDiscoverProgress(t *testing.T) {
	_, _, res := testkit.NATS(t)
	sim := startSim(t, cpisim.Config{ODataPageSize: 250}, cpisim.GeneratedIFlows(1000)...)
	// The tenant's API answers through a gate that holds the third page
	// until the test has seen the progress of the first ones.
	blocked, release := make(chan struct{}), make(chan struct{})
	var reads atomic.Int32
	gate := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/api/v1/") && reads.Add(1) == 3 {
			close(blocked)
			<-release
		}
		sim.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(gate.Close)
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	n := newNode(t, res, "a", nil, nil)
	p := cpiProvider("big", sim)
	p.API.URL = gate.URL
	putProvider(t, n.store, p)
	ctx := context.Background()
	if _, err := n.runner.Running(ctx, "big"); !errors.Is(err, catalog.ErrNotFound) {
		t.Fatalf("progress before any discovery: %v", err)
	}
	type outcome struct {
		res discovery.Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		r, err := n.runner.Discover(ctx, "big")
		done <- outcome{r, err}
	}()
	select {
	case <-blocked:
	case o := <-done:
		t.Fatalf("discovery ended before its third page: %+v %v", o.res, o.err)
	case <-time.After(30 * time.Second):
		t.Fatal("the third page was never asked for")
	}
	var pr discovery.Progress
	testkit.Eventually(t, 10*time.Second, "progress of the first pages", func() bool {
		var err error
		pr, err = n.runner.Running(ctx, "big")
		return err == nil && pr.Pages >= 1
	})
	if pr.Provider != "big" || pr.StartedAt.IsZero() || pr.Artifacts < 250 || pr.Artifacts > 500 || pr.Pages > 2 || pr.EntryPoints != 0 {
		t.Fatalf("progress while the artifacts are read: %+v", pr)
	}
	close(release)
	var o outcome
	select {
	case o = <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("discovery did not end")
	}
	if o.err != nil || !o.res.OK || o.res.Endpoints != 1000 || !o.res.StartedAt.Equal(pr.StartedAt) {
		t.Fatalf("discovery: %+v %v (progress started %s)", o.res, o.err, pr.StartedAt)
	}
	if _, err := n.runner.Running(ctx, "big"); !errors.Is(err, catalog.ErrNotFound) {
		t.Fatalf("progress after the discovery: %v", err)
	}
}
