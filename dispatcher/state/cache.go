package state

import (
	"context"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/cpibroker/cpibroker/dispatcher/quota"
	"github.com/cpibroker/cpibroker/internal/natsx"
	"github.com/nats-io/nats.go/jetstream"
)

// Cache follows the breaker records and waiting markers in memory.
type Cache struct {
	breakersKV, quotaKV jetstream.KeyValue
	log                 *slog.Logger

	mu       sync.RWMutex
	breakers map[string]Breaker
	waits    map[string]Wait
	allows   map[string]allowUse // by client
}

// allowUse is a client's use of its calendar allowance in one window.
type allowUse struct {
	window string
	used   int
}

// NewCache returns a Cache over cpib-breakers and cpib-quota; Run fills it.
func NewCache(breakersKV, quotaKV jetstream.KeyValue, log *slog.Logger) *Cache {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Cache{breakersKV: breakersKV, quotaKV: quotaKV, log: log,
		breakers: map[string]Breaker{}, waits: map[string]Wait{}, allows: map[string]allowUse{}}
}

// Run follows both buckets until ctx ends, re-creating a watch that closes.
func (c *Cache) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		natsx.Follow(ctx, c.breakersKV, natsx.Watcher{Apply: c.applyBreaker, Logger: c.log})
	}()
	go func() {
		defer wg.Done()
		natsx.Follow(ctx, c.quotaKV, natsx.Watcher{Keys: WaitPrefix + ">", Apply: c.applyWait, Logger: c.log})
	}()
	go func() {
		defer wg.Done()
		natsx.Follow(ctx, c.quotaKV, natsx.Watcher{Keys: quota.AllowClientPrefix + ">", Apply: c.applyAllow, Logger: c.log})
	}()
	wg.Wait()
	return nil
}

func (c *Cache) applyBreaker(e jetstream.KeyValueEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e.Operation() != jetstream.KeyValuePut {
		delete(c.breakers, e.Key())
		return
	}
	if b, ok := DecodeBreaker(e.Value()); ok {
		c.breakers[e.Key()] = b
	}
}

func (c *Cache) applyWait(e jetstream.KeyValueEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e.Operation() != jetstream.KeyValuePut {
		delete(c.waits, e.Key())
		return
	}
	if w, ok := DecodeWait(e.Value()); ok {
		c.waits[e.Key()] = w
	}
}

func (c *Cache) applyAllow(e jetstream.KeyValueEntry) {
	if e.Operation() != jetstream.KeyValuePut {
		return
	}
	a, ok := quota.DecodeAllowance(e.Key(), e.Value())
	if !ok {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur, ok := c.allows[a.Client]; !ok || a.Window >= cur.window {
		c.allows[a.Client] = allowUse{window: a.Window, used: a.Used}
	}
}

// AllowUsed returns how much of its allowance a client used in the window
// starting at window (zero when nothing is known).
func (c *Cache) AllowUsed(client string, window time.Time) int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if u, ok := c.allows[client]; ok && u.window == quota.WindowName(window) {
		return u.used
	}
	return 0
}

// Breaker returns a flow's breaker record.
func (c *Cache) Breaker(flow string) (Breaker, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	b, ok := c.breakers[flow]
	return b, ok
}

// Breakers returns every breaker record, by flow.
func (c *Cache) Breakers() []Breaker {
	c.mu.RLock()
	out := make([]Breaker, 0, len(c.breakers))
	for _, b := range c.breakers {
		out = append(out, b)
	}
	c.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Flow < out[j].Flow })
	return out
}

// Wait returns the fresh waiting marker of a pair.
func (c *Cache) Wait(client, flow string, now time.Time) (Wait, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	w, ok := c.waits[WaitKey(client, flow)]
	if !ok || now.Sub(w.At) > MarkerTTL {
		return Wait{}, false
	}
	return w, true
}
