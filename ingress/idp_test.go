package ingress_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/auth/idp"
	"github.com/cpibroker/cpibroker/broker"
	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/devkit/testkit"
	"github.com/golang-jwt/jwt/v5"
)

// fakeIdP serves a JWK Set that the test can change, and counts fetches.
type fakeIdP struct {
	mu      sync.Mutex
	keys    []map[string]any
	fetches atomic.Int64
	srv     *httptest.Server
}

func newFakeIdP(t *testing.T) *fakeIdP {
	f := &fakeIdP{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		f.fetches.Add(1)
		f.mu.Lock()
		b, _ := json.Marshal(map[string]any{"keys": f.keys})
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeIdP) add(jwk map[string]any) {
	f.mu.Lock()
	f.keys = append(f.keys, jwk)
	f.mu.Unlock()
}

func rsaJWK(k *rsa.PrivateKey, kid string) map[string]any {
	return map[string]any{"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
		"n": b64url(k.N.Bytes()), "e": b64url(big.NewInt(int64(k.E)).Bytes())}
}

func ecJWK(t *testing.T, k *ecdsa.PrivateKey, kid string) map[string]any {
	pub, err := k.PublicKey.ECDH()
	if err != nil {
		t.Fatal(err)
	}
	b := pub.Bytes() // 0x04 || X || Y
	return map[string]any{"kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": "ES256",
		"x": b64url(b[1:33]), "y": b64url(b[33:])}
}

const (
	idpIssuer   = "https://idp.example/realms/acme"
	idpAudience = "cpibroker-api"
)

func idpToken(t *testing.T, m jwt.SigningMethod, key any, kid string, edit func(jwt.MapClaims)) string {
	t.Helper()
	now := time.Now()
	claims := jwt.MapClaims{"iss": idpIssuer, "aud": idpAudience, "azp": "kc-acme", "sub": "service-account-acme",
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "jti": "ext-1"}
	if edit != nil {
		edit(claims)
	}
	tok := jwt.NewWithClaims(m, claims)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestExternalIdP: tokens of a configured IdP (Keycloak-like: client in
// azp) are verified against its JWKS, served here by an httptest server
// with RS256 and ES256 keys made in the test; a key the IdP adds later is
// found by the refresh an unknown kid triggers.
func TestExternalIdP(t *testing.T) {
	fake := newFakeIdP(t)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	fake.add(rsaJWK(rsaKey, "rsa-1"))
	fake.add(ecJWK(t, ecKey, "ec-1"))
	sys := testkit.Start(t, testkit.Options{Configure: func(c *broker.Config) {
		c.IdPs = []idp.Config{{Name: "keycloak", Issuer: idpIssuer, Audience: idpAudience, JWKSURL: fake.srv.URL,
			ClientClaim: "azp", RefreshUnknownKIDEvery: 20 * time.Millisecond}}
	}})
	sys.Broker.Dispatcher.Pause()
	ctx := context.Background()
	for _, c := range []catalog.Client{
		{ID: "acme", Enabled: true, Grants: []string{"demo-echo"}, ExternalIDs: []string{"kc-acme"}},
		{ID: "ops", Enabled: true, Roles: []string{catalog.RoleAdmin}, ExternalIDs: []string{"kc-ops"}},
	} {
		c.SecretHashes = []string{"$2a$10$unused"}
		c.SetDefaults()
		if err := sys.Broker.Catalog.PutClient(ctx, c, true); err != nil {
			t.Fatal(err)
		}
	}
	call := func(tok, method, path string) testkit.Response {
		p := &testkit.Partner{T: t, BaseURL: sys.BaseURL, Token: tok, HTTP: http.DefaultClient}
		if method == http.MethodPost {
			return p.Submit("demo-echo", "application/json", []byte(`{}`), nil)
		}
		return p.Do(method, path, nil, nil)
	}

	rs := idpToken(t, jwt.SigningMethodRS256, rsaKey, "rsa-1", nil)
	expectStatus(t, call(rs, http.MethodPost, ""), http.StatusAccepted)
	es := idpToken(t, jwt.SigningMethodES256, ecKey, "ec-1", nil)
	expectStatus(t, call(es, http.MethodGet, "/v1/flows"), http.StatusOK)
	expectProblem(t, call(es, http.MethodGet, "/admin/v1/clients"), http.StatusForbidden, "forbidden")
	ops := idpToken(t, jwt.SigningMethodES256, ecKey, "ec-1", func(c jwt.MapClaims) { c["azp"] = "kc-ops" })
	expectStatus(t, call(ops, http.MethodGet, "/admin/v1/clients"), http.StatusOK)

	pubDER, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	otherRSA, _ := rsa.GenerateKey(rand.Reader, 2048)
	for name, tok := range map[string]string{
		"HS256 keyed with the IdP's RSA public key (PEM)": idpToken(t, jwt.SigningMethodHS256, pubPEM, "rsa-1", nil),
		"HS256 keyed with the modulus":                    idpToken(t, jwt.SigningMethodHS256, rsaKey.N.Bytes(), "rsa-1", nil),
		"alg none":                                        idpToken(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "rsa-1", nil),
		"wrong audience":                                  idpToken(t, jwt.SigningMethodRS256, rsaKey, "rsa-1", func(c jwt.MapClaims) { c["aud"] = "someone-else" }),
		"expired": idpToken(t, jwt.SigningMethodRS256, rsaKey, "rsa-1", func(c jwt.MapClaims) {
			c["exp"] = time.Now().Add(-time.Hour).Unix()
		}),
		"not yet valid": idpToken(t, jwt.SigningMethodRS256, rsaKey, "rsa-1", func(c jwt.MapClaims) {
			c["nbf"] = time.Now().Add(time.Hour).Unix()
		}),
		"unregistered client":       idpToken(t, jwt.SigningMethodRS256, rsaKey, "rsa-1", func(c jwt.MapClaims) { c["azp"] = "kc-stranger" }),
		"no client claim":           idpToken(t, jwt.SigningMethodRS256, rsaKey, "rsa-1", func(c jwt.MapClaims) { delete(c, "azp") }),
		"signed by another key":     idpToken(t, jwt.SigningMethodRS256, otherRSA, "rsa-1", nil),
		"RS256 header on ES key id": idpToken(t, jwt.SigningMethodRS256, rsaKey, "ec-1", nil),
		"no kid":                    idpToken(t, jwt.SigningMethodRS256, rsaKey, "", nil),
	} {
		t.Run(name, func(t *testing.T) {
			expectProblem(t, call(tok, http.MethodGet, "/v1/flows"), http.StatusUnauthorized, "invalid_token")
		})
	}

	// The IdP rotates: a token with a kid not yet known fails until the
	// key is published, then the unknown-kid refresh picks it up.
	newKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	rotated := idpToken(t, jwt.SigningMethodRS256, newKey, "rsa-2", nil)
	expectProblem(t, call(rotated, http.MethodGet, "/v1/flows"), http.StatusUnauthorized, "invalid_token")
	fake.add(rsaJWK(newKey, "rsa-2"))
	until(t, 5*time.Second, "new IdP key picked up", func() bool { return call(rotated, http.MethodGet, "/v1/flows").Status == http.StatusOK })

	// The JWKS is cached: many verifications, few fetches.
	before := fake.fetches.Load()
	for range 50 {
		expectStatus(t, call(rs, http.MethodGet, "/v1/flows"), http.StatusOK)
	}
	if n := fake.fetches.Load() - before; n != 0 {
		t.Fatalf("%d JWKS fetches for 50 requests with a known kid", n)
	}

	// Disabling the mapped client cuts its IdP tokens off too.
	c, _ := sys.Broker.Catalog.Client("acme")
	c.Enabled = false
	if err := sys.Broker.Catalog.PutClient(ctx, c, false); err != nil {
		t.Fatal(err)
	}
	expectProblem(t, call(rs, http.MethodGet, "/v1/flows"), http.StatusUnauthorized, "invalid_token")
}
