package auth

import (
	"crypto/sha256"
	"fmt"
	"sync"
	"testing"
	"time"
)

func keyOf(i int) cacheKey { return sha256.Sum256(fmt.Appendf(nil, "token-%d", i)) }

func TestTokenCacheIsBounded(t *testing.T) {
	c := newTokenCache(1000)
	e := cacheEntry{until: tBase.Add(time.Hour)}
	for i := range 100_000 {
		k := keyOf(i)
		c.put(&k, e)
	}
	if n := c.len(); n > 1000 {
		t.Errorf("cache holds %d entries, want at most 1000", n)
	}
	// The most recent entries are still there.
	k := keyOf(99_999)
	if _, ok := c.get(&k, tBase); !ok {
		t.Error("newest entry evicted")
	}
}

func TestTokenCacheKeepsHotEntries(t *testing.T) {
	c := newTokenCache(2 * cacheShards) // one entry per generation and shard
	e := cacheEntry{until: tBase.Add(time.Hour)}
	hot := keyOf(-1)
	c.put(&hot, e)
	for i := range 10_000 {
		k := keyOf(i)
		c.put(&k, e)
		if _, ok := c.get(&hot, tBase); !ok {
			t.Fatalf("hot entry evicted after %d inserts", i)
		}
	}
}

func TestTokenCacheExpiry(t *testing.T) {
	c := newTokenCache(100)
	k := keyOf(1)
	c.put(&k, cacheEntry{until: tBase.Add(time.Minute)})
	if _, ok := c.get(&k, tBase.Add(time.Minute-time.Nanosecond)); !ok {
		t.Error("entry missing before its end")
	}
	if _, ok := c.get(&k, tBase.Add(time.Minute)); ok {
		t.Error("entry returned at its end")
	}
	if c.len() != 0 {
		t.Error("expired entry not dropped on access")
	}
}

func TestTokenCacheConcurrent(t *testing.T) {
	c := newTokenCache(256)
	e := cacheEntry{until: tBase.Add(time.Hour)}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				k := keyOf(g*10_000 + i%300)
				if _, ok := c.get(&k, tBase); !ok {
					c.put(&k, e)
				}
			}
		})
	}
	wg.Wait()
	if n := c.len(); n > 256 {
		t.Errorf("cache holds %d entries, want at most 256", n)
	}
}
