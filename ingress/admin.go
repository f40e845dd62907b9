package ingress

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/cpibroker/cpibroker/catalog"
	"github.com/gin-gonic/gin"
)

// maxAdminBody bounds admin request bodies.
const maxAdminBody = 1 << 20

// adminRoutes mounts /admin/v1 (already behind authenticate and
// requireAdmin).
func (s *Server) adminRoutes(g *gin.RouterGroup) {
	g.POST("/clients", s.createClient)
	g.GET("/clients", s.listClients)
	g.GET("/clients/:id", s.getClient)
	g.PATCH("/clients/:id", s.patchClient)
	g.DELETE("/clients/:id", s.deleteClient)
	g.POST("/clients/:id/rotate-secret", s.rotateSecret)
	g.POST("/clients/:id/rotate-webhook-secret", s.rotateWebhookSecret)
	g.GET("/audit", s.listAudit)
	g.GET("/keys", s.listKeys)
	g.POST("/keys/rotate", s.rotateKey)
	s.providerRoutes(g)
	s.flowRoutes(g)
	g.GET("/dlq", s.listDLQ)
	g.POST("/dlq/replay", s.replayDLQ)
	g.GET("/breakers", s.listBreakers)
	g.GET("/jobs", s.listAdminJobs)
	g.GET("/jobs/:id", s.getAdminJob)
	g.GET("/jobs/:id/deliveries", s.getAdminDeliveries)
	g.GET("/jobs/:id/attempts", s.getAdminAttempts)
	g.POST("/jobs/:id/deliveries/resend", s.resendAdminDeliveries)
	g.POST("/breakers/:id/reset", s.resetBreaker)
	s.sequenceRoutes(g)
	g.GET("/openapi.json", s.adminOpenAPI)
}

// readJSON decodes the request body strictly into v (which may carry
// defaults). An empty body is allowed when emptyOK, leaving v as is.
func readJSON(c *gin.Context, v any, emptyOK bool) *apiError {
	b, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxAdminBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return problem(http.StatusRequestEntityTooLarge, "payload_too_large", "admin request bodies are limited to 1 MiB")
		}
		return problem(http.StatusBadRequest, "invalid_request", "could not read the request body")
	}
	if len(b) == 0 && emptyOK {
		return nil
	}
	if err := catalog.DecodeStrict(b, v); err != nil {
		return problem(http.StatusBadRequest, "invalid_request", "invalid JSON body: "+err.Error())
	}
	return nil
}

// pathID validates the :id parameter.
func pathID(c *gin.Context) (string, bool) {
	id := c.Param("id")
	if !catalog.ValidID(id) {
		writeProblem(c, problem(http.StatusBadRequest, "invalid_name", "IDs match ^[a-z0-9][a-z0-9-]{0,62}$"))
		return "", false
	}
	return id, true
}

// pageParams reads ?limit= (1..1000, default 100) and ?cursor=.
func pageParams(c *gin.Context) (int, string, bool) {
	limit := 100
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			writeProblem(c, problem(http.StatusBadRequest, "invalid_request", "limit must be 1..1000"))
			return 0, "", false
		}
		limit = n
	}
	return limit, c.Query("cursor"), true
}

// strictQuery refuses a query string that does not parse (net/url drops
// such pairs silently, so ?cursor=%%% would read as no cursor).
func strictQuery() gin.HandlerFunc {
	return func(c *gin.Context) {
		if _, err := url.ParseQuery(c.Request.URL.RawQuery); err != nil {
			writeProblem(c, problem(http.StatusBadRequest, "invalid_request", "the query string is malformed: "+err.Error()))
			c.Abort()
			return
		}
		c.Next()
	}
}

// invalid maps a validation error to 400.
func invalid(err error) *apiError {
	return problem(http.StatusBadRequest, "invalid_request", err.Error())
}

// seqPageParams reads ?limit= and a stream-sequence ?cursor= (the
// next_cursor of a previous page of a stream listing).
func seqPageParams(c *gin.Context) (limit int, after uint64, ok bool) {
	limit, cursor, ok := pageParams(c)
	if !ok || cursor == "" {
		return limit, 0, ok
	}
	n, err := strconv.ParseUint(cursor, 10, 64)
	if err != nil {
		writeProblem(c, problem(http.StatusBadRequest, "invalid_request", "cursor must come from next_cursor"))
		return 0, 0, false
	}
	return limit, n, true
}

// writeSeqPage answers a stream listing; next 0 means the end.
func writeSeqPage[T any](c *gin.Context, items []T, next uint64) {
	out := listPage[T]{Items: items}
	if next > 0 {
		out.NextCursor = strconv.FormatUint(next, 10)
	}
	writeJSON(c.Writer, http.StatusOK, out)
}
