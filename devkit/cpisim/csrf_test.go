package cpisim

import (
	"net/http"
	"regexp"
	"testing"
	"time"
)

func TestCSRFFetch(t *testing.T) {
	t.Parallel()
	s := startSim(t, Config{}, IFlow{ID: "Echo", Address: "/demo/echo", CSRF: true})
	tok := runtimeToken(t, s)
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		h := bearer(tok)
		h.Set("X-CSRF-Token", "fetch") // case-insensitive
		res := do(t, nil, method, s.EndpointURL("Echo"), h, nil)
		if res.status != 200 || !regexp.MustCompile(`^[0-9A-F]{32}$`).MatchString(res.header.Get("X-CSRF-Token")) {
			t.Fatalf("%s fetch: %d %v", method, res.status, res.header)
		}
		names := map[string]bool{}
		for _, c := range (&http.Response{Header: res.header}).Cookies() {
			names[c.Name] = true
			if c.Path != "/" || !c.HttpOnly || c.Secure {
				t.Errorf("cookie %+v", c)
			}
		}
		if !names["JSESSIONID"] || !names["__VCAP_ID__"] {
			t.Errorf("%s fetch set cookies %v", method, names)
		}
		if res.header.Get(mplHeader) != "" {
			t.Errorf("a fetch runs no flow, but got an MPL ID")
		}
	}
	if n, f := s.CallCount("Echo"), s.CSRFFetches("Echo"); n != 0 || f != 2 {
		t.Errorf("calls %d fetches %d, want 0 and 2", n, f)
	}
}

func TestCSRFProtection(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	s := startSim(t, Config{Now: clock.Now, RuntimeTokenTTL: 24 * time.Hour},
		IFlow{ID: "A", Address: "/a", CSRF: true},
		IFlow{ID: "B", Address: "/b", CSRF: true},
		IFlow{ID: "Open", Address: "/open", CSRF: false},
	)
	tok := runtimeToken(t, s)
	ca, cb := csrfClient(t), csrfClient(t)
	ua, ub := s.EndpointURL("A"), s.EndpointURL("B")
	ta := fetchCSRF(t, ca, ua, tok)
	tb := fetchCSRF(t, cb, ub, tok)
	post := func(c *http.Client, u, csrf string) result {
		h := bearer(tok)
		if csrf != "" {
			h.Set("X-CSRF-Token", csrf)
		}
		return do(t, c, http.MethodPost, u, h, []byte("x"))
	}
	for i, tc := range []struct {
		name   string
		client *http.Client
		url    string
		csrf   string
		status int
	}{
		{"token and cookie", ca, ua, ta, 200},
		{"again (tokens are per session, not per call)", ca, ua, ta, 200},
		{"no token", ca, ua, "", 403},
		{"wrong token", ca, ua, "0123456789ABCDEF0123456789ABCDEF", 403},
		{"no cookie", http.DefaultClient, ua, ta, 403},
		{"token of another iflow", cb, ua, tb, 403},
		{"token of another iflow in its session", ca, ub, ta, 403},
		{"other iflow with its own token", cb, ub, tb, 200},
		{"unprotected iflow", http.DefaultClient, s.EndpointURL("Open"), "", 200},
	} {
		res := post(tc.client, tc.url, tc.csrf)
		if res.status != tc.status {
			t.Errorf("Test %d (%s): status %d, want %d", i, tc.name, res.status, tc.status)
		}
		if tc.status == 403 && res.header.Get("X-CSRF-Token") != "Required" {
			t.Errorf("Test %d (%s): X-CSRF-Token %q, want Required", i, tc.name, res.header.Get("X-CSRF-Token"))
		}
	}

	// GET without fetch runs a protected flow; a fetch on an unprotected
	// flow runs it too (the header means nothing there).
	if res := do(t, nil, http.MethodGet, ua, bearer(tok), nil); res.status != 200 || res.header.Get(mplHeader) == "" {
		t.Errorf("plain GET: %d", res.status)
	}
	h := bearer(tok)
	h.Set("X-CSRF-Token", "Fetch")
	if res := do(t, nil, http.MethodGet, s.EndpointURL("Open"), h, nil); res.status != 200 || res.header.Get("X-CSRF-Token") != "" || res.header.Get(mplHeader) == "" {
		t.Errorf("fetch on unprotected flow: %d %v", res.status, res.header)
	}

	// A second fetch in the same session returns the same token and sets
	// no new cookie.
	h = bearer(tok)
	h.Set("X-CSRF-Token", "Fetch")
	res := do(t, ca, http.MethodGet, ua, h, nil)
	if res.header.Get("X-CSRF-Token") != ta || res.header.Get("Set-Cookie") != "" {
		t.Errorf("refetch in session: token %q cookie %q", res.header.Get("X-CSRF-Token"), res.header.Get("Set-Cookie"))
	}

	// Sessions expire when idle; the token dies with them.
	clock.Advance(DefaultSessionTTL)
	if res := post(ca, ua, ta); res.status != 403 {
		t.Errorf("after session expiry: %d", res.status)
	}
	ta2 := fetchCSRF(t, ca, ua, tok)
	if ta2 == ta {
		t.Errorf("new session reused the old token")
	}
	if res := post(ca, ua, ta2); res.status != 200 {
		t.Errorf("with the new token: %d", res.status)
	}
	if calls := s.Calls("A"); calls[2].Status != 403 {
		t.Errorf("CSRF refusals are recorded as calls: %+v", calls[2])
	}
}
