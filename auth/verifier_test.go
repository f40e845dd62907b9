package auth_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/auth"
)

func TestIssueVerifyRoundTrip(t *testing.T) {
	clock := newClock()
	k := newKey(t)
	iss := newIssuer(t, k, clock)
	v := newVerifier(t, auth.NewStaticKeys(k), clock, 0)

	tok, err := iss.Issue(testClient, []string{"flow:demo-echo", "admin"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := tok.ExpiresAt.Sub(tok.IssuedAt), time.Hour; got != want {
		t.Errorf("lifetime = %s, want %s", got, want)
	}
	for range 2 { // uncached, then cached
		p, err := v.Verify(tok.Value)
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		if p.ClientID != testClient || p.TokenID != tok.JTI || !p.ExpiresAt.Equal(tok.ExpiresAt) {
			t.Errorf("principal = %+v, token = %+v", p, tok)
		}
		if strings.Join(p.Scope, " ") != "flow:demo-echo admin" {
			t.Errorf("scope = %q", p.Scope)
		}
		if !p.AllowsFlow("demo-echo") || p.AllowsFlow("demo-slow") || !p.HasScope(auth.ScopeAdmin) {
			t.Errorf("scope checks wrong for %q", p.Scope)
		}
		p.Scope[0] = "mutated" // must not reach the cache
	}
}

func TestVerifyAttacks(t *testing.T) {
	clock := newClock()
	ours, priv := keyPair(t)
	_, otherPriv := keyPair(t)
	other := signingKeyFrom(t, otherPriv)
	kid := ours.KID()
	pubRaw := []byte(ours.PublicKey())
	jwkX := ours.PublicJWK().X
	v := newVerifier(t, auth.NewStaticKeys(ours), clock, 0)

	good := craft(t, goodHeader(kid), goodClaims(), edSigner(priv))
	if _, err := v.Verify(good); err != nil {
		t.Fatalf("baseline token refused: %v", err)
	}
	parts := strings.Split(good, ".")
	tamperedPayload := b64(mustJSON(t, with(goodClaims(), "sub", "evil")))
	tamperedHeader := b64(mustJSON(t, with(goodHeader(kid), "x", "y")))
	leeway := auth.DefaultLeeway
	hdr, cl := goodHeader(kid), goodClaims()

	for _, tc := range []struct {
		name   string
		reason string // expected in the error
		token  string
	}{
		{"empty", "empty token", ""},
		{"one segment", "malformed token", "abc"},
		{"four segments", "malformed token", good + ".x"},
		{"garbage segments", "malformed token", "a.b.c"},
		{"too long", "token too long", good + strings.Repeat("A", auth.MaxTokenBytes)},
		{"padded base64", "malformed token", parts[0] + "=." + parts[1] + "." + parts[2]},
		{"alg none unsigned", "algorithm not allowed", craft(t, with(hdr, "alg", "none"), cl, noSig)},
		{"alg none with signature", "algorithm not allowed", craft(t, with(hdr, "alg", "none"), cl, edSigner(priv))},
		{"alg None", "algorithm not allowed", craft(t, with(hdr, "alg", "None"), cl, noSig)},
		{"alg missing", "algorithm not allowed", craft(t, with(hdr, "alg", nil), cl, edSigner(priv))},
		{"alg unknown", "algorithm not allowed", craft(t, with(hdr, "alg", "Ed448"), cl, edSigner(priv))},
		{"HS256 with public key bytes", "algorithm not allowed", craft(t, with(hdr, "alg", "HS256"), cl, hmacSigner(pubRaw))},
		{"HS256 with JWK x", "algorithm not allowed", craft(t, with(hdr, "alg", "HS256"), cl, hmacSigner([]byte(jwkX)))},
		{"RS256 header", "algorithm not allowed", craft(t, with(hdr, "alg", "RS256"), cl, edSigner(priv))},
		{"ES256 header", "algorithm not allowed", craft(t, with(hdr, "alg", "ES256"), cl, edSigner(priv))},
		{"typ JWT", "wrong token type", craft(t, with(hdr, "typ", "JWT"), cl, edSigner(priv))},
		{"typ missing", "wrong token type", craft(t, with(hdr, "typ", nil), cl, edSigner(priv))},
		{"crit header", "unsupported critical header", craft(t, with(hdr, "crit", []string{"exp"}), cl, edSigner(priv))},
		{"kid missing", "missing key ID", craft(t, with(hdr, "kid", nil), cl, edSigner(priv))},
		{"kid empty", "missing key ID", craft(t, with(hdr, "kid", ""), cl, edSigner(priv))},
		{"kid not a string", "missing key ID", craft(t, with(hdr, "kid", 7), cl, edSigner(priv))},
		{"kid unknown", "unknown key ID", craft(t, with(hdr, "kid", "nope"), cl, edSigner(priv))},
		{"key not ours, own kid", "unknown key ID", craft(t, goodHeader(other.KID()), cl, edSigner(otherPriv))},
		{"key not ours, our kid", "bad signature", craft(t, hdr, cl, edSigner(otherPriv))},
		{"tampered payload", "bad signature", parts[0] + "." + tamperedPayload + "." + parts[2]},
		{"tampered header", "bad signature", tamperedHeader + "." + parts[1] + "." + parts[2]},
		{"signature empty", "bad signature", parts[0] + "." + parts[1] + "."},
		{"signature truncated", "bad signature", parts[0] + "." + parts[1] + "." + parts[2][:40]},
		{"expired beyond leeway", "token expired", craft(t, hdr, with(cl, "exp", t0.Add(-leeway).Unix()), edSigner(priv))},
		{"exp missing", "missing required claim", craft(t, hdr, with(cl, "exp", nil), edSigner(priv))},
		{"exp not a number", "malformed token", craft(t, hdr, with(cl, "exp", "tomorrow"), edSigner(priv))},
		{"nbf in future", "token not valid yet", craft(t, hdr, with(cl, "nbf", t0.Add(leeway+time.Second).Unix()), edSigner(priv))},
		{"iat far in future", "token issued in the future", craft(t, hdr, with(cl, "iat", t0.Add(time.Hour).Unix()), edSigner(priv))},
		{"wrong iss", "wrong issuer", craft(t, hdr, with(cl, "iss", "https://evil.example.com"), edSigner(priv))},
		{"iss with trailing slash", "wrong issuer", craft(t, hdr, with(cl, "iss", testIssuer+"/"), edSigner(priv))},
		{"iss missing", "missing required claim", craft(t, hdr, with(cl, "iss", nil), edSigner(priv))},
		{"wrong aud", "wrong audience", craft(t, hdr, with(cl, "aud", "someone-else"), edSigner(priv))},
		{"aud list without us", "wrong audience", craft(t, hdr, with(cl, "aud", []string{"a", "b"}), edSigner(priv))},
		{"aud missing", "missing required claim", craft(t, hdr, with(cl, "aud", nil), edSigner(priv))},
		{"sub missing", "missing or invalid subject", craft(t, hdr, with(cl, "sub", nil), edSigner(priv))},
		{"sub empty", "missing or invalid subject", craft(t, hdr, with(cl, "sub", ""), edSigner(priv))},
		{"sub not a client ID", "missing or invalid subject", craft(t, hdr, with(cl, "sub", "ACME corp"), edSigner(priv))},
		{"claims null", "missing required claim", craft(t, hdr, nil, edSigner(priv))},
		{"claims an array", "malformed token", b64([]byte(`{"alg":"EdDSA","typ":"at+jwt","kid":"`+kid+`"}`)) + "." + b64([]byte(`[]`)) + "." + parts[2]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := v.Verify(tc.token)
			if !errors.Is(err, auth.ErrInvalidToken) {
				t.Fatalf("Verify = %+v, %v; want ErrInvalidToken", p, err)
			}
			if !strings.HasSuffix(err.Error(), ": "+tc.reason) {
				t.Errorf("error %q, want reason %q", err, tc.reason)
			}
			if tc.token != "" && strings.Contains(err.Error(), tc.token) {
				t.Errorf("error echoes the token: %v", err)
			}
		})
	}
}

func TestVerifyLeeway(t *testing.T) {
	clock := newClock()
	k, priv := keyPair(t)
	v := newVerifier(t, auth.NewStaticKeys(k), clock, -1)
	hdr, cl := goodHeader(k.KID()), goodClaims()
	within := auth.DefaultLeeway - time.Second
	for _, tc := range []struct {
		name   string
		header map[string]any
		claims map[string]any
	}{
		{"expired within leeway", hdr, with(cl, "exp", t0.Add(-within).Unix())},
		{"nbf within leeway", hdr, with(cl, "nbf", t0.Add(within).Unix())},
		{"iat within leeway", hdr, with(cl, "iat", t0.Add(within).Unix())},
		{"no nbf, iat, jti, scope", hdr, with(cl, "nbf", nil, "iat", nil, "jti", nil, "scope", nil)},
		{"aud list with us", hdr, with(cl, "aud", []string{"x", "cpibroker"})},
		{"typ with media type prefix", with(hdr, "typ", "application/AT+JWT"), cl},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := v.Verify(craft(t, tc.header, tc.claims, edSigner(priv))); err != nil {
				t.Fatalf("Verify: %v", err)
			}
		})
	}
}

