package ingress

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cpibroker/cpibroker/jobs"
	cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"
	"github.com/gin-gonic/gin"
)

// preferWait reads the wait preference of RFC 7240 Prefer headers
// ("Prefer: wait=10", also among other preferences and parameters). It
// is capped at max; a missing, zero or malformed wait is no preference.
func preferWait(values []string, max time.Duration) (time.Duration, bool) {
	for _, v := range values {
		for pref := range strings.SplitSeq(v, ",") {
			tok, _, _ := strings.Cut(pref, ";")
			name, val, ok := strings.Cut(strings.TrimSpace(tok), "=")
			if !ok || !strings.EqualFold(strings.TrimSpace(name), "wait") {
				continue
			}
			n, err := strconv.Atoi(strings.Trim(strings.TrimSpace(val), `"`))
			if err != nil || n <= 0 {
				return 0, false
			}
			return min(time.Duration(n)*time.Second, max), true
		}
	}
	return 0, false
}

// answerWhenDone implements Prefer: wait=N on submit (DESIGN 2.5): if the
// job ends within wait, it answers what GET /v1/jobs/{id}/result would
// (or the job resource with 200 when the run ended without a CPI
// response), with Location, Job-Id and Preference-Applied, and reports
// true. Otherwise it answers nothing and the caller sends the usual 202.
func (s *Server) answerWhenDone(c *gin.Context, rec *cpibv1.JobRecord, wait time.Duration) bool {
	if !jobs.Terminal(rec.GetStatus()) {
		_ = http.NewResponseController(c.Writer).SetWriteDeadline(time.Now().Add(wait + s.cfg.WriteTimeout))
		ctx, cancel := context.WithTimeout(c.Request.Context(), wait)
		last, err := s.deps.Jobs.WaitTerminal(ctx, rec.GetId())
		cancel()
		if err != nil || last == nil || !jobs.Terminal(last.GetStatus()) {
			return false
		}
		rec = last
	}
	c.Header("Job-Id", rec.GetId())
	c.Header("Preference-Applied", "wait="+strconv.Itoa(int(wait/time.Second)))
	c.Header("X-Content-Type-Options", "nosniff")
	if rec.GetResult() == nil {
		writeJSON(c.Writer, http.StatusOK, s.resource(rec))
		return true
	}
	s.writeResult(c, http.StatusOK, rec)
	return true
}
