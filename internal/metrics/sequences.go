package metrics

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/otel/metric"
)

// ObserveSequences registers cpibroker.sequences.blocked on mp: the ordered
// sequences (Ordering-Key) whose head failed under on_failure block and
// wait for an operator. count reads them; a reading is kept for ttl
// (default 5s) whatever the number of scrapes, and a failed reading keeps
// the previous value.
func ObserveSequences(mp metric.MeterProvider, count func(context.Context) (int, error), ttl time.Duration) error {
	if ttl < 5*time.Second {
		ttl = 5 * time.Second
	}
	m := mp.Meter(scope)
	g, err := m.Int64ObservableGauge("cpibroker.sequences.blocked", metric.WithUnit("{sequence}"),
		metric.WithDescription("Ordered sequences (client, flow, Ordering-Key) blocked by a failed job under on_failure block; resolve with POST /admin/v1/sequences/{id}/skip or /replay. Cluster-wide."))
	if err != nil {
		return err
	}
	var (
		mu   sync.Mutex
		at   time.Time
		last int
	)
	_, err = m.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		mu.Lock()
		defer mu.Unlock()
		if time.Since(at) >= ttl {
			if n, err := count(ctx); err == nil {
				last, at = n, time.Now()
			}
		}
		o.ObserveInt64(g, int64(last))
		return nil
	}, g)
	return err
}