func TestVerifyCacheRespectsExpiry(t *testing.T) {
	clock := newClock()
	k := newKey(t)
	v := newVerifier(t, auth.NewStaticKeys(k), clock, 0)
	tok, err := newIssuer(t, k, clock).Issue(testClient, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(tok.Value); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Hour + auth.DefaultLeeway - time.Second)
	if _, err := v.Verify(tok.Value); err != nil {
		t.Fatalf("cached token refused before exp+leeway: %v", err)
	}
	clock.Advance(time.Second)
	if _, err := v.Verify(tok.Value); !errors.Is(err, auth.ErrInvalidToken) {
		t.Fatalf("cached token accepted after exp+leeway: %v", err)
	}
}

func TestVerifyCacheRespectsKeyRemoval(t *testing.T) {
	clock := newClock()
	k := newKey(t)
	keys := auth.NewStaticKeys(k)
	v := newVerifier(t, keys, clock, 0)
	tok, err := newIssuer(t, k, clock).Issue(testClient, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(tok.Value); err != nil {
		t.Fatal(err)
	}
	delete(keys, k.KID())
	if _, err := v.Verify(tok.Value); !errors.Is(err, auth.ErrInvalidToken) {
		t.Fatalf("token of a withdrawn key accepted from cache: %v", err)
	}
}

func TestVerifierConfigValidate(t *testing.T) {
	keys := auth.StaticKeys{}
	for _, tc := range []struct {
		name string
		cfg  auth.VerifierConfig
		ok   bool
	}{
		{"defaults", auth.VerifierConfig{Issuer: testIssuer, Keys: keys}, true},
		{"cache disabled", auth.VerifierConfig{Issuer: testIssuer, Keys: keys, CacheSize: -1}, true},
		{"no issuer", auth.VerifierConfig{Keys: keys}, false},
		{"no keys", auth.VerifierConfig{Issuer: testIssuer}, false},
		{"negative leeway", auth.VerifierConfig{Issuer: testIssuer, Keys: keys, Leeway: -time.Second}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := auth.NewVerifier(tc.cfg)
			if (err == nil) != tc.ok || (err != nil && !errors.Is(err, auth.ErrInvalidConfig)) {
				t.Fatalf("NewVerifier error = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

// TestVerifyCacheKeyIsTheWholeToken: once a token is cached, a token with
// the same header and claims but another signature (another key under our
// kid, or altered signature bytes) is never answered from the cache.
func TestVerifyCacheKeyIsTheWholeToken(t *testing.T) {
	clock := newClock()
	ours, priv := keyPair(t)
	_, otherPriv := keyPair(t)
	v := newVerifier(t, auth.NewStaticKeys(ours), clock, 0)
	hdr, cl := goodHeader(ours.KID()), goodClaims()
	good := craft(t, hdr, cl, edSigner(priv))
	for range 2 { // cached from the first call on
		if _, err := v.Verify(good); err != nil {
			t.Fatalf("good token refused: %v", err)
		}
	}
	parts := strings.Split(good, ".")
	sig := []byte(parts[2])
	// Another base64url character: other signature bytes, same length.
	if sig[10] == 'A' {
		sig[10] = 'B'
	} else {
		sig[10] = 'A'
	}
	for _, forged := range []string{
		craft(t, hdr, cl, edSigner(otherPriv)),
		parts[0] + "." + parts[1] + "." + string(sig),
	} {
		if _, err := v.Verify(forged); !errors.Is(err, auth.ErrInvalidToken) {
			t.Fatalf("forged token with the cached token's claims accepted: %v", err)
		}
	}
}
