package ingress

import (
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// countAccepted counts a submit that stored a new job (202, or the
// Prefer: wait answer of a job it stored), not idempotent replays.
func (s *Server) countAccepted() gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Next()
		h := c.Writer.Header()
		if !strings.HasPrefix(h.Get("Location"), "/v1/jobs/") || h.Get("Idempotent-Replayed") == "true" {
			return
		}
		s.deps.Metrics.Accepted(c.Request.Context(), callerOf(c).client.ID, c.Param("flow"))
	}
}

// accessLog logs every request: at info with Config.AccessLog, else at
// debug, and server errors (5xx other than 503 during a drain) at warn;
// with the method, route (the pattern, never the query), status,
// duration, client address and the client and job IDs when known. Never
// headers, query strings or bodies: they carry tokens and payloads.
func (s *Server) accessLog() gin.HandlerFunc {
	return func(c *gin.Context) {
		began := time.Now()
		c.Next()
		st := c.Writer.Status()
		level := slog.LevelDebug
		if s.cfg.AccessLog {
			level = slog.LevelInfo
		}
		if st >= 500 && !(st == http.StatusServiceUnavailable && s.draining.Load()) {
			level = slog.LevelWarn
		}
		ctx := c.Request.Context()
		if !s.log.Enabled(ctx, level) {
			return
		}
		attrs := []any{"method", c.Request.Method, "route", c.FullPath(), "status", st,
			"duration_ms", float64(time.Since(began).Microseconds()) / 1000, "source", c.ClientIP()}
		if cl := callerOf(c); cl.client.ID != "" {
			attrs = append(attrs, "client_id", cl.client.ID)
		}
		if f := c.Param("flow"); f != "" {
			attrs = append(attrs, "flow_id", f)
		}
		if id := jobIDOf(c); id != "" {
			attrs = append(attrs, "job_id", id)
		}
		s.log.Log(ctx, level, "http request", attrs...)
	}
}

// jobIDOf is the job a request concerns: the :id of /v1/jobs/{id}, or the
// job a submit created.
func jobIDOf(c *gin.Context) string {
	if strings.HasPrefix(c.FullPath(), "/v1/jobs/") {
		return c.Param("id")
	}
	if loc := c.Writer.Header().Get("Location"); strings.HasPrefix(loc, "/v1/jobs/") {
		return strings.TrimPrefix(loc, "/v1/jobs/")
	}
	return ""
}
