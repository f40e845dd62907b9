package ingress

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/internal/audit"
	"github.com/cpibroker/cpibroker/jobs"
	cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"
	"github.com/gin-gonic/gin"
)

// sequenceRoutes mounts the operator actions on ordered sequences
// (Ordering-Key): list, get, skip and replay a blocked head.
func (s *Server) sequenceRoutes(g *gin.RouterGroup) {
	g.GET("/sequences", s.listSequences)
	g.GET("/sequences/:id", s.getSequence)
	g.POST("/sequences/:id/skip", s.skipSequence)
	g.POST("/sequences/:id/replay", s.replaySequence)
}

// listSequences is GET /admin/v1/sequences?state=blocked|active&client=&flow=&limit=&cursor=:
// the keys that have a job queued, running or blocked.
func (s *Server) listSequences(c *gin.Context) {
	f := jobs.SequenceFilter{State: c.Query("state"), Client: c.Query("client"), Flow: c.Query("flow")}
	if f.State != "" && f.State != jobs.SequenceActive && f.State != jobs.SequenceBlocked {
		writeProblem(c, problem(http.StatusBadRequest, "invalid_request", "state must be active or blocked"))
		return
	}
	if (f.Client != "" && !catalog.ValidID(f.Client)) || (f.Flow != "" && !catalog.ValidID(f.Flow)) {
		writeProblem(c, problem(http.StatusBadRequest, "invalid_request", "client and flow must be IDs"))
		return
	}
	limit, after, ok := seqPageParams(c)
	if !ok {
		return
	}
	items, next, err := s.deps.Jobs.ListSequences(c, f, after, limit)
	if err != nil {
		writeProblem(c, err)
		return
	}
	if items == nil {
		items = []jobs.Sequence{}
	}
	writeSeqPage(c, items, next)
}

// getSequence is GET /admin/v1/sequences/{id}.
func (s *Server) getSequence(c *gin.Context) {
	q, err := s.deps.Jobs.GetSequence(c, c.Param("id"))
	if err != nil {
		writeProblem(c, sequenceProblem(err))
		return
	}
	writeJSON(c.Writer, http.StatusOK, q)
}

// skipSequence is POST /admin/v1/sequences/{id}/skip: the blocked head
// stays failed and the next job of the key runs.
func (s *Server) skipSequence(c *gin.Context) {
	id := c.Param("id")
	before, _ := s.deps.Jobs.GetSequence(c, id)
	q, err := s.deps.Jobs.SkipSequence(c, id)
	if err != nil {
		writeProblem(c, sequenceProblem(err))
		return
	}
	s.auditAdmin(c, audit.ActionSequenceSkipped, id, "skipped job "+before.Head)
	writeJSON(c.Writer, http.StatusOK, q)
}

// replaySequence is POST /admin/v1/sequences/{id}/replay: the blocked
// head's failed job runs again (run+1) as the head; the jobs behind it wait.
func (s *Server) replaySequence(c *gin.Context) {
	id := c.Param("id")
	q, why, err := s.deps.Jobs.ReplaySequence(c, id)
	if err != nil {
		writeProblem(c, sequenceProblem(err))
		return
	}
	if why != "" {
		writeProblem(c, problem(http.StatusConflict, "not_replayable", why))
		return
	}
	s.auditAdmin(c, audit.ActionSequenceReplayed, id, "replayed job "+q.Head)
	writeJSON(c.Writer, http.StatusOK, q)
}

func sequenceProblem(err error) error {
	switch {
	case errors.Is(err, jobs.ErrSequenceNotFound):
		return problem(http.StatusNotFound, "not_found", "no such sequence (its key has no job queued, running or blocked)")
	case errors.Is(err, jobs.ErrSequenceNotBlocked):
		return problem(http.StatusConflict, "sequence_not_blocked", "the sequence is not blocked")
	}
	return err
}

// orderingKey reads the Ordering-Key header under the flow's ordering
// policy: the key, or the problem to answer.
func orderingKey(r *http.Request, p catalog.Policy) (string, *apiError) {
	vs := r.Header.Values(jobs.HeaderOrderingKey)
	switch {
	case len(vs) == 0 && p.Ordering.Mode() == catalog.OrderingRequired:
		return "", problem(http.StatusBadRequest, "ordering_key_required", "this flow processes jobs in order per key: the Ordering-Key header is required")
	case len(vs) == 0:
		return "", nil
	case p.Ordering.Mode() == catalog.OrderingOff:
		return "", problem(http.StatusBadRequest, "invalid_request", "Ordering-Key: this flow does not process jobs in order (policy ordering: off)")
	case len(vs) > 1 || !jobs.ValidOrderingKey(vs[0]):
		return "", problem(http.StatusBadRequest, "invalid_request", "Ordering-Key must be one header of 1-128 visible ASCII characters")
	}
	return vs[0], nil
}

// sequenceWaiting is the waiting reason of a queued ordered job that is
// not its key's head, or nil.
func (s *Server) sequenceWaiting(rec *cpibv1.JobRecord) *jobs.Waiting {
	if rec.GetOrderingKey() == "" || rec.GetStatus() != cpibv1.JobStatus_JOB_STATUS_QUEUED {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return s.deps.Jobs.SequenceWaiting(ctx, rec)
}
