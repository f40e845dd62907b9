package cpisim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is an injectable clock for Config.Now.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// startSim starts a simulator on loopback with flows deployed and closes it
// when the test ends.
func startSim(t testing.TB, cfg Config, flows ...IFlow) *Sim {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	for _, f := range flows {
		if err := s.Deploy(f); err != nil {
			t.Fatalf("Deploy(%s): %v", f.ID, err)
		}
	}
	if _, err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// result is a fully read response.
type result struct {
	status int
	header http.Header
	body   string
}

// do sends one request with a 10s bound and reads the whole answer; it
// fails the test on a transport error. Only for the test goroutine.
func do(t testing.TB, c *http.Client, method, u string, header http.Header, body []byte) result {
	t.Helper()
	res, err := doErr(c, method, u, header, body)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// doErr is do for any goroutine.
func doErr(c *http.Client, method, u string, header http.Header, body []byte) (result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return result{}, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return result{}, fmt.Errorf("%s %s: %w", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return result{}, fmt.Errorf("reading %s %s: %w", method, u, err)
	}
	return result{status: resp.StatusCode, header: resp.Header, body: string(b)}, nil
}

// runtimeToken fetches a runtime token with HTTP Basic.
func runtimeToken(t testing.TB, s *Sim) string {
	t.Helper()
	return fetchToken(t, s, s.cfg.RuntimeClientID, s.cfg.RuntimeClientSecret)
}

func fetchToken(t testing.TB, s *Sim, id, secret string) string {
	t.Helper()
	h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	h.Set("Authorization", basic(id, secret))
	res := do(t, nil, http.MethodPost, s.TokenURL(), h, []byte("grant_type=client_credentials"))
	if res.status != http.StatusOK {
		t.Fatalf("token: %d %s", res.status, res.body)
	}
	var tr tokenResponse
	if err := json.Unmarshal([]byte(res.body), &tr); err != nil {
		t.Fatalf("token body: %v", err)
	}
	return tr.AccessToken
}

func basic(id, secret string) string {
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	r.SetBasicAuth(id, secret)
	return r.Header.Get("Authorization")
}

func bearer(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

// csrfClient returns a client with its own cookie jar, the way a caller
// keeps the session of one iFlow.
func csrfClient(t testing.TB) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar}
}

// fetchCSRF fetches a CSRF token from u with client c (whose jar keeps the
// session cookie).
func fetchCSRF(t testing.TB, c *http.Client, u, tok string) string {
	t.Helper()
	h := bearer(tok)
	h.Set("X-CSRF-Token", "Fetch")
	res := do(t, c, http.MethodGet, u, h, nil)
	if res.status != http.StatusOK || res.header.Get("X-CSRF-Token") == "" {
		t.Fatalf("csrf fetch %s: %d %q", u, res.status, res.header.Get("X-CSRF-Token"))
	}
	return res.header.Get("X-CSRF-Token")
}

// waitFor polls cond until it holds or 5s pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(5 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

func hasPrefixLine(body, prefix string) bool {
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}
