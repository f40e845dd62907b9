package ingress

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/cpibroker/cpibroker/jobs"
	cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"
	"github.com/gin-gonic/gin"
	"github.com/oklog/ulid/v2"
	"go.opentelemetry.io/otel/trace"
)

func (s *Server) tracer() trace.Tracer {
	return s.cfg.TracerProvider.Tracer("github.com/cpibroker/cpibroker/ingress")
}

// resource renders a record, computing waiting from the live catalog.
func (s *Server) resource(rec *cpibv1.JobRecord) jobs.Resource { return s.render(rec, true) }

// render renders a record, computing waiting from the live catalog and,
// if sequence, from its key's sequence (an ordered job that is not its
// key's head waits for it; false: the job is known to be its head).
func (s *Server) render(rec *cpibv1.JobRecord, sequence bool) jobs.Resource {
	r := jobs.NewResource(rec, s.cfg.Now())
	if r.Status != jobs.StatusQueued || r.Waiting != nil {
		return r
	}
	if sequence {
		if w := s.sequenceWaiting(rec); w != nil {
			r.Waiting = w
			return r
		}
	}
	if w, ok := s.policy.cache.Waiting(s.deps.Catalog, rec.GetClient(), rec.GetFlow()); ok {
		r.Waiting = &jobs.Waiting{Reason: w.Reason}
		if !w.Until.IsZero() {
			r.Waiting.Until = w.Until.UTC().Format(time.RFC3339Nano)
		}
	}
	return r
}

// jobID validates the path's job ID; anything but a ULID is not found.
func jobID(c *gin.Context) (string, bool) {
	id := c.Param("id")
	if _, err := ulid.ParseStrict(id); err != nil {
		writeProblem(c, problem(http.StatusNotFound, "job_not_found", "no such job"))
		return "", false
	}
	return id, true
}

// parseWait reads ?wait= as a duration ("30s") or whole seconds ("30").
func parseWait(v string, max time.Duration) (time.Duration, bool) {
	if v == "" {
		return 0, true
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		n, err := strconv.Atoi(v)
		if err != nil {
			return 0, false
		}
		d = time.Duration(n) * time.Second
	}
	if d < 0 {
		return 0, false
	}
	return min(d, max), true
}

// getJob is GET /v1/jobs/{id}, with optional ?wait= long-poll.
func (s *Server) getJob(c *gin.Context) {
	id, ok := jobID(c)
	if !ok {
		return
	}
	wait, ok := parseWait(c.Query("wait"), s.cfg.MaxWait)
	if !ok {
		writeProblem(c, problem(http.StatusBadRequest, "invalid_request", "wait must be a duration like 30s (at most 60s)"))
		return
	}
	cl := callerOf(c)
	rec, _, err := s.deps.Jobs.GetOwned(c, cl.client.ID, id)
	if err != nil {
		writeProblem(c, err)
		return
	}
	if wait > 0 && !jobs.Terminal(rec.GetStatus()) {
		ctx, cancel := context.WithTimeout(c.Request.Context(), wait)
		last, err := s.deps.Jobs.WaitTerminal(ctx, id)
		cancel()
		if err != nil {
			writeProblem(c, err)
			return
		}
		if last != nil {
			rec = last
		}
	}
	writeJSON(c.Writer, http.StatusOK, s.resource(rec))
}

// getResult is GET /v1/jobs/{id}/result: CPI's body, byte for byte.
func (s *Server) getResult(c *gin.Context) {
	id, ok := jobID(c)
	if !ok {
		return
	}
	rec, _, err := s.deps.Jobs.GetOwned(c, callerOf(c).client.ID, id)
	if err != nil {
		writeProblem(c, err)
		return
	}
	if !jobs.Terminal(rec.GetStatus()) {
		c.Header("Retry-After", "1")
		writeProblem(c, problem(http.StatusConflict, "not_finished", "the job has not finished"))
		return
	}
	if rec.GetResult() == nil {
		writeProblem(c, problem(http.StatusConflict, "no_result", "the job ended without a CPI response"))
		return
	}
	s.writeResult(c, http.StatusOK, rec)
}

// cancelJob is DELETE /v1/jobs/{id}.
func (s *Server) cancelJob(c *gin.Context) {
	id, ok := jobID(c)
	if !ok {
		return
	}
	// The job.canceled event goes with it; if it cannot be published now,
	// the dispatcher publishes it when it drops the job's message.
	h := jobs.TraceHeader(c.Request.Context(), s.cfg.Propagator)
	rec, err := s.deps.Jobs.Cancel(c, callerOf(c).client.ID, id, h)
	if errors.Is(err, jobs.ErrEventPending) {
		s.log.Warn("ingress: canceled event not published yet", "job_id", id, "err", err)
	} else if err != nil {
		writeProblem(c, err)
		return
	}
	writeJSON(c.Writer, http.StatusOK, s.resource(rec))
}

// flowResource is a flow as a partner sees it.
type flowResource struct {
	ID          string `json:"id"`
	Title       string `json:"title,omitempty"`
	Description string `json:"description,omitempty"`
	Protocol    string `json:"protocol,omitempty"`
	Status      string `json:"status"`
}

// listFlows is GET /v1/flows: the flows this client may call.
func (s *Server) listFlows(c *gin.Context) {
	cl := callerOf(c)
	items := []flowResource{}
	for _, f := range s.deps.Catalog.Flows() {
		if cl.client.Granted(f.ID) && cl.principal.AllowsFlow(f.ID) {
			items = append(items, flowResource{ID: f.ID, Title: f.Title, Description: f.Description, Protocol: f.Protocol, Status: f.Status})
		}
	}
	writeJSON(c.Writer, http.StatusOK, map[string]any{"items": items})
}
