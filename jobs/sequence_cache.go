package jobs

import (
	"sync"

	cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"
)

// maxCachedCursors bounds the cursor cache; past it the cache starts over.
const maxCachedCursors = 100_000

// cursorCache remembers the last cursor this process read or wrote per
// sequence, with its revision, so a submit to an idle key can claim it
// without reading it first. A stale entry costs a compare-and-set
// conflict and a read; it is never trusted without one. The zero value is
// ready.
type cursorCache struct {
	mu sync.Mutex
	m  map[string]cachedCursor
}

type cachedCursor struct {
	c   *cpibv1.SequenceCursor // nil: the key has no cursor
	rev uint64
}

func (cc *cursorCache) get(id string) (cachedCursor, bool) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	e, ok := cc.m[id]
	return e, ok
}

func (cc *cursorCache) put(id string, c *cpibv1.SequenceCursor, rev uint64) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.m == nil || len(cc.m) >= maxCachedCursors {
		cc.m = map[string]cachedCursor{}
	}
	if old, ok := cc.m[id]; ok && old.rev > rev {
		return // a newer revision is known
	}
	cc.m[id] = cachedCursor{c: c, rev: rev}
}

func (cc *cursorCache) forget(id string) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	delete(cc.m, id)
}
