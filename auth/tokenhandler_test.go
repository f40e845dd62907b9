package auth_test

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/auth"
)

const (
	acmeSecret  = "s3cret+with%special chars"
	adminSecret = "admin-secret"
	betaSecret  = "beta-secret"
	// addrHeader lets a test choose r.RemoteAddr, as the ingress does behind
	// trusted proxies.
	addrHeader = "X-Test-Remote-Addr"
)

type fakeClient struct {
	secret   string
	disabled bool
	info     auth.ClientInfo
}

// fakeClients is a ClientAuthenticator over a fixed table.
type fakeClients struct {
	mu      sync.Mutex
	clients map[string]fakeClient
	calls   int
}

func (f *fakeClients) Authenticate(_ context.Context, id, secret string) (auth.ClientInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if id == "broken" {
		return auth.ClientInfo{}, errors.New("catalog unavailable")
	}
	c, ok := f.clients[id]
	if !ok || c.disabled || subtle.ConstantTimeCompare([]byte(c.secret), []byte(secret)) != 1 {
		return auth.ClientInfo{}, auth.ErrInvalidClient
	}
	return c.info, nil
}

func (f *fakeClients) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// hookLog records the hook calls.
type hookLog struct {
	mu     sync.Mutex
	events []string
	tokens []auth.Token
}

func (h *hookLog) add(e string) {
	h.mu.Lock()
	h.events = append(h.events, e)
	h.mu.Unlock()
}

func (h *hookLog) last() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.events) == 0 {
		return ""
	}
	return h.events[len(h.events)-1]
}

type tokenEnv struct {
	srv      *httptest.Server
	clock    *fakeClock
	clients  *fakeClients
	verifier *auth.Verifier
	hooks    *hookLog
}

