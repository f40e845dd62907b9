package state

import (
	"time"

	"github.com/cpibroker/cpibroker/catalog"
)

// Waiting reasons of a queued job that come from the live catalog and the
// dispatch state (DESIGN 2.4). A quota wait's reason is its budget kind:
// "quota" or "concurrency".
const (
	WaitFlowUnavailable = "flow_unavailable"
	WaitFlowDisabled    = "flow_disabled"
	WaitClientDisabled  = "client_disabled"
	WaitBreakerOpen     = "breaker_open"
)

// Catalog is what Waiting reads of the live catalog.
type Catalog interface {
	Flow(id string) (catalog.Flow, bool)
	Client(id string) (catalog.Client, bool)
}

// Waiting is why queued jobs of a (client, flow) pair wait now, and until
// when when that is known.
type Waiting struct {
	Reason string
	Until  time.Time
}

// Waiting returns why a queued job of client for flow waits, from the most
// to the least binding: its flow is gone or not deployed, disabled; its
// client is disabled; the flow's breaker is open; a dispatcher marked the
// pair waiting for a budget (a marker not refreshed for MarkerTTL is
// stale). ok is false when nothing is known to hold the job.
func (c *Cache) Waiting(cat Catalog, client, flow string) (w Waiting, ok bool) {
	f, found := cat.Flow(flow)
	switch {
	case !found || f.Status == catalog.FlowUnavailable:
		w = Waiting{Reason: WaitFlowUnavailable}
	case f.Status == catalog.FlowDisabled:
		w = Waiting{Reason: WaitFlowDisabled}
	}
	if cl, found := cat.Client(client); found && !cl.Enabled {
		w = Waiting{Reason: WaitClientDisabled}
	}
	if w.Reason != "" {
		return w, true
	}
	if b, found := c.Breaker(flow); found && b.State != StateClosed {
		w = Waiting{Reason: WaitBreakerOpen}
		if b.State == StateOpen {
			w.Until = b.Until
		}
		return w, true
	}
	// Markers are written with the wall clock of the dispatcher.
	if m, found := c.Wait(client, flow, time.Now()); found {
		return Waiting{Reason: m.Reason, Until: m.Until}, true
	}
	return Waiting{}, false
}
