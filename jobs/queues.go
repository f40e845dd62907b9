package jobs

import (
	"context"
	"sync"
	"time"

	"github.com/cpibroker/cpibroker/internal/natsx"
)

// queueCache makes sure the durable consumer of a (client, flow) queue
// exists before its first job is published, asking JetStream at most once
// per TTL per pair.
type queueCache struct {
	res *natsx.Resources
	ttl time.Duration
	now func() time.Time
	mu  sync.Mutex
	at  map[string]time.Time
}

func newQueueCache(res *natsx.Resources, ttl time.Duration, now func() time.Time) *queueCache {
	return &queueCache{res: res, ttl: ttl, now: now, at: map[string]time.Time{}}
}

func (q *queueCache) ensure(ctx context.Context, client, flow string) error {
	key := client + "." + flow
	now := q.now()
	q.mu.Lock()
	t, ok := q.at[key]
	q.mu.Unlock()
	if ok && now.Sub(t) < q.ttl {
		return nil
	}
	if _, err := natsx.EnsureConsumer(ctx, q.res.JS, natsx.KindQueue, client, flow, q.res.Layout.AckWait); err != nil {
		return err
	}
	q.mu.Lock()
	q.at[key] = now
	q.mu.Unlock()
	return nil
}
