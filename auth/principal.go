package auth

import (
	"strings"
	"time"
)

const (
	// ScopeAllFlows is the scope token for every flow the client is granted.
	ScopeAllFlows = "flow:*"
	// ScopeAdmin is the scope token that admits a token to the admin API.
	ScopeAdmin = "admin"
	// RoleAdmin is the client role that may obtain [ScopeAdmin].
	RoleAdmin = "admin"
	// flowScopePrefix starts every flow scope token.
	flowScopePrefix = "flow:"
)

// FlowScope returns the scope token for one flow, "flow:<id>".
func FlowScope(flowID string) string { return flowScopePrefix + flowID }

// Principal is the verified identity behind a bearer token.
type Principal struct {
	// ClientID is the client the token was issued to (sub).
	ClientID string
	// Scope is the token's scope, one scope token per element.
	Scope []string
	// ExpiresAt is the token's exp.
	ExpiresAt time.Time
	// TokenID is the token's jti, for audit; empty when the token has none.
	TokenID string
	// Generation is the client token generation the token was issued for
	// (claim "cgen"); empty for tokens without one. The verifier does not
	// judge it: the caller compares it with the live client's.
	Generation string
}

// AllowsFlow reports whether the token's scope allows flow id: the scope
// holds "flow:*" (all of the client's grants) or "flow:<id>". It looks at the
// scope only; the caller must also check that the client holds a grant for
// the flow at request time. An id that is not a valid flow ID is never
// allowed.
func (p Principal) AllowsFlow(id string) bool {
	if !validID(id) {
		return false
	}
	for _, s := range p.Scope {
		if f, ok := strings.CutPrefix(s, flowScopePrefix); ok && (f == "*" || f == id) {
			return true
		}
	}
	return false
}

// HasScope reports whether the token's scope holds the scope token s.
func (p Principal) HasScope(s string) bool {
	for _, have := range p.Scope {
		if have == s {
			return true
		}
	}
	return false
}
