package jobs

import (
	"sync"

	cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"
)

// maxCachedCursors bounds the cursor cache; past it the cache starts over.
const maxCachedCursors = 100_000

// cursorCache remembers the last cursor this process read or wrote per
// sequence, with its revision, so a submit to an idle key can claim it
// without reading it first, and the end of a head can move its sequence
// on without reading the cursor its own claim wrote. A stale entry costs
// a compare-and-set conflict and a read; it is never trusted without one.
// The zero value is ready.
type cursorCache struct {
	mu sync.Mutex
	m  map[string]cachedCursor
}

type cachedCursor struct {
	c   *cpibv1.SequenceCursor // nil: the key has no cursor
	rev uint64
	// ended: this process ended the cursor's (active) head and then found
	// nothing waiting on SEQ, with the cursor at rev: the key is idle
	// although its cursor still names the head (see Store.moveTo).
	ended bool
}

// idle reports whether the entry is a key with nothing queued or running
// as far as this process knows: an idle cursor, or an active one whose
// head this process saw end with nothing waiting.
func (e cachedCursor) idle() bool {
	return e.c != nil && (e.c.GetState() == cpibv1.SequenceState_SEQUENCE_STATE_IDLE ||
		e.ended && e.c.GetState() == cpibv1.SequenceState_SEQUENCE_STATE_ACTIVE)
}

func (cc *cursorCache) get(id string) (cachedCursor, bool) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	e, ok := cc.m[id]
	return e, ok
}

func (cc *cursorCache) put(id string, c *cpibv1.SequenceCursor, rev uint64) {
	cc.set(id, cachedCursor{c: c, rev: rev})
}

// ended remembers that the head of cursor c at rev ended with nothing
// waiting behind it.
func (cc *cursorCache) ended(id string, c *cpibv1.SequenceCursor, rev uint64) {
	cc.set(id, cachedCursor{c: c, rev: rev, ended: true})
}

func (cc *cursorCache) set(id string, e cachedCursor) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.m == nil || len(cc.m) >= maxCachedCursors {
		cc.m = map[string]cachedCursor{}
	}
	old, ok := cc.m[id]
	switch {
	case ok && old.rev > e.rev:
		return // a newer revision is known
	case ok && old.rev == e.rev:
		e.ended = e.ended || old.ended // one revision, one cursor: what was learnt of it stays true
	}
	cc.m[id] = e
}

func (cc *cursorCache) forget(id string) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	delete(cc.m, id)
}
