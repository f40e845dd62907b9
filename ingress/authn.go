package ingress

import (
	"net/http"

	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/internal/auth"
	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

const callerKey = "cpib.caller"

// caller is the authenticated client of a request.
type caller struct {
	principal auth.Principal
	client    catalog.Client
}

var errInvalidToken = &apiError{
	Status: http.StatusUnauthorized, Code: "invalid_token",
	Detail:    "a valid bearer token from POST /oauth/token is required",
	Challenge: `Bearer realm="cpibroker", error="invalid_token"`,
}

// authenticate verifies the bearer token and that its client exists and is
// enabled now (the catalog is a watched in-memory view: no KV read).
func (s *Server) authenticate() gin.HandlerFunc {
	return func(c *gin.Context) {
		tok, err := auth.BearerToken(c.GetHeader("Authorization"))
		if err != nil {
			writeProblem(c, errInvalidToken)
			return
		}
		p, err := s.deps.Verifier.Verify(tok)
		if err != nil {
			writeProblem(c, errInvalidToken)
			return
		}
		cl, ok := s.deps.Catalog.Client(p.ClientID)
		if !ok || !cl.Enabled {
			writeProblem(c, errInvalidToken)
			return
		}
		trace.SpanFromContext(c.Request.Context()).SetAttributes(attribute.String("client.id", cl.ID))
		c.Set(callerKey, caller{principal: p, client: cl})
		c.Next()
	}
}

func callerOf(c *gin.Context) caller {
	v, _ := c.Get(callerKey)
	cl, _ := v.(caller)
	return cl
}

// grantedFlow returns the flow if the caller may call it: granted to the
// client and inside the token's scope. Anything else is flow_not_found, so
// flows are not enumerable.
func (s *Server) grantedFlow(cl caller, id string) (catalog.Flow, *apiError) {
	if !catalog.ValidID(id) {
		return catalog.Flow{}, problem(http.StatusBadRequest, "invalid_name", "flow IDs match ^[a-z0-9][a-z0-9-]{0,62}$")
	}
	notFound := problem(http.StatusNotFound, "flow_not_found", "no such flow")
	if !cl.client.Granted(id) || !cl.principal.AllowsFlow(id) {
		return catalog.Flow{}, notFound
	}
	f, ok := s.deps.Catalog.Flow(id)
	if !ok {
		return catalog.Flow{}, notFound
	}
	return f, nil
}
