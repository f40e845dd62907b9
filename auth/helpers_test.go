package auth_test

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"sync"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/auth"
)

const (
	testIssuer = "https://broker.example.com"
	testClient = "acme"
)

// t0 is the start of every test clock.
var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// fakeClock is a manually advanced clock, safe for concurrent use.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *fakeClock { return &fakeClock{now: t0} }

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

func newKey(t testing.TB) *auth.SigningKey {
	t.Helper()
	k, err := auth.GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newIssuer(t testing.TB, k *auth.SigningKey, clock *fakeClock) *auth.Issuer {
	t.Helper()
	iss, err := auth.NewIssuer(auth.IssuerConfig{Issuer: testIssuer, Key: k, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return iss
}

func newVerifier(t testing.TB, keys auth.KeyResolver, clock *fakeClock, cacheSize int) *auth.Verifier {
	t.Helper()
	v, err := auth.NewVerifier(auth.VerifierConfig{
		Issuer: testIssuer, Keys: keys, Now: clock.Now, CacheSize: cacheSize,
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// craft builds a compact JWS from raw header and claims. sign receives the
// signing input and returns the signature bytes.
func craft(t testing.TB, header, claims map[string]any, sign func(input string) []byte) string {
	t.Helper()
	input := b64(mustJSON(t, header)) + "." + b64(mustJSON(t, claims))
	return input + "." + b64(sign(input))
}

func edSigner(k ed25519.PrivateKey) func(string) []byte {
	return func(in string) []byte { return ed25519.Sign(k, []byte(in)) }
}

func hmacSigner(secret []byte) func(string) []byte {
	return func(in string) []byte {
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(in))
		return m.Sum(nil)
	}
}

func noSig(string) []byte { return nil }

// goodHeader and goodClaims describe a token the verifier accepts at t0.
func goodHeader(kid string) map[string]any {
	return map[string]any{"alg": "EdDSA", "typ": "at+jwt", "kid": kid}
}

func goodClaims() map[string]any {
	return map[string]any{
		"iss": testIssuer, "aud": "cpibroker", "sub": testClient, "client_id": testClient,
		"iat": t0.Unix(), "nbf": t0.Unix(), "exp": t0.Add(time.Hour).Unix(),
		"jti": "jti-1", "scope": "flow:*",
	}
}

// with returns a copy of m with the given changes; a nil value deletes.
func with(m map[string]any, kv ...any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		k := kv[i].(string)
		if kv[i+1] == nil {
			delete(out, k)
		} else {
			out[k] = kv[i+1]
		}
	}
	return out
}

// keyPair returns a signing key together with its raw private key, for
// crafting tokens by hand.
func keyPair(t testing.TB) (*auth.SigningKey, ed25519.PrivateKey) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return signingKeyFrom(t, priv), priv
}

func signingKeyFrom(t testing.TB, priv ed25519.PrivateKey) *auth.SigningKey {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	k, err := auth.ParseSigningKeyPEM(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	if err != nil {
		t.Fatal(err)
	}
	return k
}