func newTokenEnv(t *testing.T, withLimiter bool) *tokenEnv {
	t.Helper()
	e := &tokenEnv{clock: newClock(), hooks: &hookLog{}}
	e.clients = &fakeClients{clients: map[string]fakeClient{
		"acme": {secret: acmeSecret, info: auth.ClientInfo{ID: "acme", Grants: []string{"demo-echo", "demo-slow"}, Roles: []string{"partner"}}},
		"ops":  {secret: adminSecret, info: auth.ClientInfo{ID: "ops", Grants: []string{"demo-echo"}, Roles: []string{"admin"}}},
		"beta": {secret: betaSecret, info: auth.ClientInfo{ID: "beta", Grants: []string{"demo-echo"}}},
		"gone": {secret: "gone-secret", disabled: true, info: auth.ClientInfo{ID: "gone"}},
	}}
	k := newKey(t)
	var limiter *auth.FailureLimiter
	if withLimiter {
		var err error
		if limiter, err = auth.NewFailureLimiter(auth.FailureLimiterConfig{}); err != nil {
			t.Fatal(err)
		}
	}
	h, err := auth.NewTokenHandler(auth.TokenHandlerConfig{
		Issuer:  newIssuer(t, k, e.clock),
		Clients: e.clients,
		Limiter: limiter,
		Now:     e.clock.Now,
		OnIssued: func(_ *http.Request, clientID string, tok auth.Token) {
			e.hooks.add("issued " + clientID)
			e.hooks.mu.Lock()
			e.hooks.tokens = append(e.hooks.tokens, tok)
			e.hooks.mu.Unlock()
		},
		OnRefused: func(_ *http.Request, clientID, code string) { e.hooks.add("refused " + clientID + " " + code) },
	})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a := r.Header.Get(addrHeader); a != "" {
			r.RemoteAddr = a
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(e.srv.Close)
	e.verifier = newVerifier(t, auth.NewStaticKeys(k), e.clock, 0)
	return e
}

// tokenReq describes one request to the token endpoint.
type tokenReq struct {
	method      string // default POST
	contentType string // default form; "-" sends none
	basic       []string
	authz       string // raw Authorization header
	form        url.Values
	body        string // raw body, when form is nil
	addr        string
}

type tokenResp struct {
	status int
	header http.Header
	body   string
	json   map[string]any
}

func (e *tokenEnv) do(t *testing.T, rq tokenReq) tokenResp {
	t.Helper()
	method := rq.method
	if method == "" {
		method = http.MethodPost
	}
	body := rq.body
	if rq.form != nil {
		body = rq.form.Encode()
	}
	req, err := http.NewRequest(method, e.srv.URL+"/oauth/token", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	switch rq.contentType {
	case "":
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	case "-":
	default:
		req.Header.Set("Content-Type", rq.contentType)
	}
	if rq.basic != nil {
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString(
			[]byte(rq.basic[0]+":"+rq.basic[1])))
	}
	if rq.authz != "" {
		req.Header.Set("Authorization", rq.authz)
	}
	if rq.addr != "" {
		req.Header.Set(addrHeader, rq.addr)
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := tokenResp{status: res.StatusCode, header: res.Header, body: string(raw)}
	if err := json.Unmarshal(raw, &out.json); err != nil {
		t.Fatalf("response is not JSON: %q", raw)
	}
	return out
}

// basicFor encodes credentials as RFC 6749 §2.3.1 requires.
func basicFor(id, secret string) []string {
	return []string{url.QueryEscape(id), url.QueryEscape(secret)}
}

func grant(kv ...string) url.Values {
	v := url.Values{"grant_type": {"client_credentials"}}
	for i := 0; i < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

func TestTokenEndpoint(t *testing.T) {
	e := newTokenEnv(t, false)
	acme := basicFor("acme", acmeSecret)
	for _, tc := range []struct {
		name   string
		req    tokenReq
		status int
		code   string // error code, or "" on success
		scope  string // granted scope on success
		client string // client ID passed to the hooks
	}{
		{"basic", tokenReq{basic: acme, form: grant()}, 200, "", "flow:*", "acme"},
		{"form", tokenReq{form: grant("client_id", "acme", "client_secret", acmeSecret)}, 200, "", "flow:*", "acme"},
		{"basic plus matching form client_id", tokenReq{basic: acme, form: grant("client_id", "acme")}, 200, "", "flow:*", "acme"},
		{"content type with charset", tokenReq{basic: acme, form: grant(), contentType: "application/x-www-form-urlencoded; charset=UTF-8"}, 200, "", "flow:*", "acme"},
		{"narrowed to one flow", tokenReq{basic: acme, form: grant("scope", "flow:demo-echo")}, 200, "", "flow:demo-echo", "acme"},
		{"narrowed, deduplicated", tokenReq{basic: acme, form: grant("scope", "flow:demo-slow  flow:demo-echo flow:demo-slow")}, 200, "", "flow:demo-slow flow:demo-echo", "acme"},
		{"all flows absorbs single flows", tokenReq{basic: acme, form: grant("scope", "flow:demo-echo flow:*")}, 200, "", "flow:*", "acme"},
		{"admin without scope", tokenReq{basic: basicFor("ops", adminSecret), form: grant()}, 200, "", "flow:* admin", "ops"},
		{"admin asks for admin only", tokenReq{basic: basicFor("ops", adminSecret), form: grant("scope", "admin")}, 200, "", "admin", "ops"},
		{"admin asks for flows only", tokenReq{basic: basicFor("ops", adminSecret), form: grant("scope", "flow:*")}, 200, "", "flow:*", "ops"},
		{"empty scope means none requested", tokenReq{basic: acme, form: grant("scope", "")}, 200, "", "flow:*", "acme"},

		{"both basic and form secret", tokenReq{basic: acme, form: grant("client_id", "acme", "client_secret", acmeSecret)}, 400, "invalid_request", "", ""},
		{"basic plus other form client_id", tokenReq{basic: acme, form: grant("client_id", "beta")}, 400, "invalid_request", "", ""},
		{"no credentials", tokenReq{form: grant()}, 401, "invalid_client", "", ""},
		{"wrong secret basic", tokenReq{basic: basicFor("acme", "nope"), form: grant()}, 401, "invalid_client", "", "acme"},
		{"wrong secret form", tokenReq{form: grant("client_id", "acme", "client_secret", "nope")}, 401, "invalid_client", "", "acme"},
		{"secret not form-encoded in basic", tokenReq{basic: []string{"acme", acmeSecret}, form: grant()}, 401, "invalid_client", "", ""},
		{"form client_id without secret", tokenReq{form: grant("client_id", "acme")}, 401, "invalid_client", "", "acme"},
		{"unknown client", tokenReq{basic: basicFor("nobody", "x"), form: grant()}, 401, "invalid_client", "", "nobody"},
		{"disabled client", tokenReq{basic: basicFor("gone", "gone-secret"), form: grant()}, 401, "invalid_client", "", "gone"},
		{"malformed client ID", tokenReq{basic: basicFor("ACME Corp", acmeSecret), form: grant()}, 401, "invalid_client", "", ""},
		{"malformed basic", tokenReq{authz: "Basic !!!", form: grant()}, 401, "invalid_client", "", ""},
		{"bearer instead of basic", tokenReq{authz: "Bearer abc", form: grant()}, 401, "invalid_client", "", ""},
		{"authenticator failure", tokenReq{basic: basicFor("broken", "x"), form: grant()}, 500, "server_error", "", "broken"},

		{"missing grant_type", tokenReq{basic: acme, form: url.Values{}}, 400, "invalid_request", "", ""},
		{"password grant", tokenReq{basic: acme, form: url.Values{"grant_type": {"password"}}}, 400, "unsupported_grant_type", "", ""},
		{"repeated grant_type", tokenReq{basic: acme, form: url.Values{"grant_type": {"client_credentials", "client_credentials"}}}, 400, "invalid_request", "", ""},
		{"ungranted flow", tokenReq{basic: acme, form: grant("scope", "flow:other")}, 400, "invalid_scope", "", "acme"},
		{"one ungranted among granted", tokenReq{basic: acme, form: grant("scope", "flow:demo-echo flow:other")}, 400, "invalid_scope", "", "acme"},
		{"malformed flow scope", tokenReq{basic: acme, form: grant("scope", "flow:Demo-Echo")}, 400, "invalid_scope", "", "acme"},
		{"empty flow scope", tokenReq{basic: acme, form: grant("scope", "flow:")}, 400, "invalid_scope", "", "acme"},
		{"unknown scope", tokenReq{basic: acme, form: grant("scope", "read")}, 400, "invalid_scope", "", "acme"},
		{"tab in scope", tokenReq{basic: acme, form: grant("scope", "flow:demo-echo\tflow:demo-slow")}, 400, "invalid_scope", "", "acme"},
		{"non-admin asks for admin", tokenReq{basic: acme, form: grant("scope", "admin")}, 400, "invalid_scope", "", "acme"},

		{"GET", tokenReq{method: http.MethodGet, basic: acme}, 405, "invalid_request", "", ""},
		{"PUT", tokenReq{method: http.MethodPut, basic: acme, form: grant()}, 405, "invalid_request", "", ""},
		{"JSON body", tokenReq{basic: acme, contentType: "application/json", body: `{"grant_type":"client_credentials"}`}, 400, "invalid_request", "", ""},
		{"no content type", tokenReq{basic: acme, contentType: "-", form: grant()}, 400, "invalid_request", "", ""},
		{"malformed form", tokenReq{basic: acme, body: "grant_type=client_credentials&x=%zz"}, 400, "invalid_request", "", ""},
		{"oversize body", tokenReq{basic: acme, body: "grant_type=client_credentials&pad=" + strings.Repeat("a", 64<<10)}, 400, "invalid_request", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := e.do(t, tc.req)
			if res.status != tc.status {
				t.Fatalf("status %d, want %d; body %s", res.status, tc.status, res.body)
			}
			for h, want := range map[string]string{
				"Cache-Control": "no-store", "Pragma": "no-cache", "Content-Type": "application/json",
			} {
				if got := res.header.Get(h); got != want {
					t.Errorf("%s = %q, want %q", h, got, want)
				}
			}
			if strings.Contains(res.body, acmeSecret) || strings.Contains(res.body, url.QueryEscape(acmeSecret)) {
				t.Errorf("response echoes the secret: %s", res.body)
			}
			if tc.code != "" {
				checkRefusal(t, e, res, tc.code, tc.client)
				return
			}
			checkIssued(t, e, res, tc.scope, tc.client)
		})
	}
}

func checkRefusal(t *testing.T, e *tokenEnv, res tokenResp, code, client string) {
	t.Helper()
	if res.json["error"] != code || res.json["error_description"] == "" {
		t.Errorf("body %s, want error %s with a description", res.body, code)
	}
	if _, ok := res.json["access_token"]; ok {
		t.Errorf("refusal carries a token")
	}
	if got, want := res.header.Get("WWW-Authenticate"), `Basic realm="cpibroker"`; (res.status == 401) != (got == want) {
		t.Errorf("status %d with WWW-Authenticate %q", res.status, got)
	}
	if res.status == 405 && res.header.Get("Allow") != "POST" {
		t.Errorf("405 without Allow: POST")
	}
	if got, want := e.hooks.last(), "refused "+client+" "+code; got != want {
		t.Errorf("hook %q, want %q", got, want)
	}
}

func checkIssued(t *testing.T, e *tokenEnv, res tokenResp, scope, client string) {
	t.Helper()
	if res.json["token_type"] != "Bearer" || res.json["expires_in"] != float64(3600) || res.json["scope"] != scope {
		t.Errorf("body %s, want Bearer, 3600, scope %q", res.body, scope)
	}
	at, _ := res.json["access_token"].(string)
	p, err := e.verifier.Verify(at)
	if err != nil {
		t.Fatalf("issued token does not verify: %v", err)
	}
	if p.ClientID != client || strings.Join(p.Scope, " ") != scope {
		t.Errorf("principal %+v, want client %s scope %q", p, client, scope)
	}
	if got := e.hooks.last(); got != "issued "+client {
		t.Errorf("hook %q, want issued %s", got, client)
	}
	e.hooks.mu.Lock()
	last := e.hooks.tokens[len(e.hooks.tokens)-1]
	e.hooks.mu.Unlock()
	if last.Value != at || last.JTI != p.TokenID {
		t.Errorf("OnIssued got another token")
	}
}

func TestTokenEndpointThrottling(t *testing.T) {
	e := newTokenEnv(t, true)
	const (
		attacker = "203.0.113.7:4711"
		partner  = "198.51.100.10:5000"
		stranger = "192.0.2.99:6000"
	)
	acme := basicFor("acme", acmeSecret)
	wrong := basicFor("acme", "guess")
	expect := func(rq tokenReq, status int) tokenResp {
		t.Helper()
		res := e.do(t, rq)
		if res.status != status {
			t.Fatalf("status %d, want %d; body %s", res.status, status, res.body)
		}
		return res
	}

	// Missing credentials are not failures (challenge-response clients).
	for range 20 {
		expect(tokenReq{form: grant(), addr: attacker}, 401)
	}
	// The partner logs in from its usual address.
	expect(tokenReq{basic: acme, form: grant(), addr: partner}, 200)

	// Ten wrong secrets from the attacker lock the attacker's address and
	// the client ID acme.
	for range 10 {
		expect(tokenReq{basic: wrong, form: grant(), addr: attacker}, 401)
	}
	calls := e.clients.callCount()
	res := expect(tokenReq{basic: acme, form: grant(), addr: attacker}, 429)
	if res.json["error"] != "too_many_attempts" || res.header.Get("Retry-After") != "60" {
		t.Errorf("429 body %s, Retry-After %q", res.body, res.header.Get("Retry-After"))
	}
	if e.hooks.last() != "refused acme too_many_attempts" {
		t.Errorf("hook %q", e.hooks.last())
	}
	// Same address, another port, another client: still the locked address.
	expect(tokenReq{basic: basicFor("beta", betaSecret), form: grant(), addr: "203.0.113.7:9999"}, 429)
	if e.clients.callCount() != calls {
		t.Error("a locked request reached the authenticator")
	}

	// Valid logins from elsewhere are not slowed: the partner's known
	// address and any other client from anywhere.
	expect(tokenReq{basic: acme, form: grant(), addr: partner}, 200)
	expect(tokenReq{basic: basicFor("beta", betaSecret), form: grant(), addr: stranger}, 200)
	// acme from an address it never used is held back while locked.
	res = expect(tokenReq{basic: acme, form: grant(), addr: stranger}, 429)
	if res.header.Get("Retry-After") != "60" {
		t.Errorf("Retry-After %q", res.header.Get("Retry-After"))
	}

	e.clock.Advance(30 * time.Second)
	res = expect(tokenReq{basic: acme, form: grant(), addr: attacker}, 429)
	if res.header.Get("Retry-After") != "30" {
		t.Errorf("Retry-After after 30s = %q, want 30", res.header.Get("Retry-After"))
	}

	e.clock.Advance(30 * time.Second)
	expect(tokenReq{basic: acme, form: grant(), addr: attacker}, 200)
	expect(tokenReq{basic: acme, form: grant(), addr: stranger}, 200)
}

func TestTokenEndpointThrottlesAddressSpraying(t *testing.T) {
	e := newTokenEnv(t, true)
	const attacker = "[2001:db8:1:2::7]:4711"
	for i := range 10 {
		// Spraying many client IDs, and malformed ones, from one /64.
		id := []string{"acme", "beta", "ops", "nobody", "NOT VALID"}[i%5]
		addr := attacker
		if i%2 == 1 {
			addr = "[2001:db8:1:2::8]:1"
		}
		if res := e.do(t, tokenReq{basic: basicFor(id, "guess"), form: grant(), addr: addr}); res.status != 401 {
			t.Fatalf("attempt %d: status %d", i, res.status)
		}
	}
	if res := e.do(t, tokenReq{basic: basicFor("beta", betaSecret), form: grant(), addr: attacker}); res.status != 429 {
		t.Fatalf("sprayer not locked: %d", res.status)
	}
	// No single client ID reached the limit, so valid clients elsewhere pass.
	if res := e.do(t, tokenReq{basic: basicFor("beta", betaSecret), form: grant(), addr: "[2001:db8:1:3::7]:1"}); res.status != 200 {
		t.Fatalf("neighbouring /64 locked: %d %s", res.status, res.body)
	}
}

func TestTokenHandlerConfigValidate(t *testing.T) {
	iss := newIssuer(t, newKey(t), newClock())
	clients := &fakeClients{}
	for _, tc := range []struct {
		name string
		cfg  auth.TokenHandlerConfig
		ok   bool
	}{
		{"minimal", auth.TokenHandlerConfig{Issuer: iss, Clients: clients}, true},
		{"no issuer", auth.TokenHandlerConfig{Clients: clients}, false},
		{"no clients", auth.TokenHandlerConfig{Issuer: iss}, false},
		{"negative body limit", auth.TokenHandlerConfig{Issuer: iss, Clients: clients, MaxBodyBytes: -1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := auth.NewTokenHandler(tc.cfg)
			if (err == nil) != tc.ok || (err != nil && !errors.Is(err, auth.ErrInvalidConfig)) {
				t.Fatalf("NewTokenHandler error = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
