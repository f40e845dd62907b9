package ingress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/cpibroker/cpibroker/auth"
	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/internal/audit"
	"github.com/gin-gonic/gin"
)

// clientAuthenticator checks client secrets against the catalog.
type clientAuthenticator struct{ cat *catalog.Store }

func (a clientAuthenticator) Authenticate(_ context.Context, id, secret string) (auth.ClientInfo, error) {
	c, err := a.cat.VerifySecret(id, secret)
	if errors.Is(err, catalog.ErrInvalidCredentials) {
		return auth.ClientInfo{}, fmt.Errorf("%w: %w", auth.ErrInvalidClient, err)
	}
	if err != nil {
		return auth.ClientInfo{}, err
	}
	return auth.ClientInfo{ID: c.ID, Grants: c.Grants, Roles: c.Roles, Generation: c.TokenGeneration}, nil
}

// tokenRoutes serves the OAuth 2.0 token endpoint, JWKS and RFC 8414
// metadata.
func (s *Server) tokenRoutes(e *gin.Engine) error {
	h, err := auth.NewTokenHandler(auth.TokenHandlerConfig{
		Issuer: s.deps.Issuer, Clients: clientAuthenticator{s.deps.Catalog},
		Limiter: s.deps.Limiter, Now: s.cfg.Now,
		OnIssued: func(r *http.Request, clientID string, tok auth.Token) {
			s.deps.Audit.Record(audit.Event{
				Actor: clientID, Action: audit.ActionTokenIssued, Target: clientID, Source: hostOf(r.RemoteAddr),
				Outcome: audit.OutcomeSuccess, Detail: "jti=" + tok.JTI + " scope=" + strings.Join(tok.Scope, " "),
			})
		},
		OnRefused: func(r *http.Request, clientID, code string) {
			s.deps.Audit.Record(audit.Event{
				Actor: clientID, Action: audit.ActionTokenRefused, Target: clientID, Source: hostOf(r.RemoteAddr),
				Outcome: audit.OutcomeFailure, Detail: code,
			})
		},
	})
	if err != nil {
		return fmt.Errorf("ingress: token endpoint: %w", err)
	}
	meta, err := auth.MetadataJSON(s.cfg.PublicURL)
	if err != nil {
		return fmt.Errorf("ingress: metadata: %w", err)
	}
	e.Any("/oauth/token", func(c *gin.Context) {
		// The failure limiter and audit count per source address: behind a
		// trusted proxy that is the forwarded client, not the proxy.
		c.Request.RemoteAddr = net.JoinHostPort(c.ClientIP(), "0")
		h.ServeHTTP(c.Writer, c.Request)
	})
	e.GET("/.well-known/jwks.json", func(c *gin.Context) {
		c.Header("Cache-Control", "public, max-age=300")
		c.Data(http.StatusOK, "application/json", s.deps.JWKS())
	})
	e.GET("/.well-known/oauth-authorization-server", func(c *gin.Context) {
		c.Data(http.StatusOK, "application/json", meta)
	})
	return nil
}

// hostOf strips the port of a host:port address.
func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}
