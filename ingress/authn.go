package ingress

import (
	"errors"
	"net/http"

	"github.com/cpibroker/cpibroker/auth"
	"github.com/cpibroker/cpibroker/auth/idp"
	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/internal/audit"
	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

const callerKey = "cpib.caller"

// errExpiredToken is the 401 of a token of this broker that has expired
// (RFC 6750 §3: error_description in the challenge, detail in the body).
var errExpiredToken = &apiError{
	Status: http.StatusUnauthorized, Code: "invalid_token",
	Detail:    "the bearer token has expired; get a new one from POST /oauth/token",
	Challenge: `Bearer realm="cpibroker", error="invalid_token", error_description="the access token expired"`,
}

// caller is the authenticated client of a request.
type caller struct {
	principal auth.Principal
	client    catalog.Client
	// source is the client's address (X-Forwarded-For from trusted
	// proxies only), for audit.
	source string
}

var errInvalidToken = &apiError{
	Status: http.StatusUnauthorized, Code: "invalid_token",
	Detail:    "a valid bearer token from POST /oauth/token is required",
	Challenge: `Bearer realm="cpibroker", error="invalid_token"`,
}

// authenticate verifies the bearer token and that its client exists and is
// enabled now (the catalog is a watched in-memory view: no KV read). A
// broker token must carry the client's current token generation
// (catalog.Client.TokenGeneration). Tokens
// of the broker are tried first (cached); tokens whose issuer is a
// configured external IdP are verified against that IdP's JWK Set.
func (s *Server) authenticate() gin.HandlerFunc {
	return func(c *gin.Context) {
		src := c.ClientIP()
		tok, err := auth.BearerToken(c.GetHeader("Authorization"))
		if err != nil {
			s.deny(c, "", src, err.Error())
			return
		}
		p, err := s.deps.Verifier.Verify(tok)
		var cl catalog.Client
		ok := false
		if err == nil {
			cl, ok = s.deps.Catalog.Client(p.ClientID)
			if ok && p.Generation != cl.TokenGeneration {
				// Issued to an earlier incarnation of the client, or before
				// a secret rotation without overlap.
				s.deny(c, p.ClientID, src, "token of a retired client generation")
				return
			}
		} else if ip := s.externalIdP(tok); ip != nil {
			p, cl, ok, err = s.verifyExternal(c, ip, tok)
		}
		if err != nil {
			if errors.Is(err, auth.ErrTokenExpired) {
				// Only the holder of a once valid token of ours gets here.
				s.denyWith(c, "", src, err.Error(), errExpiredToken)
				return
			}
			s.deny(c, "", src, err.Error())
			return
		}
		if !ok || !cl.Enabled {
			s.deny(c, p.ClientID, src, "client unknown or disabled")
			return
		}
		trace.SpanFromContext(c.Request.Context()).SetAttributes(attribute.String("client.id", cl.ID))
		c.Set(callerKey, caller{principal: p, client: cl, source: src})
		c.Next()
	}
}

// deny answers 401 invalid_token and audits it. reason never holds the
// token (the verifiers' messages are fixed phrases).
func (s *Server) deny(c *gin.Context, actor, src, reason string) {
	s.denyWith(c, actor, src, reason, errInvalidToken)
}

// denyWith is deny with the 401 to answer.
func (s *Server) denyWith(c *gin.Context, actor, src, reason string, answer *apiError) {
	s.deps.Audit.Record(audit.Event{
		Actor: actor, Action: audit.ActionAuthnDenied, Target: c.FullPath(), Source: src,
		Outcome: audit.OutcomeFailure, Detail: reason,
	})
	writeProblem(c, answer)
}

// externalIdP returns the configured IdP whose issuer the token names.
func (s *Server) externalIdP(tok string) *idp.Provider {
	if len(s.deps.IdPs) == 0 {
		return nil
	}
	iss := idp.PeekIssuer(tok)
	for _, p := range s.deps.IdPs {
		if iss != "" && p.Issuer() == iss {
			return p
		}
	}
	return nil
}

// verifyExternal verifies an IdP token and maps its client claim to a
// registered client through the client's external_ids. The token gets the
// scope of every grant ("flow:*") and "admin"; what it may do is decided by
// the client's grants and roles at request time.
func (s *Server) verifyExternal(c *gin.Context, p *idp.Provider, tok string) (auth.Principal, catalog.Client, bool, error) {
	id, err := p.Verify(c.Request.Context(), tok)
	if err != nil {
		return auth.Principal{}, catalog.Client{}, false, err
	}
	cl, ok := s.deps.Catalog.ClientByExternalID(id.Client)
	pr := auth.Principal{
		ClientID: cl.ID, Scope: []string{auth.ScopeAllFlows, auth.ScopeAdmin},
		ExpiresAt: id.ExpiresAt, TokenID: id.TokenID,
	}
	return pr, cl, ok, nil
}

func callerOf(c *gin.Context) caller {
	v, _ := c.Get(callerKey)
	cl, _ := v.(caller)
	return cl
}

// grantedFlow returns the flow if the caller may call it: granted to the
// client and inside the token's scope. Anything else is flow_not_found, so
// flows are not enumerable; a denial is audited.
func (s *Server) grantedFlow(cl caller, id string) (catalog.Flow, *apiError) {
	if !catalog.ValidID(id) {
		return catalog.Flow{}, problem(http.StatusBadRequest, "invalid_name", "flow IDs match ^[a-z0-9][a-z0-9-]{0,62}$")
	}
	notFound := func() *apiError { return problem(http.StatusNotFound, "flow_not_found", "no such flow") }
	if !cl.client.Granted(id) || !cl.principal.AllowsFlow(id) {
		reason := "flow not granted"
		if cl.client.Granted(id) {
			reason = "flow outside the token's scope"
		}
		s.deps.Audit.Record(audit.Event{
			Actor: cl.client.ID, Action: audit.ActionAuthzDenied, Target: "flow:" + id, Source: cl.source,
			Outcome: audit.OutcomeFailure, Detail: reason,
		})
		return catalog.Flow{}, notFound()
	}
	f, ok := s.deps.Catalog.Flow(id)
	if !ok {
		return catalog.Flow{}, notFound()
	}
	return f, nil
}
