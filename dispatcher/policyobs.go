package dispatcher

import (
	"context"
	"time"

	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/dispatcher/state"
)

// BreakerStates returns the state ("closed", "open", "half-open") of every
// flow breaker this dispatcher has used, by flow ID. Safe to call at any
// time (metrics read it).
func (d *Dispatcher) BreakerStates() map[string]string { return d.breakers.states() }

// QuotaWaits counts the times a (client, flow) pair started waiting for a
// budget (quota or concurrency) in this dispatcher since it started.
func (d *Dispatcher) QuotaWaits() int64 { return d.sched.quotaWaits.Load() }

// Waiting returns the (client, flow) pairs, as "client/flow", that wait for
// a budget now, with the reason ("quota" or "concurrency").
func (d *Dispatcher) Waiting() map[string]string { return d.sched.blocked() }

// Holder is this dispatcher's name in quota holds and breaker records.
func (d *Dispatcher) Holder() string { return d.holder }

// breakerConfig is a flow's breaker settings from the catalog.
func (d *Dispatcher) breakerConfig(flow string) (catalog.Breaker, bool) {
	f, ok := d.cat.Flow(flow)
	return f.Policy.Breaker, ok
}

// marker writes and clears the waiting markers that let every ingress say
// why a queued job waits (DESIGN 2.4). Writes are in the background and
// best effort: a marker is a hint, refreshed while the wait lasts.
func (d *Dispatcher) marker(ctx context.Context) func(pair, reason string, until time.Time, on bool) {
	shared := state.NewStore(d.res.Breakers, d.res.Quota)
	return func(pair, reason string, until time.Time, on bool) {
		client, flow, ok := splitPair(pair)
		if !ok {
			return
		}
		d.markers.Go(func() {
			if on {
				_ = shared.PutWait(ctx, client, flow, state.Wait{Reason: reason, Until: until, At: time.Now()})
				return
			}
			_ = shared.ClearWait(ctx, client, flow)
		})
	}
}

func splitPair(pair string) (client, flow string, ok bool) {
	for i := 0; i < len(pair); i++ {
		if pair[i] == '/' {
			return pair[:i], pair[i+1:], i > 0 && i < len(pair)-1
		}
	}
	return "", "", false
}
