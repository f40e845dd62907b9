package cpisim

import (
	"encoding/hex"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Session cookie names. JSESSIONID is the servlet container's session;
// __VCAP_ID__ is Cloud Foundry's sticky-session cookie, which the gorouter
// adds whenever an app sets JSESSIONID. Both names are UNCONFIRMED for the
// "-rt" host (cpi.md 1.3). The cookies carry Path=/ and HttpOnly, and Secure
// only when the request came over TLS (a Secure cookie would never be sent
// back over plain-HTTP loopback).
const (
	sessionCookie = "JSESSIONID"
	vcapCookie    = "__VCAP_ID__"
)

// csrfHeader is the request and response header of the CSRF protocol.
const csrfHeader = "X-CSRF-Token"

// session is one HTTP session; it holds one CSRF token per iFlow, because a
// token fetched from one iFlow is not valid for another (cpi.md 1.3).
type session struct {
	tokens   map[string]string // iFlow ID -> token
	lastUsed time.Time
}

// sessionStore holds the sessions, expiring them after an idle TTL.
type sessionStore struct {
	mu       sync.Mutex
	sessions map[string]*session
	ttl      time.Duration
	ops      int
}

// fetch returns the CSRF token of iflowID in the session named by the
// request's cookie, creating the session (created=true) when the cookie is
// absent, unknown or expired, and the token when the session has none yet.
func (st *sessionStore) fetch(cookie, iflowID string, now time.Time) (sessionID, token string, created bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.pruneLocked(now)
	sess := st.liveLocked(cookie, now)
	if sess == nil {
		cookie = strings.ToUpper(hex.EncodeToString(randomBytes(16)))
		sess = &session{tokens: make(map[string]string)}
		st.sessions[cookie] = sess
		created = true
	}
	sess.lastUsed = now
	tok, ok := sess.tokens[iflowID]
	if !ok {
		tok = strings.ToUpper(hex.EncodeToString(randomBytes(16)))
		sess.tokens[iflowID] = tok
	}
	return cookie, tok, created
}

// valid reports whether token is the CSRF token of iflowID in the live
// session named by cookie, and touches the session if so.
func (st *sessionStore) valid(cookie, iflowID, token string, now time.Time) bool {
	if cookie == "" || token == "" {
		return false
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	sess := st.liveLocked(cookie, now)
	if sess == nil {
		return false
	}
	want, ok := sess.tokens[iflowID]
	if !ok || !equal(want, token) {
		return false
	}
	sess.lastUsed = now
	return true
}

// liveLocked returns the session named id unless it is missing or idle for
// longer than the TTL (then it is deleted).
func (st *sessionStore) liveLocked(id string, now time.Time) *session {
	if st.sessions == nil {
		st.sessions = make(map[string]*session)
	}
	sess, ok := st.sessions[id]
	if !ok {
		return nil
	}
	if now.Sub(sess.lastUsed) >= st.ttl {
		delete(st.sessions, id)
		return nil
	}
	return sess
}

// pruneLocked sweeps idle sessions every pruneEvery fetches.
func (st *sessionStore) pruneLocked(now time.Time) {
	st.ops++
	if st.ops%pruneEvery != 0 {
		return
	}
	for id, sess := range st.sessions {
		if now.Sub(sess.lastUsed) >= st.ttl {
			delete(st.sessions, id)
		}
	}
}

// isCSRFFetch reports whether r asks for a CSRF token: GET or HEAD with
// "X-CSRF-Token: Fetch" (case-insensitive).
func isCSRFFetch(r *http.Request) bool {
	return (r.Method == http.MethodGet || r.Method == http.MethodHead) && strings.EqualFold(r.Header.Get(csrfHeader), "fetch")
}

// needsCSRF reports whether r's method modifies state and so must carry a
// valid CSRF token on a protected endpoint.
func needsCSRF(method string) bool {
	switch method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return true
	}
	return false
}

// serveCSRFFetch answers a token fetch: 200, the token in X-CSRF-Token, the
// session cookies when a new session was created; the flow does not run.
func (s *Sim) serveCSRFFetch(w http.ResponseWriter, r *http.Request, f *flow) {
	var cookie string
	if c, err := r.Cookie(sessionCookie); err == nil {
		cookie = c.Value
	}
	id, tok, created := s.sessions.fetch(cookie, f.ID, s.cfg.Now())
	if created {
		secure := r.TLS != nil
		http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: id, Path: "/", HttpOnly: true, Secure: secure})
		http.SetCookie(w, &http.Cookie{Name: vcapCookie, Value: hex.EncodeToString(randomBytes(14)), Path: "/", HttpOnly: true, Secure: secure})
	}
	w.Header().Set(csrfHeader, tok)
	w.WriteHeader(http.StatusOK)
	s.history(f.ID).addFetch()
}

// csrfValid reports whether a modifying request carries the CSRF token of
// f's endpoint bound to its session cookie.
func (s *Sim) csrfValid(r *http.Request, f *flow) bool {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return false
	}
	return s.sessions.valid(c.Value, f.ID, r.Header.Get(csrfHeader), s.cfg.Now())
}
