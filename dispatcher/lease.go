package dispatcher

// Budget leasing: pools of permits leased from cpib-quota in batches,
// renewed, reported and given back in the background.

import (
	"context"
	"time"

	"github.com/cpibroker/cpibroker/dispatcher/quota"
)

// pool is this process's share of one global budget.
type pool struct {
	key  string // budget name, e.g. "rate.c.acme"
	spec quota.Spec

	avail  int       // permits in hand, unused
	inUse  int       // Concurrency: permits of jobs running
	held   int       // what KV last recorded as held by us (Rate, Concurrency)
	window time.Time // Allow: the window avail belongs to
	until  time.Time // the hold is void after this (budget clock)

	busy bool // an exchange with KV is under way
	// spent says the last ask for permits got fewer than it asked: the
	// budget is spent until notBefore. A pool without permits that is not
	// spent (its lease expired, its fetch failed and cools down) is no
	// quota wait.
	spent     bool
	notBefore time.Time // budget clock: no point asking before this
	cool      time.Time // wall clock: pause between empty answers
	lastUsed  time.Time // wall clock
	lastSync  time.Time // wall clock
}

// Housekeeping cadence (wall clock): how long unused permits stay in hand,
// how often used tokens are reported, and the pause after an empty answer.
const (
	idleHold     = 200 * time.Millisecond
	reportEvery  = 200 * time.Millisecond
	emptyCool    = 50 * time.Millisecond
	errorCool    = 250 * time.Millisecond
	markAfter    = 500 * time.Millisecond
	markRefresh  = 10 * time.Second
	schedTick    = 50 * time.Millisecond
	defaultLease = 64
)

// budgets are the specs that apply to a pair, by pool key.
type budgets map[string]quota.Spec

// poolLocked returns the pool of key, creating it or updating its spec. A
// changed spec forgets when the old one said to ask again: under the new
// limit there may be permits now.
func (s *sched) poolLocked(key string, spec quota.Spec) *pool {
	p, ok := s.pools[key]
	if !ok {
		p = &pool{key: key, spec: spec}
		s.pools[key] = p
	}
	if p.spec != spec {
		p.spec, p.notBefore, p.cool, p.spent = spec, time.Time{}, time.Time{}, false
	}
	return p
}

// freshenLocked voids permits whose hold or window is over.
func (s *sched) freshenLocked(p *pool, now time.Time) {
	if p.spec.Kind == quota.Allow {
		if win := p.spec.Window(now); !win.Equal(p.window) {
			old := p.window
			p.window, p.avail, p.notBefore = win, 0, time.Time{}
			if !old.IsZero() {
				// Two windows back is over for every dispatcher, however far
				// their clocks are apart.
				stale := allowKey(p.key, old.Add(-p.spec.Interval))
				s.bg.Go(func() { _ = s.store.Delete(s.ctx, stale) })
			}
		}
		return
	}
	if !p.until.IsZero() && !now.Before(p.until) {
		p.avail, p.held, p.until = 0, p.inUse, time.Time{}
	}
}

func allowKey(key string, window time.Time) string { return quota.WindowKey(key, window) }

func (s *sched) kvKey(p *pool) string {
	if p.spec.Kind == quota.Allow {
		return allowKey(p.key, p.window)
	}
	return p.key
}

// leaseSize is how many permits to ask for at once: enough that a budget that
// does not bind costs one KV exchange per many jobs.
func leaseSize(spec quota.Spec, want int) int {
	n := max(want, defaultLease)
	if spec.Kind == quota.Rate {
		n = max(want, int(spec.Rate/10)) // a tenth of a second of tokens
	}
	return max(1, min(n, spec.Limit))
}

// refillLocked asks KV for more permits unless an exchange is under way or
// the last answer said to wait.
func (s *sched) refillLocked(p *pool, want int, now time.Time) {
	if p.busy || now.Before(p.notBefore) || time.Now().Before(p.cool) {
		return
	}
	if p.spec.Limit == 0 {
		return // a zero budget never grants
	}
	s.exchangeLocked(p, leaseSize(p.spec, want), 0, now)
}

