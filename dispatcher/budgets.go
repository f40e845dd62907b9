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
// (and the flow rate, which has none) may burst one second's worth.
func budgetsFor(c catalog.Client, f catalog.Flow) budgets {
	bs := budgets{}
	if q := c.Quota; q != nil {
		if q.Rate > 0 {
			burst := q.Burst
			if burst <= 0 {
				burst = int(math.Ceil(q.Rate))
			}
			bs["rate.c."+c.ID] = quota.Spec{Kind: quota.Rate, Rate: q.Rate, Limit: burst}
		}
		if q.Concurrency > 0 {
			bs["conc.c."+c.ID] = quota.Spec{Kind: quota.Concurrency, Limit: q.Concurrency}
		}
		if q.Allow > 0 {
			bs["allow.c."+c.ID] = quota.Spec{Kind: quota.Allow, Limit: q.Allow, Interval: intervalOf(q.Interval)}
		}
	}
	if r := f.Policy.Rate; r > 0 {
		bs["rate.f."+f.ID] = quota.Spec{Kind: quota.Rate, Rate: r, Limit: int(math.Ceil(r))}
	}
	if n := f.Policy.Concurrency; n > 0 {
		bs["conc.f."+f.ID] = quota.Spec{Kind: quota.Concurrency, Limit: n}
	}
	return bs
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
