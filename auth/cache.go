package auth

import (
	"crypto/ed25519"
	"crypto/sha256"
	"sync"
	"time"
)

// cacheShards is the number of independently locked cache shards (a power
// of two).
const cacheShards = 64

// cacheKey is the SHA-256 of a token. Only the hash is kept, never the token.
type cacheKey = [sha256.Size]byte

// cacheEntry is a verification result.
type cacheEntry struct {
	principal Principal
	// until is exp plus leeway: the entry answers only before it.
	until time.Time
	// kid and key are the verifying key; an entry answers only while the
	// resolver still returns the same key for kid.
	kid string
	key ed25519.PublicKey
}

// tokenCache is a bounded, sharded map of verification results. Each shard
// keeps two generations: inserts go to cur; when cur is full it becomes prev
// and the old prev is dropped; a hit in prev is moved to cur. Eviction is
// thus O(1) and approximately least-recently-used, and a shard never holds
// more than 2×perGen entries.
type tokenCache struct {
	perGen int
	shards [cacheShards]cacheShard
}

type cacheShard struct {
	mu        sync.RWMutex
	cur, prev map[cacheKey]cacheEntry
}

// newTokenCache returns a cache for about size entries (rounded down to a
// multiple of 2×cacheShards, at least 2×cacheShards).
func newTokenCache(size int) *tokenCache {
	c := &tokenCache{perGen: max(1, size/(2*cacheShards))}
	for i := range c.shards {
		c.shards[i].cur = make(map[cacheKey]cacheEntry)
	}
	return c
}

func (c *tokenCache) shard(k *cacheKey) *cacheShard {
	return &c.shards[k[0]&(cacheShards-1)]
}

// get returns the entry for k if it is still valid at now. A hit in cur
// (the common case: one token used for many requests) takes the read lock
// only.
func (c *tokenCache) get(k *cacheKey, now time.Time) (cacheEntry, bool) {
	s := c.shard(k)
	s.mu.RLock()
	e, ok := s.cur[*k]
	s.mu.RUnlock()
	if ok && now.Before(e.until) {
		return e, true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !ok {
		if e, ok = s.prev[*k]; !ok {
			return cacheEntry{}, false
		}
		delete(s.prev, *k)
		c.insertLocked(s, k, e)
	}
	if !now.Before(e.until) {
		delete(s.cur, *k)
		return cacheEntry{}, false
	}
	return e, true
}

// put stores e under k.
func (c *tokenCache) put(k *cacheKey, e cacheEntry) {
	s := c.shard(k)
	s.mu.Lock()
	c.insertLocked(s, k, e)
	s.mu.Unlock()
}

func (c *tokenCache) insertLocked(s *cacheShard, k *cacheKey, e cacheEntry) {
	if _, ok := s.cur[*k]; !ok && len(s.cur) >= c.perGen {
		s.prev = s.cur
		s.cur = make(map[cacheKey]cacheEntry, c.perGen)
	}
	s.cur[*k] = e
}

// len returns the number of entries, expired ones included.
func (c *tokenCache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.cur) + len(s.prev)
		s.mu.RUnlock()
	}
	return n
}
