package dispatcher

import (
	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/dispatcher/quota"
)

// budgetsFor lists the global budgets a job of client c for flow f spends:
// the client's quota (rate + burst, concurrency, allow per interval, as
// catalog.Quota defines them) and the flow's policy rate and concurrency
// across clients (the flow rate may burst one second's worth). The catalog
// refuses values past its documented maxima; the clamps here keep the
// specs sane even for records written before those checks.
func budgetsFor(c catalog.Client, f catalog.Flow) budgets {
	bs := budgets{}
	if q := c.Quota; q != nil {
		if q.Rate > 0 {
			bs[quota.RateClientPrefix+c.ID] = quota.Spec{Kind: quota.Rate, Rate: min(q.Rate, quota.MaxRate), Limit: min(q.BurstLimit(), quota.MaxLimit)}
		}
		if q.Concurrency > 0 {
			bs[quota.ConcClientPrefix+c.ID] = quota.Spec{Kind: quota.Concurrency, Limit: min(q.Concurrency, quota.MaxLimit)}
		}
		if q.Allow > 0 {
			bs[quota.AllowClientPrefix+c.ID] = quota.Spec{Kind: quota.Allow, Limit: min(q.Allow, quota.MaxLimit), Interval: q.Interval.Duration()}
		}
	}
	if r := f.Policy.Rate; r > 0 {
		bs[quota.RateFlowPrefix+f.ID] = quota.Spec{Kind: quota.Rate, Rate: min(r, quota.MaxRate), Limit: min(catalog.RateBurst(r), quota.MaxLimit)}
	}
	if n := f.Policy.Concurrency; n > 0 {
		bs[quota.ConcFlowPrefix+f.ID] = quota.Spec{Kind: quota.Concurrency, Limit: min(n, quota.MaxLimit)}
	}
	return bs
}
