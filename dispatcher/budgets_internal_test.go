package dispatcher

import (
	"math"
	"testing"

	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/dispatcher/quota"
)

// TestBudgetsFor_huge_rates: rates past the int range (written before the
// catalog refused them) give sane specs, never a negative limit that no
// budget can grant from.
func TestBudgetsFor_huge_rates(t *testing.T) {
	for _, r := range []float64{1e19, 1e308, math.Inf(1), math.MaxFloat64} {
		c := catalog.Client{ID: "c", Quota: &catalog.Quota{Rate: r, Concurrency: math.MaxInt, Allow: math.MaxInt, Interval: "day"}}
		f := catalog.Flow{ID: "f", Policy: catalog.Policy{Rate: r, Concurrency: math.MaxInt}}
		for key, spec := range budgetsFor(c, f) {
			if spec.Limit <= 0 || spec.Limit > quota.MaxLimit || (spec.Kind == quota.Rate && !(spec.Rate > 0 && spec.Rate <= quota.MaxRate)) {
				t.Errorf("rate %g: %s = %+v", r, key, spec)
			}
		}
	}
}

// FuzzBudgetsFor_validated: whatever a flow policy and a client quota
// hold, if the catalog accepts them the budgets the dispatcher makes of
// them are within the quota store's bounds (a limit no exchange refuses).
func FuzzBudgetsFor_validated(f *testing.F) {
	f.Add(50.0, 20, 2.0, 4, 0, 0)
	f.Add(1e308, 0, 1e19, 0, 0, 0)
	f.Add(0.001, 1_000_000, 1e6, 1_000_000, 1_000_000, 1_000_000_000)
	f.Add(math.NaN(), -1, math.Inf(1), -5, -1, -1)
	f.Fuzz(func(t *testing.T, flowRate float64, flowConc int, rate float64, burst, conc, allow int) {
		fl := catalog.Flow{ID: "f", Provider: "p", URL: "https://x", Status: catalog.FlowEnabled, Policy: catalog.DefaultPolicy()}
		fl.Policy.Rate, fl.Policy.Concurrency = flowRate, flowConc
		q := &catalog.Quota{Rate: rate, Burst: burst, Concurrency: conc, Allow: allow, Interval: "day"}
		c := catalog.Client{ID: "c", Roles: []string{catalog.RolePartner}, SecretHashes: []string{"h"}, Quota: q}
		if fl.Validate() != nil || c.Validate() != nil {
			return
		}
		for key, spec := range budgetsFor(c, fl) {
			if spec.Limit <= 0 || spec.Limit > quota.MaxLimit || (spec.Kind == quota.Rate && !(spec.Rate > 0 && spec.Rate <= quota.MaxRate)) {
				t.Fatalf("%s = %+v from flow rate %g conc %d, quota %+v", key, spec, flowRate, flowConc, *q)
			}
		}
	})
}
