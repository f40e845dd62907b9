package ingress

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/delivery/deliverylog"
	"github.com/cpibroker/cpibroker/jobs"
	cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"
	"github.com/gin-gonic/gin"
)

// ownJob resolves the {id} of a partner route to a job of the caller
// (404 for another client's job); false when the answer is written.
func (s *Server) ownJob(c *gin.Context) (client, id string, ok bool) {
	if id, ok = jobID(c); !ok {
		return "", "", false
	}
	client = callerOf(c).client.ID
	if _, _, err := s.deps.Jobs.GetOwned(c, client, id); err != nil {
		writeProblem(c, err)
		return "", "", false
	}
	return client, id, true
}

// anyJob resolves the {id} of an admin route to any client's job and
// that job's client; false when the answer is written.
func (s *Server) anyJob(c *gin.Context) (client, id string, ok bool) {
	if id, ok = jobID(c); !ok {
		return "", "", false
	}
	rec, _, err := s.deps.Jobs.Get(c, id)
	if err != nil {
		writeProblem(c, err)
		return "", "", false
	}
	return rec.GetClient(), id, true
}

// getDeliveries is GET /v1/jobs/{id}/deliveries: every logged callback
// attempt of the caller's job, oldest first.
func (s *Server) getDeliveries(c *gin.Context) {
	if client, id, ok := s.ownJob(c); ok {
		s.writeDeliveries(c, client, id)
	}
}

func (s *Server) writeDeliveries(c *gin.Context, client, id string) {
	items, err := deliverylog.New(s.deps.Resources).List(c, client, id)
	if err != nil {
		writeProblem(c, err)
		return
	}
	writeJSON(c.Writer, http.StatusOK, listPage[deliverylog.Attempt]{Items: items})
}

// adminJob is a job resource with its owner (and, on the job's own
// page, its trace ID), for operators.
type adminJob struct {
	Client  string `json:"client"`
	TraceID string `json:"trace_id,omitempty"`
	jobs.Resource
}

// getAdminJob is GET /admin/v1/jobs/{id}: any client's job.
func (s *Server) getAdminJob(c *gin.Context) {
	id, ok := jobID(c)
	if !ok {
		return
	}
	rec, _, err := s.deps.Jobs.Get(c, id)
	if err != nil {
		writeProblem(c, err)
		return
	}
	writeJSON(c.Writer, http.StatusOK, adminJob{Client: rec.GetClient(), TraceID: s.traceOf(c, rec), Resource: s.resource(rec)})
}

// traceScan bounds how many of the client's events a trace lookup reads.
const traceScan = 2000

// traceOf is the job's trace ID, from its first terminal event.
func (s *Server) traceOf(ctx context.Context, rec *cpibv1.JobRecord) string {
	return s.deps.Jobs.TraceID(ctx, rec, traceScan)
}

// getAdminDeliveries is GET /admin/v1/jobs/{id}/deliveries.
func (s *Server) getAdminDeliveries(c *gin.Context) {
	if client, id, ok := s.anyJob(c); ok {
		s.writeDeliveries(c, client, id)
	}
}

// jobSearchScan bounds how many record writes one admin job search looks
// at; partnerJobScan one partner listing (cheaper: any partner may call it).
const (
	jobSearchScan  = 5000
	partnerJobScan = 1000
)

// listAdminJobs is GET /admin/v1/jobs?client=&flow=&status=&since=&until=&limit=:
// the most recent job records that match, newest first. It reads the last
// jobSearchScan writes of the job bucket (after since, when given), so it
// finds recent jobs; an older job is found by its ID.
func (s *Server) listAdminJobs(c *gin.Context) {
	q, bad := parseJobQuery(c)
	if bad != nil {
		writeProblem(c, bad)
		return
	}
	items, err := s.searchJobs(c, q, jobSearchScan)
	if err != nil {
		writeProblem(c, err)
		return
	}
	writeJSON(c.Writer, http.StatusOK, listPage[adminJob]{Items: items})
}

// listOwnJobs is GET /v1/jobs?flow=&status=&since=&until=&limit=: the
// caller's most recent jobs, newest first (the same bounded search as the
// admin one, restricted to the caller).
func (s *Server) listOwnJobs(c *gin.Context) {
	q, bad := parseJobQuery(c)
	if bad != nil {
		writeProblem(c, bad)
		return
	}
	if c.Query("client") != "" {
		writeProblem(c, problem(http.StatusBadRequest, "invalid_request", "client: a partner lists its own jobs only"))
		return
	}
	q.client = callerOf(c).client.ID
	items, err := s.searchJobs(c, q, partnerJobScan)
	if err != nil {
		writeProblem(c, err)
		return
	}
	out := make([]jobs.Resource, 0, len(items))
	for _, it := range items {
		out = append(out, it.Resource)
	}
	writeJSON(c.Writer, http.StatusOK, listPage[jobs.Resource]{Items: out})
}

type jobQuery struct {
	client, flow, status string
	since, until         time.Time
	limit                int
}

