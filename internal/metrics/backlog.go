package metrics

import (
	"context"
	"sync"
	"time"

	"github.com/cpibroker/cpibroker/internal/natsx"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Backlog is the number of jobs one (client, flow) queue holds.
type Backlog struct {
	Client, Flow string
	// Kind is "queued" (new jobs) or "retry" (jobs whose backoff elapsed).
	Kind string
	// Pending are not yet delivered to a dispatcher; InFlight are
	// delivered and not yet acknowledged.
	Pending, InFlight uint64
}

// BacklogSampler serves the backlog gauges from one paged consumer listing
// of the JOBS stream, cached for TTL: a scrape costs at most one listing
// (one JetStream request per 256 consumers) per TTL, whatever the number of
// scrapes or consumers.
type BacklogSampler struct {
	js  jetstream.JetStream
	ttl time.Duration
	now func() time.Time

	mu   sync.Mutex
	at   time.Time
	last []Backlog
}

// NewBacklogSampler samples the consumers of js's JOBS stream at most
// once per ttl (default 10s).
func NewBacklogSampler(js jetstream.JetStream, ttl time.Duration) *BacklogSampler {
	if ttl <= 0 {
		ttl = 10 * time.Second
	}
	return &BacklogSampler{js: js, ttl: ttl, now: time.Now}
}

// Sample returns the cached backlog, listing the consumers again when the
// cache is older than the TTL. A failed listing keeps the previous values.
func (b *BacklogSampler) Sample(ctx context.Context) []Backlog {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.at.IsZero() && b.now().Sub(b.at) < b.ttl {
		return b.last
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	st, err := b.js.Stream(ctx, natsx.StreamJobs)
	if err != nil {
		return b.last
	}
	var out []Backlog
	lister := st.ListConsumers(ctx)
	for info := range lister.Info() {
		kind, client, flow, ok := natsx.ParseConsumerName(info.Name)
		if !ok {
			continue
		}
		k := "queued"
		if kind == natsx.KindRetry {
			k = "retry"
		}
		out = append(out, Backlog{Client: client, Flow: flow, Kind: k, Pending: info.NumPending, InFlight: uint64(info.NumAckPending)})
	}
	if lister.Err() != nil {
		return b.last
	}
	b.at, b.last = b.now(), out
	return out
}

// ObserveBacklog registers the backlog gauges on mp, read from s at each
// collection: cpibroker.backlog (pending) and cpibroker.inflight
// (delivered, not acknowledged), by client, flow and kind.
func ObserveBacklog(mp metric.MeterProvider, s *BacklogSampler) error {
	m := mp.Meter(scope)
	pending, err := m.Int64ObservableGauge("cpibroker.backlog", metric.WithUnit("{job}"),
		metric.WithDescription("Jobs waiting in JetStream per client, flow and kind (queued, retry); cached, refreshed at most every 10 s. Cluster-wide: every process reports the same value."))
	if err != nil {
		return err
	}
	inflight, err := m.Int64ObservableGauge("cpibroker.inflight", metric.WithUnit("{job}"),
		metric.WithDescription("Jobs delivered to a dispatcher and not yet acknowledged, per client, flow and kind; cached like cpibroker.backlog."))
	if err != nil {
		return err
	}
	_, err = m.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		for _, b := range s.Sample(ctx) {
			attrs := metric.WithAttributes(attribute.String("client", b.Client), attribute.String("flow", b.Flow), attribute.String("kind", b.Kind))
			o.ObserveInt64(pending, int64(b.Pending), attrs)
			o.ObserveInt64(inflight, int64(b.InFlight), attrs)
		}
		return nil
	}, pending, inflight)
	return err
}
