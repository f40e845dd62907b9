package auth

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// errInvalidScope is the reason a requested scope is refused.
var errInvalidScope = errors.New("invalid scope")

// errNotAdmin is the refusal of the admin scope to a client without the
// admin role (its own roles: nothing is disclosed to anyone else).
var errNotAdmin = fmt.Errorf("%w: the client lacks the admin role", errInvalidScope)

// validScopeToken reports whether s is an RFC 6749 §3.3 scope-token:
// 1*( %x21 / %x23-5B / %x5D-7E ).
func validScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// splitScope splits a space-separated scope value, skipping empty tokens
// (repeated spaces are tolerated).
func splitScope(s string) []string {
	var out []string
	for tok := range strings.SplitSeq(s, " ") {
		if tok != "" {
			out = append(out, tok)
		}
	}
	return out
}

// grantScope decides the scope of a token for client c from the requested
// scope value (the form field; empty means not requested).
//
// Without a request the client gets "flow:*", plus "admin" when it has the
// admin role. A request may name "flow:*", "flow:<id>" for any id in the
// client's grants, and "admin" for admin clients; anything else fails with
// errInvalidScope. The result is deduplicated, keeps the request's order,
// and drops "flow:<id>" tokens made redundant by "flow:*".
func grantScope(requested string, c ClientInfo) ([]string, error) {
	isAdmin := slices.Contains(c.Roles, RoleAdmin)
	toks := splitScope(requested)
	if len(toks) == 0 {
		if isAdmin {
			return []string{ScopeAllFlows, ScopeAdmin}, nil
		}
		return []string{ScopeAllFlows}, nil
	}
	all := slices.Contains(toks, ScopeAllFlows)
	out := make([]string, 0, len(toks))
	for _, t := range toks {
		switch flow, isFlow := strings.CutPrefix(t, flowScopePrefix); {
		case t == ScopeAllFlows:
		case t == ScopeAdmin:
			if !isAdmin {
				return nil, errNotAdmin
			}
		case isFlow && validID(flow) && slices.Contains(c.Grants, flow):
			if all {
				continue
			}
		default:
			return nil, errInvalidScope
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, nil
}