func parseJobQuery(c *gin.Context) (jobQuery, *apiError) {
	q := jobQuery{client: c.Query("client"), flow: c.Query("flow"), status: c.Query("status"), limit: 50}
	if q.client != "" && !catalog.ValidID(q.client) {
		return q, problem(http.StatusBadRequest, "invalid_name", "client: IDs match ^[a-z0-9][a-z0-9-]{0,62}$")
	}
	if q.flow != "" && !catalog.ValidID(q.flow) {
		return q, problem(http.StatusBadRequest, "invalid_name", "flow: IDs match ^[a-z0-9][a-z0-9-]{0,62}$")
	}
	switch q.status {
	case "", jobs.StatusQueued, jobs.StatusRunning, jobs.StatusSucceeded, jobs.StatusFailed, jobs.StatusCanceled:
	default:
		return q, problem(http.StatusBadRequest, "invalid_request", "status must be queued, running, succeeded, failed or canceled")
	}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"since", &q.since}, {"until", &q.until}} {
		if v := c.Query(p.name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return q, problem(http.StatusBadRequest, "invalid_request", p.name+" must be an RFC 3339 time")
			}
			*p.dst = t
		}
	}
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			return q, problem(http.StatusBadRequest, "invalid_request", "limit must be 1..500")
		}
		q.limit = n
	}
	return q, nil
}

func (s *Server) searchJobs(ctx context.Context, q jobQuery, maxScan int) ([]adminJob, error) {
	latest, err := s.deps.Jobs.RecentRecords(ctx, q.since, maxScan)
	if err != nil {
		return nil, err
	}
	out := []adminJob{}
	for _, rec := range latest {
		created := rec.GetCreatedAt().AsTime()
		switch {
		case q.client != "" && rec.GetClient() != q.client,
			q.flow != "" && rec.GetFlow() != q.flow,
			!q.since.IsZero() && created.Before(q.since),
			!q.until.IsZero() && created.After(q.until):
			continue
		}
		r := s.resource(rec)
		if q.status != "" && r.Status != q.status {
			continue
		}
		out = append(out, adminJob{Client: rec.GetClient(), Resource: r})
	}
	slices.SortFunc(out, func(a, b adminJob) int { return cmp.Compare(b.ID, a.ID) })
	if len(out) > q.limit {
		out = out[:q.limit]
	}
	return out, nil
}

// resentPage answers a resend.
type resentPage struct {
	Queued int `json:"queued"`
}

// resendDeliveries is POST /v1/jobs/{id}/deliveries/resend: the job's
// event is delivered again to every target it went to (202), or 409
// nothing_to_resend when no attempt is logged or its event is gone.
func (s *Server) resendDeliveries(c *gin.Context) {
	if client, id, ok := s.ownJob(c); ok {
		s.resend(c, client, id)
	}
}

// resendAdminDeliveries is POST /admin/v1/jobs/{id}/deliveries/resend.
func (s *Server) resendAdminDeliveries(c *gin.Context) {
	if client, id, ok := s.anyJob(c); ok {
		s.resend(c, client, id)
	}
}

func (s *Server) resend(c *gin.Context, client, id string) {
	n, err := deliverylog.New(s.deps.Resources).Resend(c, client, id)
	switch {
	case errors.Is(err, deliverylog.ErrNothingToResend):
		writeProblem(c, problem(http.StatusConflict, "nothing_to_resend", "no callback attempt of this job is logged, or its event is no longer kept"))
		return
	case err != nil:
		writeProblem(c, err)
		return
	}
	writeJSON(c.Writer, http.StatusAccepted, resentPage{Queued: n})
}

// partnerWebhook is a webhook as its owner sees it (no secrets).
type partnerWebhook struct {
	ID             string   `json:"id"`
	URL            string   `json:"url"`
	Events         []string `json:"events"`
	Enabled        bool     `json:"enabled"`
	DisabledReason string   `json:"disabled_reason,omitempty"`
}

// listWebhooks is GET /v1/webhooks: the caller's own webhooks, so a
// partner (and its portal) can see where its events go and whether a
// webhook was disabled.
func (s *Server) listWebhooks(c *gin.Context) {
	cl := callerOf(c)
	items := []partnerWebhook{}
	if live, ok := s.deps.Catalog.Client(cl.client.ID); ok {
		for _, w := range live.Webhooks {
			items = append(items, partnerWebhook{ID: w.ID, URL: w.URL, Events: append([]string{}, w.Events...), Enabled: w.Enabled, DisabledReason: w.DisabledReason})
		}
	}
	writeJSON(c.Writer, http.StatusOK, listPage[partnerWebhook]{Items: items})
}

// getAttempts is GET /v1/jobs/{id}/attempts: the failed CPI calls of the
// caller's job, oldest first (a successful call is the job's result).
func (s *Server) getAttempts(c *gin.Context) {
	if client, id, ok := s.ownJob(c); ok {
		s.writeAttempts(c, client, id)
	}
}

// getAdminAttempts is GET /admin/v1/jobs/{id}/attempts.
func (s *Server) getAdminAttempts(c *gin.Context) {
	if client, id, ok := s.anyJob(c); ok {
		s.writeAttempts(c, client, id)
	}
}

func (s *Server) writeAttempts(c *gin.Context, client, id string) {
	items, err := deliverylog.New(s.deps.Resources).ListDispatch(c, client, id)
	if err != nil {
		writeProblem(c, err)
		return
	}
	writeJSON(c.Writer, http.StatusOK, listPage[deliverylog.CPIAttempt]{Items: items})
}
