package metrics

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// scope is the instrumentation scope of every cpibroker instrument.
const scope = "github.com/cpibroker/cpibroker"

// LatencyBuckets are the CPI call duration histogram's boundaries in
// seconds: an iFlow answers in milliseconds to minutes (CPI allows up to
// 10 minutes for one synchronous call).
func LatencyBuckets() []float64 {
	return []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}
}

// Metrics holds the instruments. A nil *Metrics records nothing, so
// components may be built without metrics.
type Metrics struct {
	accepted  metric.Int64Counter
	completed metric.Int64Counter
	cpiCalls  metric.Float64Histogram
	callbacks metric.Int64Counter
	failing   metric.Int64UpDownCounter
	tokenFail metric.Int64Counter
	attrs     attrCache
}

// attrCache keeps the attribute sets of the hot-path counters (accepted,
// completed), so a job does not build and sort them again: they repeat
// per (client, flow, status, code). Bounded: past maxCachedSets it builds
// them per call.
type attrCache struct {
	mu   sync.RWMutex
	sets map[[4]string]metric.MeasurementOption
}

const maxCachedSets = 10000

func (c *attrCache) get(a, b, st, code string, build func() attribute.Set) metric.MeasurementOption {
	k := [4]string{a, b, st, code}
	c.mu.RLock()
	o, ok := c.sets[k]
	c.mu.RUnlock()
	if ok {
		return o
	}
	set := build()
	o = metric.WithAttributeSet(set)
	c.mu.Lock()
	if c.sets == nil {
		c.sets = map[[4]string]metric.MeasurementOption{}
	}
	if len(c.sets) < maxCachedSets {
		c.sets[k] = o
	}
	c.mu.Unlock()
	return o
}

// New creates the instruments on mp (for example the provider of
// NewPrometheus). Every instrument name starts with "cpibroker.".
func New(mp metric.MeterProvider) (*Metrics, error) {
	if mp == nil {
		return nil, errors.New("metrics: no meter provider")
	}
	m := mp.Meter(scope)
	var (
		x    Metrics
		errs []error
		err  error
	)
	x.accepted, err = m.Int64Counter("cpibroker.jobs.accepted", metric.WithUnit("{job}"),
		metric.WithDescription("Jobs accepted (202: stored in JetStream), by client and flow. Idempotent replays are not counted."))
	errs = append(errs, err)
	x.completed, err = m.Int64Counter("cpibroker.jobs.completed", metric.WithUnit("{job}"),
		metric.WithDescription("Job runs that reached a terminal state, by client, flow and status (succeeded, failed, canceled) and error code."))
	errs = append(errs, err)
	x.cpiCalls, err = m.Float64Histogram("cpibroker.cpi.call.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of CPI iFlow calls, by flow and outcome (HTTP status class 2xx..5xx, or error for network errors and timeouts)."),
		metric.WithExplicitBucketBoundaries(LatencyBuckets()...))
	errs = append(errs, err)
	x.callbacks, err = m.Int64Counter("cpibroker.callbacks", metric.WithUnit("{attempt}"),
		metric.WithDescription("Webhook and Callback-URL delivery attempts, by outcome (delivered, retry, gone, rejected, refused, dropped)."))
	errs = append(errs, err)
	x.failing, err = m.Int64UpDownCounter("cpibroker.callbacks.failing_endpoints", metric.WithUnit("{endpoint}"),
		metric.WithDescription("Webhook and Callback-URL endpoints whose last delivery attempt in this process failed, by client."))
	errs = append(errs, err)
	x.tokenFail, err = m.Int64Counter("cpibroker.cpi.token.failures", metric.WithUnit("{attempt}"),
		metric.WithDescription("Job attempts that got no runtime token from a provider's token endpoint, by provider and reason (refused: the credentials or token_auth are wrong; unavailable: no answer, 429 or 5xx)."))
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &x, nil
}

// Accepted counts one accepted job.
func (m *Metrics) Accepted(ctx context.Context, client, flow string) {
	if m == nil {
		return
	}
	m.accepted.Add(ctx, 1, m.attrs.get(client, flow, "", "", func() attribute.Set {
		return attribute.NewSet(attribute.String("client", client), attribute.String("flow", flow))
	}))
}

// Completed counts one run that ended in status (succeeded, failed,
// canceled); code is the error code of a failed run ("" otherwise).
func (m *Metrics) Completed(ctx context.Context, client, flow, status, code string) {
	if m == nil {
		return
	}
	m.completed.Add(ctx, 1, m.attrs.get(client, flow, status, code, func() attribute.Set {
		return attribute.NewSet(attribute.String("client", client), attribute.String("flow", flow),
			attribute.String("status", status), attribute.String("code", code))
	}))
}

// CPICall records one iFlow call: its HTTP status (0 when the call failed
// without an answer) and its duration.
func (m *Metrics) CPICall(ctx context.Context, flow string, status int, took time.Duration) {
	if m == nil {
		return
	}
	outcome := StatusClass(status)
	m.cpiCalls.Record(ctx, took.Seconds(), m.attrs.get(flow, outcome, "cpi", "", func() attribute.Set {
		return attribute.NewSet(attribute.String("flow", flow), attribute.String("outcome", outcome))
	}))
}

// TokenFailure counts one job attempt that got no token from a provider's
// token endpoint; reason is "refused" or "unavailable".
func (m *Metrics) TokenFailure(ctx context.Context, provider, reason string) {
	if m == nil {
		return
	}
	m.tokenFail.Add(ctx, 1, metric.WithAttributes(attribute.String("provider", provider), attribute.String("reason", reason)))
}

// Callback counts one delivery attempt's outcome: delivered, retry, gone,
// rejected, refused or dropped.
func (m *Metrics) Callback(ctx context.Context, outcome string) {
	if m == nil {
		return
	}
	m.callbacks.Add(ctx, 1, metric.WithAttributes(attribute.String("outcome", outcome)))
}

// CallbackEndpoint counts an endpoint of client that starts (failing) or
// stops failing.
func (m *Metrics) CallbackEndpoint(ctx context.Context, client string, failing bool) {
	if m == nil {
		return
	}
	n := int64(-1)
	if failing {
		n = 1
	}
	m.failing.Add(ctx, n, metric.WithAttributes(attribute.String("client", client)))
}

// StatusClass is the bounded label of an HTTP status: "2xx".."5xx", or
// "error" for 0 (no answer).
func StatusClass(status int) string {
	if status < 100 || status > 599 {
		return "error"
	}
	return strconv.Itoa(status/100) + "xx"
}
