package dispatcher

import (
	"context"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cpibroker/cpibroker/dispatcher/quota"
	"github.com/cpibroker/cpibroker/internal/dispatchstate"
)

// sched admits pulls. A puller asks for up to n jobs of its (client, flow)
// pair and is granted k <= n once it holds, for each of them, one of this
// process's dispatch slots and one permit of every budget that applies (the
// client's rate, concurrency and allowance, the flow's rate and
// concurrency). Budgets are leased from KV in batches (package quota).
//
// Waiting pullers are served in weighted fair order (start-time fair
// queueing): each pair carries a virtual finish tag that grows by
// granted/weight, a pair that was idle starts at the current virtual time,
// and the waiter with the smallest tag that can be served now goes first. A
// client with a large backlog therefore delays another client's jobs by at
// most its fair share, and a pair blocked on its own budget never blocks
// anyone else.
type sched struct {
	store  *quota.Store
	now    func() time.Time
	log    *slog.Logger
	ctx    context.Context // ends when the dispatcher stops
	marker func(pair string, reason string, until time.Time, on bool)
	// changed, when set, returns a channel closed at the next change of
	// the specs budgets are made of (the catalog's Changed): every waiter
	// then re-reads its budgets, so a changed limit applies at once.
	changed func() <-chan struct{}

	mu      sync.Mutex
	slots   int
	pools   map[string]*pool
	waiters map[*waiter]struct{}
	tags    map[string]float64
	vnow    float64
	seq     uint64

	quotaWaits atomic.Int64
}

// pool is this process's share of one global budget.
type pool struct {
	key  string // budget name, e.g. "rate.c.acme"
	spec quota.Spec

	avail  int       // permits in hand, unused
	inUse  int       // Concurrency: permits of jobs running
	held   int       // what KV last recorded as held by us (Rate, Concurrency)
	window time.Time // Allow: the window avail belongs to
	until  time.Time // the hold is void after this (budget clock)

	busy      bool      // an exchange with KV is under way
	notBefore time.Time // budget clock: no point asking before this
	cool      time.Time // wall clock: pause between empty answers
	lastUsed  time.Time // wall clock
	lastSync  time.Time // wall clock
}

// waiter is a puller waiting for a grant.
type waiter struct {
	pair   string
	weight int
	want   int
	retry  bool
	pools  []*pool
	// budgets returns the specs that apply to the pair now; nil keeps the
	// pools the waiter has.
	budgets func() budgets
	seq     uint64
	tag     float64

	granted int
	done    chan struct{}

	blockedOn    *pool
	blockedSince time.Time // wall clock
	// counted is set once the wait is a real one (see dispatchLocked).
	counted   bool
	marked    bool
	waitedOn  string        // set at the grant when it had been blocked
	waitedFor time.Duration // how long it was
}

// ticket is what a grant holds: one slot and one permit of every pool per
// job. done returns one job's share, giveBack unused ones.
type ticket struct {
	pools []*pool
	// waited says the pair waited for a budget before this grant: which
	// ("quota" or "concurrency") and how long (wall clock).
	waited    string
	waitedFor time.Duration
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

func newSched(store *quota.Store, slots int, now func() time.Time, log *slog.Logger) *sched {
	return &sched{
		store: store, now: now, log: log, ctx: context.Background(), slots: slots,
		pools: map[string]*pool{}, waiters: map[*waiter]struct{}{}, tags: map[string]float64{},
		marker: func(string, string, time.Time, bool) {},
	}
}

// budgets are the specs that apply to a pair, by pool key.
type budgets map[string]quota.Spec

// acquire blocks until at least one job of pair may be pulled and returns
// how many (at most want) with their ticket. It returns 0 when ctx ends.
// bs are the budgets that apply to the pair now; refresh returns them
// again whenever the specs change while the pair waits (see
// sched.changed). refresh may be nil and must not call into the sched.
func (s *sched) acquire(ctx context.Context, pair string, weight, want int, retry bool, bs budgets, refresh func() budgets) (int, *ticket) {
	s.mu.Lock()
	w := &waiter{pair: pair, weight: max(weight, 1), want: want, retry: retry, budgets: refresh, done: make(chan struct{})}
	w.pools = s.poolsLocked(bs)
	s.seq++
	w.seq = s.seq
	w.tag = max(s.tags[pair], s.vnow)
	if retry {
		w.tag = s.vnow // retries go ahead of every backlog
	}
	s.waiters[w] = struct{}{}
	s.dispatchLocked()
	s.mu.Unlock()
	select {
	case <-w.done:
	case <-ctx.Done():
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if w.granted == 0 {
		delete(s.waiters, w)
		s.unmarkLocked(w)
		return 0, nil
	}
	t := &ticket{pools: w.pools}
	if w.waitedOn != "" {
		t.waited, t.waitedFor = w.waitedOn, w.waitedFor
	}
	return w.granted, t
}

// poolsLocked returns the pools of bs in key order.
func (s *sched) poolsLocked(bs budgets) []*pool {
	ps := make([]*pool, 0, len(bs))
	for key, spec := range bs {
		ps = append(ps, s.poolLocked(key, spec))
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].key < ps[j].key })
	return ps
}

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
		p.spec, p.notBefore, p.cool = spec, time.Time{}, time.Time{}
	}
	return p
}

