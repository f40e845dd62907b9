package dispatcher

import (
	"math"
	"time"

	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/dispatcher/quota"
)

// budgetsFor lists the global budgets a job of client c for flow f spends:
// the client's quota (rate + burst, concurrency, allow per interval) and the
// flow's policy rate and concurrency across clients. A rate without a burst
// (and the flow rate, which has none) may burst one second's worth. The
// catalog refuses values past its documented maxima; the clamps here keep
// the specs sane even for records written before those checks.
func budgetsFor(c catalog.Client, f catalog.Flow) budgets {
	bs := budgets{}
	if q := c.Quota; q != nil {
		if q.Rate > 0 {
			burst := q.Burst
			if burst <= 0 {
				burst = ceilLimit(q.Rate)
			}
			bs["rate.c."+c.ID] = quota.Spec{Kind: quota.Rate, Rate: min(q.Rate, quota.MaxRate), Limit: min(burst, quota.MaxLimit)}
		}
		if q.Concurrency > 0 {
			bs["conc.c."+c.ID] = quota.Spec{Kind: quota.Concurrency, Limit: min(q.Concurrency, quota.MaxLimit)}
		}
		if q.Allow > 0 {
			bs["allow.c."+c.ID] = quota.Spec{Kind: quota.Allow, Limit: min(q.Allow, quota.MaxLimit), Interval: intervalOf(q.Interval)}
		}
	}
	if r := f.Policy.Rate; r > 0 {
		bs["rate.f."+f.ID] = quota.Spec{Kind: quota.Rate, Rate: min(r, quota.MaxRate), Limit: ceilLimit(r)}
	}
	if n := f.Policy.Concurrency; n > 0 {
		bs["conc.f."+f.ID] = quota.Spec{Kind: quota.Concurrency, Limit: min(n, quota.MaxLimit)}
	}
	return bs
}

// ceilLimit is one second's worth of rate r as a burst, at most
// quota.MaxLimit. (A plain int conversion of a rate past the int range
// overflows to a negative limit, which no budget can ever grant from.)
func ceilLimit(r float64) int {
	if !(r < quota.MaxLimit) { // also NaN and +Inf
		return quota.MaxLimit
	}
	return int(math.Ceil(r))
}

func intervalOf(s string) time.Duration {
	switch s {
	case "minute":
		return time.Minute
	case "hour":
		return time.Hour
	}
	return 24 * time.Hour
}
