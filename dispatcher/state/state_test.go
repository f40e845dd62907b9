package state_test

import (
	"context"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/devkit/testkit"
	"github.com/cpibroker/cpibroker/dispatcher/quota"
	"github.com/cpibroker/cpibroker/dispatcher/state"
)

// fakeCatalog is the live catalog Waiting reads: two maps.
type fakeCatalog struct {
	flows   map[string]catalog.Flow
	clients map[string]catalog.Client
}

func (c fakeCatalog) Flow(id string) (catalog.Flow, bool)     { f, ok := c.flows[id]; return f, ok }
func (c fakeCatalog) Client(id string) (catalog.Client, bool) { x, ok := c.clients[id]; return x, ok }

func startCache(t *testing.T) (*state.Cache, *state.Store, *quota.Store) {
	t.Helper()
	_, _, res := testkit.NATS(t)
	c := state.NewCache(res.Breakers, res.Quota, testkit.Logger(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = c.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return c, state.NewStore(res.Breakers, res.Quota), quota.NewStore(res.Quota, "d1", time.Minute)
}

// TestStateWriterAndWaiting: what the writer writes (a breaker record, an
// operator's reset, a waiting marker) the cache follows, and Waiting gives
// the most binding reason.
func TestStateWriterAndWaiting(t *testing.T) {
	c, st, _ := startCache(t)
	ctx := t.Context()
	cat := fakeCatalog{
		flows: map[string]catalog.Flow{
			"up": {ID: "up", Status: catalog.FlowEnabled}, "off": {ID: "off", Status: catalog.FlowDisabled},
			"gone": {ID: "gone", Status: catalog.FlowUnavailable},
		},
		clients: map[string]catalog.Client{"acme": {ID: "acme", Enabled: true}, "idle": {ID: "idle"}},
	}
	reason := func(client, flow string) string {
		w, _ := c.Waiting(cat, client, flow)
		return w.Reason
	}
	for _, tc := range []struct{ client, flow, want string }{
		{"acme", "up", ""}, {"acme", "off", state.WaitFlowDisabled}, {"acme", "gone", state.WaitFlowUnavailable},
		{"acme", "nope", state.WaitFlowUnavailable}, {"idle", "up", state.WaitClientDisabled},
	} {
		if got := reason(tc.client, tc.flow); got != tc.want {
			t.Errorf("%s/%s: %q, want %q", tc.client, tc.flow, got, tc.want)
		}
	}
	until := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	if err := st.PutBreaker(ctx, state.Breaker{Flow: "up", State: state.StateOpen, Since: time.Now(), Until: until, By: "d1"}); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "breaker_open", func() bool { return reason("acme", "up") == state.WaitBreakerOpen })
	if w, _ := c.Waiting(cat, "acme", "up"); !w.Until.Equal(until) {
		t.Errorf("until %v, want %v", w.Until, until)
	}
	b, err := st.Reset(ctx, "up", time.Now())
	if err != nil || !b.Reset || b.By != state.ByAdmin || b.State != state.StateClosed {
		t.Fatalf("reset: %+v, %v", b, err)
	}
	testkit.Eventually(t, 10*time.Second, "reset followed", func() bool {
		r, ok := c.Breaker("up")
		return ok && r.Reset && r.State == state.StateClosed && reason("acme", "up") == ""
	})
	if err := st.PutWait(ctx, "acme", "up", state.Wait{Reason: "concurrency", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "marker followed", func() bool { return reason("acme", "up") == "concurrency" })
	if err := st.ClearWait(ctx, "acme", "up"); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "marker cleared", func() bool { return reason("acme", "up") == "" })
}

// TestAllowanceDecodedByQuota: the cache reads a client's use of its
// calendar allowance through dispatcher/quota, which writes it.
func TestAllowanceDecodedByQuota(t *testing.T) {
	c, _, qs := startCache(t)
	spec := quota.Spec{Kind: quota.Allow, Limit: 10, Interval: time.Hour}
	now := time.Now()
	win := spec.Window(now)
	if _, err := qs.Exchange(t.Context(), quota.AllowKey("acme", win), spec, now, quota.Request{Want: 3}); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "allowance used", func() bool { return c.AllowUsed("acme", win) == 3 })
	if _, ok := quota.DecodeAllowance("rate.c.acme", []byte(`{"u":1}`)); ok {
		t.Error("a rate key decoded as an allowance")
	}
	if _, ok := quota.DecodeAllowance("allow.c.acme.2026", []byte(`{"u":1}`)); ok {
		t.Error("a short window decoded")
	}
}
