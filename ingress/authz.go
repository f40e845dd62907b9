package ingress

import (
	"net/http"

	"github.com/cpibroker/cpibroker/auth"
	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/internal/audit"
	"github.com/gin-gonic/gin"
)

// requireAdmin lets only admin tokens through: the client has the admin
// role now (live catalog) and the token's scope holds "admin". Anything
// else is 403 forbidden, audited.
func (s *Server) requireAdmin() gin.HandlerFunc {
	return func(c *gin.Context) {
		cl := callerOf(c)
		if !cl.client.HasRole(catalog.RoleAdmin) || !cl.principal.HasScope(auth.ScopeAdmin) {
			s.deps.Audit.Record(audit.Event{
				Actor: cl.client.ID, Action: audit.ActionAuthzDenied, Target: c.Request.Method + " " + c.FullPath(),
				Source: cl.source, Outcome: audit.OutcomeFailure, Detail: "admin role and scope required",
			})
			writeProblem(c, problem(http.StatusForbidden, "forbidden", "this API needs a token of a client with the admin role"))
			return
		}
		c.Next()
	}
}
