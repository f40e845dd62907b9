package delivery

import (
	"cmp"
	"slices"
	"sync"

	"github.com/sony/gobreaker/v2"

	"github.com/cpibroker/cpibroker/internal/natsx"
)

// breakers holds one local circuit breaker per endpoint (lane). A breaker
// sees only this process's attempts; that is enough to stop spending
// connections and timeouts on a receiver that is down.
type breakers struct {
	cfg BreakerConfig
	mu  sync.Mutex
	by  map[string]*gobreaker.TwoStepCircuitBreaker[struct{}]
}

func newBreakers(cfg BreakerConfig) *breakers {
	return &breakers{cfg: cfg, by: map[string]*gobreaker.TwoStepCircuitBreaker[struct{}]{}}
}

// get returns the breaker of a lane, creating it closed.
func (b *breakers) get(lane string) *gobreaker.TwoStepCircuitBreaker[struct{}] {
	b.mu.Lock()
	defer b.mu.Unlock()
	if cb, ok := b.by[lane]; ok {
		return cb
	}
	n := uint32(b.cfg.ConsecutiveFailures)
	cb := gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        lane,
		MaxRequests: uint32(b.cfg.HalfOpenProbes),
		Timeout:     b.cfg.OpenFor,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= n },
	})
	b.by[lane] = cb
	return cb
}

// forget drops the breaker of a lane that stopped.
func (b *breakers) forget(lane string) {
	b.mu.Lock()
	delete(b.by, lane)
	b.mu.Unlock()
}

// EndpointBreaker is the state of one callback endpoint's breaker in this
// process.
type EndpointBreaker struct {
	// Client owns the endpoint; Lane names the endpoint (its lane key).
	Client, Lane string
	// State is "closed", "half-open" or "open".
	State string
}

// Breakers lists this process's endpoint breakers: one per endpoint that
// has had an attempt since its lane started, sorted by client and lane.
func (d *Deliverer) Breakers() []EndpointBreaker {
	d.breakers.mu.Lock()
	out := make([]EndpointBreaker, 0, len(d.breakers.by))
	for name, cb := range d.breakers.by {
		client, lane, ok := natsx.ParseLaneConsumer(name)
		if !ok {
			continue
		}
		out = append(out, EndpointBreaker{Client: client, Lane: lane, State: cb.State().String()})
	}
	d.breakers.mu.Unlock()
	slices.SortFunc(out, func(a, b EndpointBreaker) int {
		return cmp.Or(cmp.Compare(a.Client, b.Client), cmp.Compare(a.Lane, b.Lane))
	})
	return out
}
