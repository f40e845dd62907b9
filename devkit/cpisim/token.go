package cpisim

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// audience tells which service-key plan a credential or token belongs to.
type audience int

const (
	audNone    audience = iota
	audRuntime          // integration-flow plan: may call /http/*
	audAPI              // api plan: may call /api/v1, not /http/*
)

// Scopes answered by the token endpoint. UNCONFIRMED (cpi.md 1.2): the
// runtime form follows SAP's example; the api form is modelled the same way
// with the api plan's role templates.
const (
	runtimeScope = "it-rt-cpisim!b1.ESBMessaging.send uaa.resource"
	apiScope     = "it!b1.MonitoringDataRead it!b1.WorkspacePackagesRead uaa.resource"
)

// tokenStore remembers issued opaque tokens with their audience and expiry.
type tokenStore struct {
	mu     sync.Mutex
	tokens map[string]tokenEntry
	issues int
}

type tokenEntry struct {
	aud     audience
	expires time.Time
}

// pruneEvery is how many issuances pass between sweeps of expired entries.
const pruneEvery = 1024

// issue creates a token valid until now+ttl.
func (t *tokenStore) issue(aud audience, now time.Time, ttl time.Duration) string {
	tok := randomToken(32)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.tokens == nil {
		t.tokens = make(map[string]tokenEntry)
	}
	t.issues++
	if t.issues%pruneEvery == 0 {
		for k, e := range t.tokens {
			if !now.Before(e.expires) {
				delete(t.tokens, k)
			}
		}
	}
	t.tokens[tok] = tokenEntry{aud: aud, expires: now.Add(ttl)}
	return tok
}

// lookup returns the audience of a token valid at now, or audNone.
func (t *tokenStore) lookup(tok string, now time.Time) audience {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.tokens[tok]
	if !ok {
		return audNone
	}
	if !now.Before(e.expires) {
		delete(t.tokens, tok)
		return audNone
	}
	return e.aud
}

// tokenResponse is XSUAA's client-credentials answer (cpi.md 1.2).
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope"`
	JTI         string `json:"jti"`
}

// oauthError is the UAA error body.
type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// maxTokenRequestBody bounds the form body of a token request.
const maxTokenRequestBody = 64 << 10

// serveToken implements POST /oauth/token, the XSUAA client-credentials
// grant. The client authenticates with HTTP Basic (the ID and secret may be
// form-encoded inside Basic, as RFC 6749 2.3.1 and golang.org/x/oauth2 do)
// or with client_id/client_secret form fields. grant_type is read from the
// form body or the query string. Like UAA, the client is authenticated
// before the grant is looked at. Config.XSUAA makes it stricter (no query
// string, one way of reading Basic, no form credentials).
//
// Tokens are opaque random strings, not the JWTs XSUAA issues; callers must
// not look inside them. The 405 for other methods is UNCONFIRMED.
func (s *Sim) serveToken(w http.ResponseWriter, r *http.Request) {
	s.tokenRequests.Add(1)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, oauthError{"method_not_allowed", fmt.Sprintf("Request method '%s' not supported", r.Method)})
		return
	}
	mode := s.cfg.XSUAA
	if mode.RejectQuery && r.URL.RawQuery != "" {
		s.log.Debug("cpisim token request refused: query string", "query_keys", len(r.URL.Query()))
		writeJSON(w, http.StatusBadRequest, oauthError{"invalid_request", "Parameters must be passed in the body of the request"})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxTokenRequestBody)
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, oauthError{"invalid_request", "Malformed request body"})
		return
	}
	id, secret, basic := r.BasicAuth()
	var aud audience
	switch {
	case basic:
		aud = s.basicAudience(id, secret, mode.Basic)
	case mode.RejectBodyCredentials:
		aud = audNone
	default:
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		aud = s.matchCredentials(id, secret)
	}
	if aud == audNone {
		w.Header().Set("WWW-Authenticate", `Basic realm="UAA/client", error="unauthorized", error_description="Bad credentials"`)
		writeJSON(w, http.StatusUnauthorized, oauthError{"unauthorized", "Bad credentials"})
		return
	}
	switch grant := r.Form.Get("grant_type"); grant {
	case "client_credentials":
	case "":
		writeJSON(w, http.StatusBadRequest, oauthError{"invalid_request", "Missing grant type"})
		return
	default:
		writeJSON(w, http.StatusBadRequest, oauthError{"unsupported_grant_type", "Unsupported grant type: " + grant})
		return
	}
	ttl, scope := s.cfg.RuntimeTokenTTL, runtimeScope
	if aud == audAPI {
		ttl, scope = s.cfg.APITokenTTL, apiScope
	}
	tok := s.tokens.issue(aud, s.cfg.Now(), ttl)
	s.log.Debug("cpisim token issued", "client_id", id, "api", aud == audAPI)
	writeJSON(w, http.StatusOK, tokenResponse{
		AccessToken: tok,
		TokenType:   "bearer",
		ExpiresIn:   int64(ttl/time.Second) - 1,
		Scope:       scope,
		JTI:         hex.EncodeToString(randomBytes(16)),
	})
}

// basicAudience checks HTTP Basic credentials the way mode says.
func (s *Sim) basicAudience(id, secret string, mode BasicMode) audience {
	switch mode {
	case BasicNoDecode:
		return s.matchCredentials(id, secret)
	case BasicDecode:
		uid, err1 := url.QueryUnescape(id)
		usecret, err2 := url.QueryUnescape(secret)
		if err1 != nil || err2 != nil {
			return audNone
		}
		return s.matchCredentials(uid, usecret)
	}
	return s.clientAudience(id, secret, true)
}

// clientAudience checks a client ID and secret against both service keys.
// When they came from HTTP Basic, their form-decoded forms are tried too.
func (s *Sim) clientAudience(id, secret string, maybeEncoded bool) audience {
	if aud := s.matchCredentials(id, secret); aud != audNone || !maybeEncoded {
		return aud
	}
	uid, err1 := url.QueryUnescape(id)
	usecret, err2 := url.QueryUnescape(secret)
	if err1 != nil || err2 != nil {
		return audNone
	}
	return s.matchCredentials(uid, usecret)
}

// matchCredentials compares in constant time per candidate key.
func (s *Sim) matchCredentials(id, secret string) audience {
	if id == "" {
		return audNone
	}
	if equal(id, s.cfg.RuntimeClientID) && equal(secret, s.cfg.RuntimeClientSecret) {
		return audRuntime
	}
	if equal(id, s.cfg.APIClientID) && equal(secret, s.cfg.APIClientSecret) {
		return audAPI
	}
	return audNone
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// randomBytes returns n bytes from crypto/rand.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand panics on a broken source)
	return b
}

// randomToken returns n random bytes, base64url without padding.
func randomToken(n int) string { return base64.RawURLEncoding.EncodeToString(randomBytes(n)) }

// writeJSON writes v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