// exchangeLocked reports p's hold to KV, returns ret unused permits and
// asks for want more, in the background.
func (s *sched) exchangeLocked(p *pool, want, ret int, now time.Time) {
	p.busy = true
	ret = min(ret, p.avail)
	p.avail -= ret
	req := quota.Request{Want: want, Return: ret}
	switch p.spec.Kind {
	case quota.Rate:
		req.Keep = p.avail
	case quota.Concurrency:
		req.Keep, req.Return = p.avail+p.inUse, 0
	}
	key, spec := s.kvKey(p), p.spec
	s.bg.Go(func() {
		g, err := s.store.Exchange(s.ctx, key, spec, now, req)
		s.mu.Lock()
		defer s.mu.Unlock()
		p.busy = false
		p.lastSync = time.Now()
		if err != nil {
			if s.ctx.Err() == nil {
				s.log.Warn("dispatcher: quota exchange failed", "budget", key, "err", err)
			}
			p.cool = time.Now().Add(errorCool)
			return
		}
		if spec.Kind == quota.Allow && !spec.Window(now).Equal(p.window) {
			return // the window turned meanwhile; these permits are void
		}
		p.avail += g.Got
		p.held = req.Keep + g.Got
		if g.Got > 0 {
			p.lastUsed = time.Now()
		}
		s.log.Debug("dispatcher: quota exchange", "budget", key, "keep", req.Keep, "return", req.Return, "want", req.Want, "got", g.Got, "avail", p.avail, "in_use", p.inUse)
		p.until = g.Until
		if want > 0 && p.spec == spec {
			p.spent = g.Got < want
		}
		if g.Got < want && p.spec == spec { // a newer spec is not bound by this answer
			p.notBefore = g.Next
			p.cool = time.Now().Add(emptyCool)
		}
		s.dispatchLocked()
	})
}

// housekeepLoop keeps holds renewed, gives idle permits back, reports used tokens,
// retries budgets that were empty and marks pairs that wait, until ctx
// ends; then it gives every unused permit back.
func (s *sched) housekeepLoop(ctx context.Context) {
	t := time.NewTicker(schedTick)
	defer t.Stop()
	var changed <-chan struct{}
	if s.changed != nil {
		changed = s.changed()
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.housekeep()
		case <-changed:
			changed = s.changed() // before reading the specs: no change is missed
			s.rebudget()
		}
	}
}

func (s *sched) housekeep() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now, wall := s.now(), time.Now()
	needed := map[*pool]bool{} // pools whose permits a waiter can use now
	// kept are all pools a waiter holds, including those past the budget it
	// is blocked on: such a pool is never forgotten, or the next pull of the
	// key would make a second pool that shares this dispatcher's hold in KV
	// and overwrites it (the first pool's permits would count as used, and
	// the second would find the budget spent when it is not).
	kept := map[*pool]bool{}
	for w := range s.waiters {
		blocked := false
		for _, p := range w.pools {
			kept[p] = true
			if !blocked {
				needed[p] = true
			}
			if p == w.blockedOn {
				blocked = true // permits of later budgets are of no use to it now
			}
		}
		if w.blockedOn != nil && wall.Sub(w.blockedSince) >= markAfter && !w.marked {
			w.marked = true
			s.marker(w.pair, w.blockedOn.spec.Kind.String(), w.blockedOn.notBefore, true)
		}
	}
	for key, p := range s.pools {
		s.freshenLocked(p, now)
		if p.busy {
			continue
		}
		switch {
		case p.avail > 0 && !needed[p] && wall.Sub(p.lastUsed) >= idleHold:
			s.exchangeLocked(p, 0, p.avail, now) // give idle permits back
		case p.spec.Kind != quota.Allow && p.held > 0 && !p.until.IsZero() && p.until.Sub(now) < s.store.TTL()*2/3:
			s.exchangeLocked(p, 0, 0, now) // renew the hold
		case p.spec.Kind == quota.Rate && p.held > p.avail && wall.Sub(p.lastSync) >= reportEvery:
			s.exchangeLocked(p, 0, 0, now) // report used tokens, so the bucket refills
		case p.spec.Kind == quota.Concurrency && p.held != p.avail+p.inUse && wall.Sub(p.lastSync) >= reportEvery:
			s.exchangeLocked(p, 0, 0, now)
		case p.avail == 0 && p.inUse == 0 && p.held == 0 && !kept[p] && wall.Sub(p.lastUsed) > time.Minute:
			delete(s.pools, key)
		}
	}
	s.dispatchLocked()
}

// returnHolds gives every permit in hand back to KV (at shutdown, after the
// in-flight jobs finished).
func (s *sched) returnHolds(ctx context.Context) {
	s.mu.Lock()
	type job struct {
		key  string
		spec quota.Spec
		req  quota.Request
	}
	var jobs []job
	now := s.now()
	for _, p := range s.pools {
		if p.avail == 0 && p.held == 0 {
			continue
		}
		r := quota.Request{Return: p.avail}
		if p.spec.Kind == quota.Concurrency {
			r = quota.Request{Keep: p.inUse}
		}
		jobs = append(jobs, job{s.kvKey(p), p.spec, r})
		p.avail, p.held = 0, 0
	}
	s.mu.Unlock()
	for _, j := range jobs {
		if _, err := s.store.Exchange(ctx, j.key, j.spec, now, j.req); err != nil {
			s.log.Warn("dispatcher: quota not given back; it returns when the hold expires", "budget", j.key, "err", err)
		}
	}
}
