package cpiclient

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"sync"

	"golang.org/x/sync/singleflight"
)

// maxCSRFSessions bounds the per-flow-URL sessions kept; past it an
// arbitrary one is forgotten (and fetched again when next used).
const maxCSRFSessions = 4096

// csrfSession is the CSRF state of one flow URL: the token and the session
// cookies it is bound to. A token is valid for one iFlow only (cpi.md 1.3),
// so sessions are never shared across flow URLs.
type csrfSession struct {
	u *url.URL

	mu    sync.Mutex
	jar   *cookiejar.Jar
	token string
	have  bool // a fetch answered 2xx; token may be "" (endpoint sent none)
}

// state returns the cached token and whether there is one.
func (s *csrfSession) state() (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.token, s.have
}

// cookies returns the session cookies to send to u.
func (s *csrfSession) cookies() []*http.Cookie {
	s.mu.Lock()
	jar := s.jar
	s.mu.Unlock()
	return jar.Cookies(s.u)
}

// keepCookies stores the cookies of a response.
func (s *csrfSession) keepCookies(resp *http.Response) {
	if cs := resp.Cookies(); len(cs) > 0 {
		s.mu.Lock()
		jar := s.jar
		s.mu.Unlock()
		jar.SetCookies(s.u, cs)
	}
}

// set stores a fetched token.
func (s *csrfSession) set(token string) {
	s.mu.Lock()
	s.token, s.have = token, true
	s.mu.Unlock()
}

// invalidate forgets token and its session cookies, if token is still the
// cached one (a 403 answered it).
func (s *csrfSession) invalidate(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.have && s.token == token {
		s.token, s.have = "", false
		s.jar = newJar()
	}
}

// csrfStore holds the sessions by flow URL.
type csrfStore struct {
	mu       sync.Mutex
	sessions map[string]*csrfSession
	flight   singleflight.Group
}

// session returns the session of the flow URL u (without query), creating it.
func (st *csrfStore) session(u *url.URL) *csrfSession {
	key := u.String()
	st.mu.Lock()
	defer st.mu.Unlock()
	if s, ok := st.sessions[key]; ok {
		return s
	}
	if st.sessions == nil {
		st.sessions = make(map[string]*csrfSession)
	}
	if len(st.sessions) >= maxCSRFSessions {
		for k := range st.sessions {
			delete(st.sessions, k)
			break
		}
	}
	s := &csrfSession{u: u, jar: newJar()}
	st.sessions[key] = s
	return s
}

// csrfFetchResult is what a shared fetch yields: a token, or the flow's
// non-2xx answer to the fetch.
type csrfFetchResult struct {
	token string
	resp  *Response
}

// token returns the CSRF token of sess, fetching it (shared by concurrent
// callers) when there is none. A non-2xx answer to the fetch is returned as
// a Response for the caller to pass on.
func (c *Client) csrfToken(ctx context.Context, sess *csrfSession, auth string) (string, *Response, error) {
	stale, have := sess.state()
	if have {
		return stale, nil, nil
	}
	ch := c.csrf.flight.DoChan(sess.u.String(), func() (any, error) {
		if tok, have := sess.state(); have {
			return csrfFetchResult{token: tok}, nil
		}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.FetchTimeout)
		defer cancel()
		return c.fetchCSRF(ctx, sess, auth)
	})
	select {
	case <-ctx.Done():
		return "", nil, ctx.Err()
	case res := <-ch:
		if res.Err != nil {
			return "", nil, res.Err
		}
		r := res.Val.(csrfFetchResult)
		return r.token, r.resp.clone(), nil
	}
}

// fetchCSRF sends GET <flow URL> with "X-CSRF-Token: Fetch" and keeps the
// token and the session cookies.
func (c *Client) fetchCSRF(ctx context.Context, sess *csrfSession, auth string) (csrfFetchResult, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, sess.u.String(), nil)
	if err != nil {
		return csrfFetchResult{}, err
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	req.Header.Set(headerCSRF, "Fetch")
	for _, ck := range sess.cookies() {
		req.AddCookie(ck)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return csrfFetchResult{}, err
	}
	sess.keepCookies(resp)
	r, err := c.readResponse(resp, sess.u.String())
	if err != nil {
		return csrfFetchResult{}, err
	}
	if r.StatusCode < 200 || r.StatusCode > 299 {
		return csrfFetchResult{resp: r}, nil
	}
	tok := resp.Header.Get(headerCSRF)
	sess.set(tok)
	c.log.Debug("cpi csrf token fetched", "url", sess.u.String(), "empty", tok == "")
	return csrfFetchResult{token: tok}, nil
}

func newJar() *cookiejar.Jar {
	jar, _ := cookiejar.New(nil) // never fails without options
	return jar
}
