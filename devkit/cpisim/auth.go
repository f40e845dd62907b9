package cpisim

import (
	"net/http"
	"strings"
)

// authenticateRuntime checks the credentials of a /http/* request (cpi.md
// 1.2): a Bearer token issued for the runtime, or HTTP Basic with the runtime
// key's client ID and secret. It returns the audience of the presented
// credential (audNone when missing, unknown or expired) and the scheme used.
// A valid api-plan token or key is returned as audAPI; the caller answers 403
// for it (wrong role).
func (s *Sim) authenticateRuntime(r *http.Request) (audience, string) {
	h := r.Header.Get("Authorization")
	scheme, cred, _ := strings.Cut(h, " ")
	switch {
	case strings.EqualFold(scheme, "Bearer"):
		return s.tokens.lookup(strings.TrimSpace(cred), s.cfg.Now()), "Bearer"
	case strings.EqualFold(scheme, "Basic"):
		id, secret, ok := r.BasicAuth()
		if !ok {
			return audNone, "Basic"
		}
		return s.clientAudience(id, secret, true), "Basic"
	}
	return audNone, scheme
}

// writeUnauthorized answers 401. UNCONFIRMED (cpi.md 1.2): the body is
// empty and the challenge names the scheme that was tried.
func writeUnauthorized(w http.ResponseWriter, scheme string) {
	if scheme == "Bearer" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="cpisim", error="invalid_token"`)
	} else {
		w.Header().Set("WWW-Authenticate", `Basic realm="cpisim"`)
	}
	w.WriteHeader(http.StatusUnauthorized)
}
