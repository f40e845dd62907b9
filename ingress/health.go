package ingress

import (
	"context"
	"net/http"

	"github.com/gin-gonic/gin"
)

// healthRoutes mounts GET /healthz (the process is alive) and GET /readyz
// (NATS, KV and the process's roles are ready), both unauthenticated JSON.
func (s *Server) healthRoutes(e *gin.Engine) {
	e.GET("/healthz", gin.WrapF(s.deps.Health.Healthz))
	e.GET("/readyz", gin.WrapF(s.deps.Health.Readyz))
}

// isProbe reports whether path is a health probe or a scrape (not traced).
func isProbe(path string) bool {
	return path == "/healthz" || path == "/readyz" || path == "/metrics"
}

// endWaitsOnDrain cancels the context of a long-poll (a request with
// ?wait=) when draining starts, so it answers the current state at once
// instead of holding the shutdown.
func (s *Server) endWaitsOnDrain() gin.HandlerFunc {
	return func(c *gin.Context) {
		if c.Request.Method != http.MethodGet || c.Query("wait") == "" {
			c.Next()
			return
		}
		ctx, cancel := context.WithCancel(c.Request.Context())
		defer cancel()
		stop := context.AfterFunc(s.drainCtx, cancel)
		defer stop()
		c.Request = c.Request.WithContext(ctx)
		c.Next()
	}
}
