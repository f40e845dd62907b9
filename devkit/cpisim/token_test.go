package cpisim

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestTokenEndpoint(t *testing.T) {
	t.Parallel()
	s := startSim(t, Config{})
	rt, api := s.cfg.RuntimeClientID, s.cfg.APIClientID
	rts, apis := s.cfg.RuntimeClientSecret, s.cfg.APIClientSecret
	form := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	withAuth := func(h http.Header, v string) http.Header {
		h = h.Clone()
		if h == nil {
			h = http.Header{}
		}
		h.Set("Authorization", v)
		return h
	}
	for i, tc := range []struct {
		name      string
		method    string
		query     string
		header    http.Header
		body      string
		status    int
		errorCode string
		ttl       int64
		scope     string
	}{
		{"basic", "POST", "", withAuth(form, basic(rt, rts)), "grant_type=client_credentials", 200, "", 3599, runtimeScope},
		{"basic form-encoded (x/oauth2 style)", "POST", "", withAuth(form, basic(url.QueryEscape(rt), url.QueryEscape(rts))), "grant_type=client_credentials", 200, "", 3599, runtimeScope},
		{"form fields", "POST", "", form, "grant_type=client_credentials&client_id=" + url.QueryEscape(rt) + "&client_secret=" + url.QueryEscape(rts), 200, "", 3599, runtimeScope},
		{"grant in query", "POST", "?grant_type=client_credentials", withAuth(nil, basic(rt, rts)), "", 200, "", 3599, runtimeScope},
		{"api key", "POST", "", withAuth(form, basic(api, apis)), "grant_type=client_credentials", 200, "", 43199, apiScope},
		{"bad secret", "POST", "", withAuth(form, basic(rt, "nope")), "grant_type=client_credentials", 401, "unauthorized", 0, ""},
		{"unknown client", "POST", "", withAuth(form, basic("someone", rts)), "grant_type=client_credentials", 401, "unauthorized", 0, ""},
		{"no credentials", "POST", "", form, "grant_type=client_credentials", 401, "unauthorized", 0, ""},
		{"mixed keys", "POST", "", withAuth(form, basic(rt, apis)), "grant_type=client_credentials", 401, "unauthorized", 0, ""},
		{"wrong grant", "POST", "", withAuth(form, basic(rt, rts)), "grant_type=password&username=a&password=b", 400, "unsupported_grant_type", 0, ""},
		{"missing grant", "POST", "", withAuth(form, basic(rt, rts)), "", 400, "invalid_request", 0, ""},
		{"bad credentials before grant", "POST", "", withAuth(form, basic(rt, "x")), "grant_type=password", 401, "unauthorized", 0, ""},
		{"GET", "GET", "?grant_type=client_credentials", withAuth(nil, basic(rt, rts)), "", 405, "method_not_allowed", 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body []byte
			if tc.body != "" {
				body = []byte(tc.body)
			}
			res := do(t, nil, tc.method, s.TokenURL()+tc.query, tc.header, body)
			if res.status != tc.status {
				t.Fatalf("Test %d: status %d, want %d (%s)", i, res.status, tc.status, res.body)
			}
			if !strings.HasPrefix(res.header.Get("Content-Type"), "application/json") {
				t.Errorf("Test %d: content type %q", i, res.header.Get("Content-Type"))
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(res.body), &m); err != nil {
				t.Fatalf("Test %d: body %q: %v", i, res.body, err)
			}
			if tc.status != 200 {
				if m["error"] != tc.errorCode {
					t.Errorf("Test %d: error %v, want %s", i, m["error"], tc.errorCode)
				}
				if tc.status == 401 && m["error_description"] != "Bad credentials" {
					t.Errorf("Test %d: error_description %v", i, m["error_description"])
				}
				return
			}
			if m["token_type"] != "bearer" || m["expires_in"] != float64(tc.ttl) || m["scope"] != tc.scope {
				t.Errorf("Test %d: token response %v", i, m)
			}
			if tok, _ := m["access_token"].(string); len(tok) < 32 {
				t.Errorf("Test %d: access_token %q", i, tok)
			}
			if jti, _ := m["jti"].(string); len(jti) != 32 {
				t.Errorf("Test %d: jti %q", i, jti)
			}
		})
	}
	if got := s.TokenRequests(); got != 13 {
		t.Errorf("TokenRequests = %d, want 13", got)
	}
}

func TestTokenExpiry(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	s := startSim(t, Config{Now: clock.Now, RuntimeTokenTTL: time.Minute}, IFlow{ID: "E", Address: "/e"})
	tok := runtimeToken(t, s)
	u := s.EndpointURL("E")
	for i, tc := range []struct {
		advance time.Duration
		status  int
	}{
		{0, 200},
		{59 * time.Second, 200},
		{time.Second, 401}, // exactly TTL after issue: expired
		{-time.Hour, 401},  // forgotten once expired
	} {
		clock.Advance(tc.advance)
		res := do(t, nil, http.MethodPost, u, bearer(tok), []byte("x"))
		if res.status != tc.status {
			t.Errorf("Test %d: status %d, want %d", i, res.status, tc.status)
		}
		if tc.status == 401 && res.header.Get("WWW-Authenticate") == "" {
			t.Errorf("Test %d: no WWW-Authenticate", i)
		}
	}
}

func TestTokenStorePrunes(t *testing.T) {
	t.Parallel()
	var st tokenStore
	now := time.Unix(0, 0)
	for i := 0; i < pruneEvery-1; i++ {
		st.issue(audRuntime, now, time.Second)
	}
	st.issue(audRuntime, now.Add(2*time.Second), time.Second) // sweep happens on this one
	if n := len(st.tokens); n > 1 {
		t.Fatalf("%d tokens kept, want the expired ones pruned", n)
	}
}