// rebudget gives every waiter the pools of its budgets as they are now and
// grants what can be granted under them.
func (s *sched) rebudget() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for w := range s.waiters {
		if w.budgets == nil {
			continue
		}
		if bs := w.budgets(); bs != nil {
			w.pools = s.poolsLocked(bs)
		}
	}
	s.dispatchLocked()
}

// dispatchLocked grants what can be granted, in tag order.
func (s *sched) dispatchLocked() {
	if len(s.waiters) == 0 {
		return
	}
	ws := make([]*waiter, 0, len(s.waiters))
	for w := range s.waiters {
		ws = append(ws, w)
	}
	sort.Slice(ws, func(i, j int) bool {
		if ws[i].tag != ws[j].tag {
			return ws[i].tag < ws[j].tag
		}
		return ws[i].seq < ws[j].seq
	})
	now := s.now()
	for _, w := range ws {
		if s.slots == 0 {
			return
		}
		n := min(w.want, s.slots)
		var block *pool
		// Budgets are taken in key order and a later one is not asked for
		// while an earlier one is spent: no dispatcher holds permits of one
		// budget while waiting for one that another dispatcher holds while
		// waiting for the first.
		for _, p := range w.pools {
			s.freshenLocked(p, now)
			if p.avail < w.want {
				s.refillLocked(p, w.want, now)
			}
			if p.avail == 0 {
				n, block = 0, p
				break
			}
			n = min(n, p.avail)
		}
		if n == 0 {
			if w.blockedOn == nil {
				w.blockedSince = time.Now()
			}
			w.blockedOn = block
			if !w.counted && !block.busy {
				// A real wait: the budget is spent, not merely being
				// fetched (permits on their way from KV are no wait).
				s.quotaWaits.Add(1)
				w.counted = true
			}
			continue
		}
		s.slots -= n
		wall := time.Now()
		for _, p := range w.pools {
			p.avail -= n
			if p.spec.Kind == quota.Concurrency {
				p.inUse += n
			}
			p.lastUsed = wall
		}
		s.vnow = w.tag
		s.tags[w.pair] = w.tag + float64(n)/float64(w.weight)
		w.granted = n
		if w.counted {
			w.waitedOn, w.waitedFor = w.blockedOn.spec.Kind.String(), wall.Sub(w.blockedSince)
		}
		delete(s.waiters, w)
		s.unmarkLocked(w)
		close(w.done)
	}
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
				go func() { _ = s.store.Delete(s.ctx, stale) }()
			}
		}
		return
	}
	if !p.until.IsZero() && !now.Before(p.until) {
		p.avail, p.held, p.until = 0, p.inUse, time.Time{}
	}
}

func allowKey(key string, window time.Time) string {
	return key + "." + dispatchstate.WindowName(window)
}

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
	go func() {
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
		if g.Got < want && p.spec == spec { // a newer spec is not bound by this answer
			p.notBefore = g.Next
			p.cool = time.Now().Add(emptyCool)
		}
		s.dispatchLocked()
	}()
}

// giveBack returns n unused jobs' shares of a grant.
func (s *sched) giveBack(t *ticket, n int) {
	if n <= 0 || t == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.slots += n
	for _, p := range t.pools {
		p.avail += n
		if p.spec.Kind == quota.Concurrency {
			p.inUse -= n
		}
	}
	s.dispatchLocked()
}

// done returns one finished job's slot and concurrency permits.
func (s *sched) done(t *ticket) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.slots++
	if t != nil {
		wall := time.Now()
		for _, p := range t.pools {
			if p.spec.Kind == quota.Concurrency {
				p.inUse--
				p.avail++
				p.lastUsed = wall
			}
		}
	}
	s.dispatchLocked()
}

// run keeps holds renewed, gives idle permits back, reports used tokens,
// retries budgets that were empty and marks pairs that wait, until ctx
// ends; then it gives every unused permit back.
func (s *sched) run(ctx context.Context) {
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
	needed := map[*pool]bool{}
	for w := range s.waiters {
		for _, p := range w.pools {
			needed[p] = true
			if p == w.blockedOn {
				break // permits of later budgets are of no use to it now
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
		case p.avail == 0 && p.inUse == 0 && p.held == 0 && !needed[p] && wall.Sub(p.lastUsed) > time.Minute:
			delete(s.pools, key)
		}
	}
	s.dispatchLocked()
}

// unmarkLocked clears a waiting marker written for w.
func (s *sched) unmarkLocked(w *waiter) {
	if w.marked {
		w.marked = false
		s.marker(w.pair, "", time.Time{}, false)
	}
}

// release gives every permit in hand back to KV (at shutdown, after the
// in-flight jobs finished).
func (s *sched) release(ctx context.Context) {
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

// blocked reports the pairs waiting on a budget and why (for tests and
// observability).
func (s *sched) blocked() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	for w := range s.waiters {
		if w.blockedOn != nil {
			out[w.pair] = w.blockedOn.spec.Kind.String()
		}
	}
	return out
}
