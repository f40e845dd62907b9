package dispatcher

// Fair ordering of pulls: slots, virtual finish tags, grants (tickets).

import (
	"context"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cpibroker/cpibroker/dispatcher/quota"
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
	// bg holds the budget exchanges and deletes running in the
	// background; Dispatcher.Run waits for them.
	bg     sync.WaitGroup
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

func newSched(store *quota.Store, slots int, now func() time.Time, log *slog.Logger) *sched {
	return &sched{
		store: store, now: now, log: log, ctx: context.Background(), slots: slots,
		pools: map[string]*pool{}, waiters: map[*waiter]struct{}{}, tags: map[string]float64{},
		marker: func(string, string, time.Time, bool) {},
	}
}

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
			if !w.counted && !block.busy && (block.spent || block.spec.Limit == 0) {
				// A real wait: the budget is spent (KV granted fewer than
				// asked, or it is zero), not merely being fetched (permits
				// on their way from KV are no wait) or cooling down after
				// a failed exchange.
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

// unmarkLocked clears a waiting marker written for w.
func (s *sched) unmarkLocked(w *waiter) {
	if w.marked {
		w.marked = false
		s.marker(w.pair, "", time.Time{}, false)
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
