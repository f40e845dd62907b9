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

// handovers tracks, per sequence, the ends of ordered jobs under way in
// this process (from before the terminal record is written until the
// sequence was moved on), so that a submit of the same process that
// appended a job to SEQ and then finds the key's head ended leaves the
// move to the end under way instead of racing it to the same
// compare-and-set: it marks the key appended, and the end looks at SEQ
// again before leaving the key idle, or starts the key itself when it
// finishes without having looked. The zero value is ready.
type handovers struct {
	mu sync.Mutex
	m  map[string]*handover
}

type handover struct {
	ends     int  // ends under way
	appended bool // a job was appended to SEQ meanwhile and left to them
}

// begin registers an end under way of a job of sequence id.
func (h *handovers) begin(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil {
		h.m = map[string]*handover{}
	}
	e := h.m[id]
	if e == nil {
		e = &handover{}
		h.m[id] = e
	}
	e.ends++
}

// leave reports whether an end of sequence id is under way, and if so
// marks the sequence appended: that end then sees the job (see look).
func (h *handovers) leave(id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	e := h.m[id]
	if e == nil {
		return false
	}
	e.appended = true
	return true
}

// appended reports whether a job was left to the ends of sequence id
// since the last call, and clears the mark: the caller looks at SEQ
// again.
func (h *handovers) appended(id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	e := h.m[id]
	if e == nil || !e.appended {
		return false
	}
	e.appended = false
	return true
}

// finish ends an end under way of sequence id; it reports whether a job
// left to the ends is still unseen and no other end is under way: the
// caller then starts the key.
func (h *handovers) finish(id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	e := h.m[id]
	if e == nil {
		return false
	}
	e.ends--
	if e.ends > 0 {
		return false
	}
	delete(h.m, id)
	return e.appended
}
