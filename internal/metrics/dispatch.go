package metrics

import (
	"context"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// DispatchState is what a dispatcher tells about its scheduling: the
// state of each flow's breaker ("closed", "half-open", "open"), how many
// times a (client, flow) pair started waiting for a budget, and which pairs
// ("client/flow") wait now and why ("quota", "concurrency").
type DispatchState interface {
	BreakerStates() map[string]string
	QuotaWaits() int64
	Waiting() map[string]string
}

// breakerValue is the gauge value of a breaker state.
func breakerValue(state string) int64 {
	switch state {
	case "open":
		return 2
	case "half-open":
		return 1
	}
	return 0
}

// ObserveDispatch registers the dispatcher's scheduling instruments on mp,
// read from src at each collection: cpibroker.breaker.state (per flow: 0
// closed, 1 half-open, 2 open), cpibroker.quota.waits (a counter) and
// cpibroker.waiting (1 per client and flow held back now, by reason).
func ObserveDispatch(mp metric.MeterProvider, src DispatchState) error {
	m := mp.Meter(scope)
	breakers, err := m.Int64ObservableGauge("cpibroker.breaker.state",
		metric.WithDescription("Circuit breaker state per flow as this dispatcher sees it: 0 closed, 1 half-open, 2 open."))
	if err != nil {
		return err
	}
	waits, err := m.Int64ObservableCounter("cpibroker.quota.waits", metric.WithUnit("{wait}"),
		metric.WithDescription("Times a (client, flow) queue started waiting for a quota or concurrency budget in this dispatcher."))
	if err != nil {
		return err
	}
	waiting, err := m.Int64ObservableGauge("cpibroker.waiting",
		metric.WithDescription("1 for each (client, flow) queue this dispatcher holds back now, by reason (quota, concurrency)."))
	if err != nil {
		return err
	}
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for flow, st := range src.BreakerStates() {
			o.ObserveInt64(breakers, breakerValue(st), metric.WithAttributes(attribute.String("flow", flow)))
		}
		o.ObserveInt64(waits, src.QuotaWaits())
		for pair, reason := range src.Waiting() {
			client, flow, ok := strings.Cut(pair, "/")
			if !ok {
				continue
			}
			o.ObserveInt64(waiting, 1, metric.WithAttributes(attribute.String("client", client),
				attribute.String("flow", flow), attribute.String("reason", reason)))
		}
		return nil
	}, breakers, waits, waiting)
	return err
}
