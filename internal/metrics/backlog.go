package metrics

import (
	"context"
	"maps"
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

// BacklogSampler is the one count of the jobs waiting in JetStream: it
// serves the backlog gauges of /metrics and the ingress's max_backlog check
// (429 backlog_full) from one paged consumer listing of the JOBS stream,
// so the two never disagree. A listing costs one JetStream request per 256
// consumers and is made at most once per TTL, whatever the number of
// scrapes, submits or consumers; Run refreshes it in the background so no
// request waits for one.
type BacklogSampler struct {
	js  jetstream.JetStream
	ttl time.Duration
	now func() time.Time

	refreshMu sync.Mutex // one listing at a time

	mu       sync.Mutex
	at       time.Time
	last     []Backlog
	byClient map[string]int // pending + in flight, new and retry jobs
	since    map[string]int // accepted since the last listing

	listed func() // test hook: runs between a listing and its commit
}

// NewBacklogSampler samples the consumers of js's JOBS stream at most
// once per ttl (default 1s).
func NewBacklogSampler(js jetstream.JetStream, ttl time.Duration) *BacklogSampler {
	if ttl <= 0 {
		ttl = time.Second
	}
	return &BacklogSampler{js: js, ttl: ttl, now: time.Now, byClient: map[string]int{}, since: map[string]int{}}
}

// Run refreshes the sample every TTL until ctx ends.
func (b *BacklogSampler) Run(ctx context.Context) {
	t := time.NewTicker(b.ttl)
	defer t.Stop()
	for {
		b.Refresh(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Sample returns the backlog, listing the consumers again when the last
// listing is older than the TTL or jobs were accepted here since. A failed listing keeps the previous
// values.
func (b *BacklogSampler) Sample(ctx context.Context) []Backlog {
	b.refresh(ctx, false)
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.last
}

// Queued is a client's jobs in JetStream (new and retry, waiting or in
// flight) as of the last listing, plus those accepted since. It never
// waits for a listing.
func (b *BacklogSampler) Queued(client string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.byClient[client] + b.since[client]
}

// Listed is when the last listing was taken; zero before the first.
func (b *BacklogSampler) Listed() time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.at
}

// Accepted counts a job of client accepted since the last listing.
func (b *BacklogSampler) Accepted(client string) {
	b.mu.Lock()
	b.since[client]++
	b.mu.Unlock()
}

// Refresh lists the consumers now, whatever the age of the last listing.
func (b *BacklogSampler) Refresh(ctx context.Context) { b.refresh(ctx, true) }

func (b *BacklogSampler) refresh(ctx context.Context, force bool) {
	b.refreshMu.Lock()
	defer b.refreshMu.Unlock()
	b.mu.Lock()
	// Jobs accepted here since the listing make it stale for a scrape.
	fresh := !b.at.IsZero() && b.now().Sub(b.at) < b.ttl && len(b.since) == 0
	b.mu.Unlock()
	if fresh && !force {
		return
	}
	// Jobs accepted before the listing starts are in it; those accepted
	// while it runs may not be, so they stay counted after it (an
	// over-count until the next listing, never an under-count that would
	// let a client past max_backlog).
	b.mu.Lock()
	before := maps.Clone(b.since)
	b.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	st, err := b.js.Stream(ctx, natsx.StreamJobs)
	if err != nil {
		return
	}
	var out []Backlog
	byClient := map[string]int{}
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
		byClient[client] += int(info.NumPending) + info.NumAckPending
	}
	if lister.Err() != nil {
		return
	}
	if b.listed != nil {
		b.listed()
	}
	b.mu.Lock()
	for c, n := range before {
		if b.since[c] -= n; b.since[c] <= 0 {
			delete(b.since, c)
		}
	}
	b.at, b.last, b.byClient = b.now(), out, byClient
	b.mu.Unlock()
}

// ObserveBacklog registers the backlog gauges on mp, read from s at each
// collection: cpibroker.backlog (pending) and cpibroker.inflight
// (delivered, not acknowledged), by client, flow and kind.
func ObserveBacklog(mp metric.MeterProvider, s *BacklogSampler) error {
	m := mp.Meter(scope)
	pending, err := m.Int64ObservableGauge("cpibroker.backlog", metric.WithUnit("{job}"),
		metric.WithDescription("Jobs waiting in JetStream per client, flow and kind (queued, retry); cached, refreshed every second; the same count as the max_backlog check. Cluster-wide: every process reports the same value."))
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
