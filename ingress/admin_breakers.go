package ingress

import (
	"net/http"
	"time"

	"github.com/cpibroker/cpibroker/dispatcher/state"
	"github.com/cpibroker/cpibroker/internal/audit"
	"github.com/gin-gonic/gin"
)

// EndpointBreakers lists the circuit breakers of webhook and callback
// endpoints, when the process runs a deliverer; nil otherwise.
type EndpointBreakers func() []EndpointBreaker

// EndpointBreaker is one callback endpoint's breaker.
type EndpointBreaker struct {
	Client string `json:"client"`
	Lane   string `json:"lane"`
	State  string `json:"state"`
}

// breakerResource is a flow's breaker as the admin API shows it.
type breakerResource struct {
	Flow  string `json:"flow"`
	State string `json:"state"`
	Since string `json:"since,omitempty"`
	Until string `json:"until,omitempty"`
	By    string `json:"by,omitempty"`
}

// listBreakers is GET /admin/v1/breakers: every flow's breaker (flows
// whose breaker never changed are closed and listed too) and, when this
// process delivers callbacks, the endpoint breakers.
func (s *Server) listBreakers(c *gin.Context) {
	items := []breakerResource{}
	seen := map[string]bool{}
	for _, b := range s.policy.cache.Breakers() {
		seen[b.Flow] = true
		r := breakerResource{Flow: b.Flow, State: b.State, Since: b.Since.UTC().Format(time.RFC3339Nano), By: b.By}
		if b.State == state.StateOpen && !b.Until.IsZero() {
			r.Until = b.Until.UTC().Format(time.RFC3339Nano)
			if !s.cfg.Now().Before(b.Until) {
				r.State = state.StateHalfOpen // probes are let through
			}
		}
		items = append(items, r)
	}
	for _, f := range s.deps.Catalog.Flows() {
		if !seen[f.ID] {
			items = append(items, breakerResource{Flow: f.ID, State: state.StateClosed})
		}
	}
	out := map[string]any{"items": items}
	if s.deps.EndpointBreakers != nil {
		eps := s.deps.EndpointBreakers()
		if eps == nil {
			eps = []EndpointBreaker{}
		}
		out["endpoints"] = eps
	}
	writeJSON(c.Writer, http.StatusOK, out)
}

// resetBreaker is POST /admin/v1/breakers/{flow}/reset: every dispatcher
// replaces the flow's breaker with a closed one within the watch latency.
func (s *Server) resetBreaker(c *gin.Context) {
	flow := c.Param("id")
	if _, ok := s.deps.Catalog.Flow(flow); !ok {
		writeProblem(c, problem(http.StatusNotFound, "not_found", "no such flow"))
		return
	}
	rec, err := s.policy.writer.Reset(c, flow, s.cfg.Now())
	if err != nil {
		writeProblem(c, &apiError{Status: http.StatusServiceUnavailable, Code: "unavailable", Detail: "the breaker store is unavailable", RetryAfter: 2})
		return
	}
	s.auditAdmin(c, audit.ActionBreakerReset, flow, "")
	writeJSON(c.Writer, http.StatusOK, breakerResource{Flow: flow, State: rec.State, Since: rec.Since.UTC().Format(time.RFC3339Nano), By: rec.By})
}
