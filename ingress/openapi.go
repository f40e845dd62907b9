package ingress

import (
	"net/http"

	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/catalog/openapi"
	"github.com/gin-gonic/gin"
)

// openAPI is GET /v1/openapi.json: the OpenAPI 3.1 document of the partner
// API for the calling client, with one submit operation per flow it may
// call (its grants, narrowed by its token's scope).
func (s *Server) openAPI(c *gin.Context) {
	cl := callerOf(c)
	var flows []catalog.Flow
	for _, f := range s.deps.Catalog.Flows() {
		if cl.client.Granted(f.ID) && cl.principal.AllowsFlow(f.ID) {
			flows = append(flows, f)
		}
	}
	b, err := openapi.Generate(openapi.Info{ServerURL: s.cfg.PublicURL, ClientID: cl.client.ID, ClientName: cl.client.Name}, flows)
	if err != nil {
		writeProblem(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Data(http.StatusOK, "application/json", b)
}

// adminOpenAPI is GET /admin/v1/openapi.json: the OpenAPI 3.1 document of
// the admin API.
func (s *Server) adminOpenAPI(c *gin.Context) {
	b, err := openapi.GenerateAdmin(s.cfg.PublicURL)
	if err != nil {
		writeProblem(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Data(http.StatusOK, "application/json", b)
}
