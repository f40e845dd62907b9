package ingress

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/delivery"
	"github.com/cpibroker/cpibroker/internal/audit"
	"github.com/cpibroker/cpibroker/internal/dlq"
	cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"
	"github.com/gin-gonic/gin"
)

// listDLQ is GET /admin/v1/dlq?client=&flow=&kind=job|callback&code=&since=&until=&limit=&cursor=:
// failed jobs and exhausted or refused webhook deliveries. The cursor is
// the DLQ stream sequence of the last item.
func (s *Server) listDLQ(c *gin.Context) {
	q, ok := s.dlqQuery(c, c.Query)
	if !ok {
		return
	}
	if q.Limit, q.After, ok = seqPageParams(c); !ok {
		return
	}
	page, err := dlq.List(c, s.deps.Resources.DLQ, q)
	if err != nil {
		writeProblem(c, &apiError{Status: http.StatusServiceUnavailable, Code: "unavailable", Detail: "the DLQ stream is unavailable", RetryAfter: 2})
		return
	}
	writeSeqPage(c, page.Items, page.Next)
}

// dlqQuery reads the filters (from the query string or a replay body).
func (s *Server) dlqQuery(c *gin.Context, get func(string) string) (dlq.Query, bool) {
	bad := func(d string) bool {
		writeProblem(c, problem(http.StatusBadRequest, "invalid_request", d))
		return false
	}
	q := dlq.Query{Client: get("client"), Flow: get("flow"), Kind: get("kind"), Code: get("code"), JobID: get("job")}
	if (q.Client != "" && !catalog.ValidID(q.Client)) || (q.Flow != "" && !catalog.ValidID(q.Flow)) {
		return q, bad("client and flow must be IDs")
	}
	if q.Kind != "" && q.Kind != dlq.KindJob && q.Kind != dlq.KindCallback {
		return q, bad("kind must be job or callback")
	}
	for name, dst := range map[string]*time.Time{"since": &q.Since, "until": &q.Until} {
		if v := get(name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return q, bad(name + " must be an RFC 3339 time")
			}
			*dst = t
		}
	}
	return q, true
}

// replayInput is the body of POST /admin/v1/dlq/replay: entry IDs, or a
// filter (as for the list, including "job": a job ID) selecting up to
// limit entries.
type replayInput struct {
	IDs    []string `json:"ids"`
	Client string   `json:"client"`
	Flow   string   `json:"flow"`
	Kind   string   `json:"kind"`
	Code   string   `json:"code"`
	Job    string   `json:"job"`
	Since  string   `json:"since"`
	Until  string   `json:"until"`
	Limit  int      `json:"limit"`
}

// replayDLQ is POST /admin/v1/dlq/replay: failed jobs start a new run
// (paced by the quotas like any job) and exhausted webhook deliveries go
// back to their endpoint with fresh attempts.
func (s *Server) replayDLQ(c *gin.Context) {
	var in replayInput
	if perr := readJSON(c, &in, false); perr != nil {
		writeProblem(c, perr)
		return
	}
	var seqs []uint64
	if len(in.IDs) > 0 {
		for _, id := range in.IDs {
			n, err := strconv.ParseUint(id, 10, 64)
			if err != nil || n == 0 {
				writeProblem(c, problem(http.StatusBadRequest, "invalid_request", "ids are DLQ entry ids"))
				return
			}
			seqs = append(seqs, n)
		}
	} else {
		fields := map[string]string{"client": in.Client, "flow": in.Flow, "kind": in.Kind, "code": in.Code, "job": in.Job, "since": in.Since, "until": in.Until}
		if in.Client == "" && in.Flow == "" && in.Kind == "" && in.Code == "" && in.Job == "" && in.Since == "" && in.Until == "" {
			writeProblem(c, problem(http.StatusBadRequest, "invalid_request", "give ids or at least one filter"))
			return
		}
		q, ok := s.dlqQuery(c, func(k string) string { return fields[k] })
		if !ok {
			return
		}
		q.Limit = in.Limit
		if q.Limit < 0 || q.Limit > 1000 {
			writeProblem(c, problem(http.StatusBadRequest, "invalid_request", "limit must be 1..1000"))
			return
		}
		page, err := dlq.List(c, s.deps.Resources.DLQ, q)
		if err != nil {
			writeProblem(c, &apiError{Status: http.StatusServiceUnavailable, Code: "unavailable", Detail: "the DLQ stream is unavailable", RetryAfter: 2})
			return
		}
		for _, e := range page.Items {
			n, _ := strconv.ParseUint(e.ID, 10, 64)
			seqs = append(seqs, n)
		}
	}
	res, err := dlq.Replay(c, s.deps.Resources.DLQ, seqs, dlq.Replayers{
		Job: s.deps.Jobs.ReplayRun,
		Delivery: func(ctx context.Context, t *cpibv1.Delivery, seq uint64) error {
			return delivery.Replay(ctx, s.deps.Resources.JS, t, seq)
		},
	})
	if err != nil {
		writeProblem(c, &apiError{Status: http.StatusServiceUnavailable, Code: "unavailable", Detail: "replay stopped: " + err.Error(), RetryAfter: 2})
		return
	}
	s.auditAdmin(c, audit.ActionDLQReplayed, "dlq", "replayed="+strconv.Itoa(len(res.Replayed))+" skipped="+strconv.Itoa(len(res.Skipped)))
	writeJSON(c.Writer, http.StatusOK, res)
}
