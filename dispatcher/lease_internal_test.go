package dispatcher

import (
	"log/slog"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/dispatcher/quota"
)

// TestHousekeep_keeps_pools_past_the_blocking_budget: a waiter blocked on
// its first budget (in key order) while that budget's lease is on its way
// keeps its later, not yet used pools. Forgetting one made the next pull
// create a second pool for the same key, whose exchange overwrote this
// dispatcher's hold in KV, got a short answer and counted a quota wait for
// a budget that never bound. An idle pool no waiter holds is still
// forgotten.
func TestHousekeep_keeps_pools_past_the_blocking_budget(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := newSched(nil, 4, func() time.Time { return t0 }, slog.New(slog.DiscardHandler))
	s.mu.Lock()
	conc := s.poolLocked("conc.f.x", quota.Spec{Kind: quota.Concurrency, Limit: 4})
	rate := s.poolLocked("rate.f.x", quota.Spec{Kind: quota.Rate, Rate: 50, Limit: 50})
	idle := s.poolLocked("rate.f.idle", quota.Spec{Kind: quota.Rate, Rate: 50, Limit: 50})
	conc.busy = true // its first lease is on its way from KV
	w := &waiter{pair: "c/x", weight: 1, want: 1, pools: []*pool{conc, rate}, blockedOn: conc, done: make(chan struct{})}
	s.waiters[w] = struct{}{}
	s.mu.Unlock()

	s.housekeep()

	s.mu.Lock()
	defer s.mu.Unlock()
	if got := s.pools[rate.key]; got != rate {
		t.Fatalf("pool %s of a waiting pair forgotten (now %p, waiter holds %p)", rate.key, got, rate)
	}
	if got := s.pools[conc.key]; got != conc {
		t.Fatalf("pool %s forgotten", conc.key)
	}
	if _, ok := s.pools[idle.key]; ok {
		t.Fatalf("idle pool %s no waiter holds was kept", idle.key)
	}
	if got := s.quotaWaits.Load(); got != 0 {
		t.Fatalf("quotaWaits %d while the first lease is on its way", got)
	}
}

// TestQuotaWaits_only_spent_budgets: a pool without permits whose fetch
// cools down after a failed exchange is not a spent budget and counts no
// quota wait; one whose last answer was short (and a zero budget) does.
func TestQuotaWaits_only_spent_budgets(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	spec := quota.Spec{Kind: quota.Rate, Rate: 50, Limit: 50}
	for _, c := range []struct {
		name string
		set  func(p *pool)
		want int64
	}{
		{"exchange failed, cooling down", func(p *pool) { p.cool = time.Now().Add(time.Hour) }, 0},
		{"short answer", func(p *pool) { p.spent, p.notBefore, p.cool = true, t0.Add(time.Hour), time.Now().Add(time.Hour) }, 1},
		{"zero budget", func(p *pool) { p.spec.Limit = 0 }, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newSched(nil, 4, func() time.Time { return t0 }, slog.New(slog.DiscardHandler))
			s.mu.Lock()
			defer s.mu.Unlock()
			p := s.poolLocked("rate.f.x", spec)
			c.set(p)
			w := &waiter{pair: "c/x", weight: 1, want: 1, pools: []*pool{p}, done: make(chan struct{})}
			s.waiters[w] = struct{}{}
			s.dispatchLocked()
			if p.busy {
				t.Fatal("an exchange started; the case is not what it says")
			}
			if got := s.quotaWaits.Load(); got != c.want {
				t.Fatalf("quotaWaits %d, want %d", got, c.want)
			}
			if w.blockedOn != p {
				t.Fatalf("waiter not blocked on %s", p.key)
			}
		})
	}
}
