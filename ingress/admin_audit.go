package ingress

import (
	"net/http"
	"regexp"
	"time"

	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/internal/audit"
	"github.com/gin-gonic/gin"
)

// actionPattern is a valid ?action= filter: an action, a family, or a
// family with ".>".
var actionPattern = regexp.MustCompile(`^[a-z_]+(\.[a-z_]+)?(\.>)?$`)

// listAudit is GET /admin/v1/audit?actor=&action=&since=&until=&limit=&cursor=.
// The cursor is the AUDIT stream sequence of the last item.
func (s *Server) listAudit(c *gin.Context) {
	bad := func(d string) { writeProblem(c, problem(http.StatusBadRequest, "invalid_request", d)) }
	q := audit.Query{Actor: c.Query("actor"), Action: c.Query("action")}
	if q.Actor != "" && !catalog.ValidID(q.Actor) {
		bad("actor must be a client ID")
		return
	}
	if q.Action != "" && !actionPattern.MatchString(q.Action) {
		bad("action must look like token.issued, client or client.>")
		return
	}
	for name, dst := range map[string]*time.Time{"since": &q.Since, "until": &q.Until} {
		if v := c.Query(name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				bad(name + " must be an RFC 3339 time")
				return
			}
			*dst = t
		}
	}
	var ok bool
	if q.Limit, q.After, ok = seqPageParams(c); !ok {
		return
	}
	page, err := audit.Read(c, s.deps.Resources.Audit, q)
	if err != nil {
		writeProblem(c, &apiError{Status: http.StatusServiceUnavailable, Code: "unavailable", Detail: "the audit stream is unavailable", RetryAfter: 2})
		return
	}
	writeSeqPage(c, page.Items, page.Next)
}
