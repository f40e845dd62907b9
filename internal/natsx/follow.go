package natsx

import (
	"context"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Follow bounds the wait between two watch attempts of a KV follower.
const (
	followBackoffMin = 100 * time.Millisecond
	followBackoffMax = 5 * time.Second
)

// Watcher says what to follow of a key-value bucket and what to do with it.
type Watcher struct {
	// Keys is the key filter ("" or ">" watches the whole bucket).
	Keys string
	// Apply is called for every entry, in order, from one goroutine:
	// the current values first, then each change. Deletes and purges come
	// as entries whose Operation is not KeyValuePut.
	Apply func(jetstream.KeyValueEntry)
	// Loaded, when set, is called each time a watch has delivered the
	// bucket's current values (it may be called again after a reconnect).
	Loaded func()
	// Logger reports failed watches; nil logs nothing.
	Logger *slog.Logger
}

// Follow watches a bucket until ctx ends. A watch that fails or closes
// (a server restart, a lost connection) is made again after a backoff of
// 100 ms doubling to 5 s, and starts with the bucket's current values, so
// a follower never misses the latest value of a key.
func Follow(ctx context.Context, kv jetstream.KeyValue, w Watcher) {
	keys := w.Keys
	if keys == "" {
		keys = ">"
	}
	for backoff := followBackoffMin; ctx.Err() == nil; {
		kw, err := kv.Watch(ctx, keys)
		if err != nil {
			if w.Logger != nil && ctx.Err() == nil {
				w.Logger.Warn("kv watch failed", "bucket", kv.Bucket(), "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, followBackoffMax)
			continue
		}
		backoff = followBackoffMin
		for e := range kw.Updates() {
			switch {
			case e != nil:
				w.Apply(e)
			case w.Loaded != nil:
				w.Loaded()
			}
		}
		_ = kw.Stop()
	}
}
