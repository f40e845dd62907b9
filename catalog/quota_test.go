package catalog_test

import (
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/devkit/testkit"
)

// TestQuotaMeaning: the burst a rate defaults to, the window a burst
// refills in and the allowance windows are defined once, here.
func TestQuotaMeaning(t *testing.T) {
	for i, tc := range []struct {
		q            catalog.Quota
		burst, rateW int
	}{
		{catalog.Quota{Rate: 2, Burst: 4}, 4, 2},
		{catalog.Quota{Rate: 2.5}, 3, 2},
		{catalog.Quota{Rate: 0.001, Burst: 1}, 1, 1000},
		{catalog.Quota{Rate: 1e300}, catalog.MaxBurstLimit, 1},
		{catalog.Quota{Allow: 5}, 0, 0},
	} {
		if got := tc.q.BurstLimit(); got != tc.burst {
			t.Errorf("Test %d: BurstLimit = %d, want %d", i, got, tc.burst)
		}
		if got := tc.q.RateWindow(); got != tc.rateW {
			t.Errorf("Test %d: RateWindow = %d, want %d", i, got, tc.rateW)
		}
	}
	at := time.Date(2026, 3, 4, 15, 42, 17, 0, time.FixedZone("x", 3600))
	for _, tc := range []struct {
		iv   catalog.Interval
		d    time.Duration
		want time.Time
	}{
		{catalog.IntervalMinute, time.Minute, time.Date(2026, 3, 4, 14, 42, 0, 0, time.UTC)},
		{catalog.IntervalHour, time.Hour, time.Date(2026, 3, 4, 14, 0, 0, 0, time.UTC)},
		{catalog.IntervalDay, 24 * time.Hour, time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)},
	} {
		q := catalog.Quota{Allow: 1, Interval: tc.iv}
		if q.Interval.Duration() != tc.d || !q.Window(at).Equal(tc.want) {
			t.Errorf("%s: %v, window %v; want %v, %v", tc.iv, q.Interval.Duration(), q.Window(at), tc.d, tc.want)
		}
	}
}

// TestRetireProviderFlows: a provider's flows become unavailable keeping
// their status; those kept and those of other providers are untouched.
func TestRetireProviderFlows(t *testing.T) {
	_, _, res := testkit.NATS(t)
	s := run(t, res.Catalog, res.Clients)
	ctx := ctxT(t)
	mk := func(id, provider string, status string) {
		f := validFlow()
		f.ID, f.Provider, f.Status = id, provider, status
		if err := s.PutFlow(ctx, f, true); err != nil {
			t.Fatal(err)
		}
	}
	mk("p-a", "p", catalog.FlowEnabled)
	mk("p-b", "p", catalog.FlowDisabled)
	mk("p-keep", "p", catalog.FlowEnabled)
	mk("q-a", "q", catalog.FlowEnabled)
	eventually(t, s, "flows loaded", func() bool { return len(s.Flows()) == 4 })
	n, err := s.RetireProviderFlows(ctx, "p", func(f catalog.Flow) bool { return f.ID == "p-keep" })
	if err != nil || n != 2 {
		t.Fatalf("retired %d, %v; want 2", n, err)
	}
	eventually(t, s, "retired", func() bool {
		a, _ := s.Flow("p-a")
		b, _ := s.Flow("p-b")
		return a.Status == catalog.FlowUnavailable && a.AvailableStatus == catalog.FlowEnabled &&
			b.Status == catalog.FlowUnavailable && b.AvailableStatus == catalog.FlowDisabled
	})
	for _, id := range []string{"p-keep", "q-a"} {
		if f, _ := s.Flow(id); f.Status != catalog.FlowEnabled {
			t.Errorf("%s: %s", id, f.Status)
		}
	}
	// Already unavailable: nothing more to mark.
	if n, err := s.RetireProviderFlows(ctx, "p", nil); err != nil || n != 1 {
		t.Fatalf("second retire: %d, %v; want 1 (p-keep)", n, err)
	}
}

// TestWebhookEventsIsACopy: a caller changing the list cannot change what
// the catalog accepts.
func TestWebhookEventsIsACopy(t *testing.T) {
	catalog.WebhookEvents()[0] = "job.anything"
	if catalog.WebhookEvents()[0] != "job.succeeded" {
		t.Fatal("WebhookEvents shares its slice")
	}
}
