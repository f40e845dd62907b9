package ingress_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/auth"
	"github.com/cpibroker/cpibroker/devkit/testkit"
)

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// craftJWT builds a compact JWS from a header and claims; sign gets the
// signing input.
func craftJWT(t *testing.T, header, claims map[string]any, sign func(string) []byte) string {
	t.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	c, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	in := b64url(h) + "." + b64url(c)
	return in + "." + b64url(sign(in))
}

func hs256(key []byte) func(string) []byte {
	return func(in string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(in))
		return m.Sum(nil)
	}
}

// issuerWith signs with the system's own key, but with the given claims
// settings, to craft tokens that are validly signed and wrong otherwise.
func issuerWith(t *testing.T, key *auth.SigningKey, iss, aud string, now time.Time) *auth.Issuer {
	t.Helper()
	i, err := auth.NewIssuer(auth.IssuerConfig{Issuer: iss, Audience: aud, Key: key, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return i
}

func mustIssue(t *testing.T, i *auth.Issuer, client, generation string, scope ...string) string {
	t.Helper()
	if len(scope) == 0 {
		scope = []string{auth.ScopeAllFlows}
	}
	tok, err := i.IssueBound(client, generation, scope)
	if err != nil {
		t.Fatal(err)
	}
	return tok.Value
}

// TestTokenAttacks runs hostile tokens through the real ingress (DESIGN
// 2.2): every one is 401 invalid_token with the Bearer challenge, and a
// flow outside the grants or the scope is 404 flow_not_found.
func TestTokenAttacks(t *testing.T) {
	sys := testkit.Start(t, testkit.Options{})
	sys.Broker.Dispatcher.Pause()
	key, err := auth.LoadSigningKey(filepath.Join(sys.DataDir, "signing-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := auth.GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	const iss, partner = "http://127.0.0.1", "demo-partner"
	now := time.Now()
	ours := issuerWith(t, key, iss, "cpibroker", now)
	pc, _ := sys.Broker.Catalog.Client(partner)
	gen := pc.TokenGeneration
	good := mustIssue(t, ours, partner, gen)
	parts := strings.Split(good, ".")
	var hdr, claims map[string]any
	for i, dst := range []*map[string]any{&hdr, &claims} {
		raw, _ := base64.RawURLEncoding.DecodeString(parts[i])
		if err := json.Unmarshal(raw, dst); err != nil {
			t.Fatal(err)
		}
	}
	with := func(m map[string]any, k string, v any) map[string]any {
		out := map[string]any{}
		for a, b := range m {
			out[a] = b
		}
		if v == nil {
			delete(out, k)
		} else {
			out[k] = v
		}
		return out
	}
	pub := []byte(key.PublicKey())
	jwkX := key.PublicJWK().X
	jwks := sys.Broker.Keys.JWKS()
	none := func(string) []byte { return nil }

	// A second partner whose token is revoked (deleted) or disabled.
	revoked := addPartner(t, sys, "revoked-partner", []string{"demo-echo"})
	disabled := addPartner(t, sys, "disabled-partner", []string{"demo-echo"})
	ctx := context.Background()
	if err := sys.Broker.Catalog.DeleteClient(ctx, "revoked-partner", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	c, _ := sys.Broker.Catalog.Client("disabled-partner")
	c.Enabled = false
	if err := sys.Broker.Catalog.PutClient(ctx, c, false); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name, token string
	}{
		{"alg none", craftJWT(t, with(hdr, "alg", "none"), claims, none)},
		{"alg none with a signature", craftJWT(t, with(hdr, "alg", "none"), claims, func(string) []byte { return []byte("sig") })},
		{"alg NONE", craftJWT(t, with(hdr, "alg", "NONE"), claims, none)},
		{"HS256 keyed with the raw public key", craftJWT(t, with(hdr, "alg", "HS256"), claims, hs256(pub))},
		{"HS256 keyed with the JWK x", craftJWT(t, with(hdr, "alg", "HS256"), claims, hs256([]byte(jwkX)))},
		{"HS256 keyed with the whole JWKS", craftJWT(t, with(hdr, "alg", "HS256"), claims, hs256(jwks))},
		{"RS256 header on an EdDSA signature", b64url(mustJSON(t, with(hdr, "alg", "RS256"))) + "." + parts[1] + "." + parts[2]},
		{"unknown kid", craftJWT(t, with(hdr, "kid", "no-such-key"), claims, none)},
		{"no kid", b64url(mustJSON(t, with(hdr, "kid", nil))) + "." + parts[1] + "." + parts[2]},
		{"signed by a key not ours", mustIssue(t, issuerWith(t, foreign, iss, "cpibroker", now), partner, gen)},
		{"key not ours under our kid", strings.Join([]string{parts[0], parts[1], strings.Split(mustIssue(t, issuerWith(t, foreign, iss, "cpibroker", now), partner, gen), ".")[2]}, ".")},
		{"tampered header", b64url(mustJSON(t, with(hdr, "x", "y"))) + "." + parts[1] + "." + parts[2]},
		{"tampered payload", parts[0] + "." + b64url(mustJSON(t, with(claims, "sub", "demo-admin"))) + "." + parts[2]},
		{"scope widened in the payload", parts[0] + "." + b64url(mustJSON(t, with(claims, "scope", "flow:* admin"))) + "." + parts[2]},
		{"signature truncated", parts[0] + "." + parts[1] + "." + parts[2][:10]},
		{"signature dropped", parts[0] + "." + parts[1] + "."},
		{"expired", mustIssue(t, issuerWith(t, key, iss, "cpibroker", now.Add(-2*time.Hour)), partner, gen)},
		{"not yet valid", mustIssue(t, issuerWith(t, key, iss, "cpibroker", now.Add(10*time.Minute)), partner, gen)},
		{"wrong iss", mustIssue(t, issuerWith(t, key, "https://evil.example", "cpibroker", now), partner, gen)},
		{"wrong aud", mustIssue(t, issuerWith(t, key, iss, "other-service", now), partner, gen)},
		{"unknown client", mustIssue(t, ours, "no-such-client", gen)},
		{"another token generation of the client", mustIssue(t, ours, partner, "earlier-generation")},
		{"no token generation", mustIssue(t, ours, partner, "")},
		{"revoked (deleted) client", revoked.Token},
		{"disabled client", disabled.Token},
		{"JWE-shaped", parts[0] + "." + parts[1] + ".x.y.z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &testkit.Partner{T: t, BaseURL: sys.BaseURL, Token: tc.token, HTTP: http.DefaultClient}
			for _, r := range []testkit.Response{
				p.Submit("demo-echo", "application/json", []byte(`{}`), nil),
				p.Do(http.MethodGet, "/v1/flows", nil, nil),
				p.Do(http.MethodGet, "/admin/v1/clients", nil, nil),
			} {
				expectProblem(t, r, http.StatusUnauthorized, "invalid_token")
				if ch := r.Header.Get("WWW-Authenticate"); !strings.Contains(ch, `error="invalid_token"`) {
					t.Fatalf("WWW-Authenticate %q", ch)
				}
			}
		})
	}

	// The baseline token works; flows outside the grants or the scope are 404.
	p := &testkit.Partner{T: t, BaseURL: sys.BaseURL, Token: good, HTTP: http.DefaultClient}
	if r := p.Submit("demo-echo", "application/json", []byte(`{}`), nil); r.Status != http.StatusAccepted {
		t.Fatalf("baseline: %d %s", r.Status, r.Body)
	}
	expectProblem(t, p.Submit("not-granted", "", []byte(`{}`), nil), http.StatusNotFound, "flow_not_found")
	narrow := &testkit.Partner{T: t, BaseURL: sys.BaseURL, HTTP: http.DefaultClient,
		Token: testkit.Token(t, sys.BaseURL, partner, sys.Creds.Partner.ClientSecret, "flow:demo-slow")}
	expectProblem(t, narrow.Submit("demo-echo", "", []byte(`{}`), nil), http.StatusNotFound, "flow_not_found")
	if r := narrow.Submit("demo-slow", "", []byte(`{}`), nil); r.Status != http.StatusAccepted {
		t.Fatalf("scoped flow: %d %s", r.Status, r.Body)
	}
	// A partner token on the admin API: 403 forbidden.
	expectProblem(t, p.Do(http.MethodGet, "/admin/v1/clients", nil, nil), http.StatusForbidden, "forbidden")
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
