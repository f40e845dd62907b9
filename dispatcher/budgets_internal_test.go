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
