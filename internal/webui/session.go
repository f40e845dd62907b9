package webui

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Session is one signed-in browser.
type Session struct {
	// ID is the cookie value (256 random bits).
	ID string
	// CSRF is the token every form of the session carries.
	CSRF string
	// Token is the client's access token; Client its ID.
	Token, Client string
	// Expires is when the token (and so the session) ends.
	Expires time.Time

	mu    sync.Mutex
	flash string
}

// Flash stores a one-time message for the next page.
func (s *Session) Flash(msg string) {
	s.mu.Lock()
	s.flash = msg
	s.mu.Unlock()
}

// TakeFlash returns and clears the one-time message.
func (s *Session) TakeFlash() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.flash
	s.flash = ""
	return m
}

// Sessions keeps the sessions of one app in memory: a restart or another
// ingress process signs the browser out (sign in again, or keep a load
// balancer's session affinity).
type Sessions struct {
	// Cookie is the cookie name; Path its path (the app's base).
	Cookie, Path string
	// Max bounds how many sessions are kept; the oldest is dropped first.
	Max int
	// Now is the clock.
	Now func() time.Time

	mu   sync.Mutex
	byID map[string]*Session
}

// NewSessions returns an empty store.
func NewSessions(cookie, path string, max int, now func() time.Time) *Sessions {
	if max < 1 {
		max = 10_000
	}
	if now == nil {
		now = time.Now
	}
	return &Sessions{Cookie: cookie, Path: path, Max: max, Now: now, byID: map[string]*Session{}}
}

func random() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Start makes a session for a signed-in client and sets its cookie:
// HttpOnly, SameSite=Strict, Secure unless the page was asked for on a
// loopback host over plain HTTP.
func (s *Sessions) Start(w http.ResponseWriter, r *http.Request, client string, t Token) *Session {
	now := s.Now()
	exp := now.Add(time.Duration(t.ExpiresIn) * time.Second)
	if t.ExpiresIn <= 0 {
		exp = now.Add(time.Hour)
	}
	sess := &Session{ID: random(), CSRF: random(), Token: t.AccessToken, Client: client, Expires: exp}
	s.mu.Lock()
	for id, old := range s.byID {
		if !now.Before(old.Expires) {
			delete(s.byID, id)
		}
	}
	for len(s.byID) >= s.Max {
		var oldest *Session
		for _, o := range s.byID {
			if oldest == nil || o.Expires.Before(oldest.Expires) {
				oldest = o
			}
		}
		delete(s.byID, oldest.ID)
	}
	s.byID[sess.ID] = sess
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{
		Name: s.Cookie, Value: sess.ID, Path: s.Path, Expires: exp, MaxAge: int(exp.Sub(now).Seconds()),
		HttpOnly: true, Secure: SecureCookie(r), SameSite: http.SameSiteStrictMode,
	})
	return sess
}

// Get returns the request's live session, or nil.
func (s *Sessions) Get(r *http.Request) *Session {
	c, err := r.Cookie(s.Cookie)
	if err != nil || c.Value == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sess := s.byID[c.Value]
	if sess == nil {
		return nil
	}
	if !s.Now().Before(sess.Expires) {
		delete(s.byID, sess.ID)
		return nil
	}
	return sess
}

// End removes the request's session and clears its cookie.
func (s *Sessions) End(w http.ResponseWriter, r *http.Request) {
	if sess := s.Get(r); sess != nil {
		s.mu.Lock()
		delete(s.byID, sess.ID)
		s.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: s.Cookie, Value: "", Path: s.Path, MaxAge: -1,
		HttpOnly: true, Secure: SecureCookie(r), SameSite: http.SameSiteStrictMode})
}

// SecureCookie is false only for plain HTTP on a loopback host (the demo
// and tests): browsers do not store Secure cookies from http:// pages.
func SecureCookie(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return false
	}
	ip := net.ParseIP(host)
	return ip == nil || !ip.IsLoopback()
}

// ValidForm checks a state-changing request: same-origin (the Origin or
// Referer header, when the browser sends one, names this host) and, for a
// signed-in session, the form's csrf field.
func ValidForm(r *http.Request, sess *Session) bool {
	if !SameOrigin(r) {
		return false
	}
	if sess == nil {
		return true
	}
	got := r.PostFormValue("csrf")
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(sess.CSRF)) == 1
}

// SameOrigin reports whether the request's Origin (or else Referer) is
// this host; a request with neither passes (the CSRF token decides).
func SameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" || o == "null" {
		if ref := r.Header.Get("Referer"); ref != "" {
			o = ref
		} else {
			return o == ""
		}
	}
	o = strings.TrimPrefix(strings.TrimPrefix(o, "https://"), "http://")
	if i := strings.IndexByte(o, '/'); i >= 0 {
		o = o[:i]
	}
	return strings.EqualFold(o, r.Host)
}
