package metrics

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/cpibroker/cpibroker/internal/natsx"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// LaneSampler counts the webhook and Callback-URL delivery lanes per
// client: the consumers d_<client>_<lane> of the DELIVERIES stream, whose
// consumer cap all clients share. One listing of consumer names per TTL,
// whatever the number of scrapes.
type LaneSampler struct {
	js  jetstream.JetStream
	ttl time.Duration
	now func() time.Time

	mu   sync.Mutex
	at   time.Time
	last map[string]int
}

// NewLaneSampler lists js's DELIVERIES consumers at most once per ttl
// (default 10s).
func NewLaneSampler(js jetstream.JetStream, ttl time.Duration) *LaneSampler {
	if ttl <= 0 {
		ttl = 10 * time.Second
	}
	return &LaneSampler{js: js, ttl: ttl, now: time.Now, last: map[string]int{}}
}

// Sample returns the lanes per client, listing again when the cache is
// older than the TTL; a failed listing keeps the previous counts.
func (s *LaneSampler) Sample(ctx context.Context) map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.at.IsZero() && s.now().Sub(s.at) < s.ttl {
		return s.last
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	st, err := s.js.Stream(ctx, natsx.StreamDeliveries)
	if err != nil {
		return s.last
	}
	out := map[string]int{}
	names := st.ConsumerNames(ctx)
	for name := range names.Name() {
		if parts := strings.Split(name, "_"); len(parts) == 3 && parts[0] == "d" {
			out[parts[1]]++
		}
	}
	if names.Err() != nil {
		return s.last
	}
	s.at, s.last = s.now(), out
	return out
}

// ObserveLanes registers the gauge cpibroker.callback.lanes (by client) on
// mp, read from s at each collection.
func ObserveLanes(mp metric.MeterProvider, s *LaneSampler) error {
	m := mp.Meter(scope)
	lanes, err := m.Int64ObservableGauge("cpibroker.callback.lanes", metric.WithUnit("{lane}"),
		metric.WithDescription("Webhook and Callback-URL delivery lanes per client: one DELIVERIES consumer each (the stream's consumer cap is shared by all clients); idle lanes are retired. Cached, refreshed at most every 10 s; cluster-wide."))
	if err != nil {
		return err
	}
	_, err = m.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		for client, n := range s.Sample(ctx) {
			o.ObserveInt64(lanes, int64(n), metric.WithAttributes(attribute.String("client", client)))
		}
		return nil
	}, lanes)
	return err
}
