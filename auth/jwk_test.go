package auth_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/cpibroker/cpibroker/auth"
)

func TestJWKSJSONShape(t *testing.T) {
	k := newKey(t)
	data, err := auth.JWKSJSON([]auth.JWK{k.PublicJWK()})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"` + k.PublicJWK().X +
		`","kid":"` + k.KID() + `","alg":"EdDSA","use":"sig"}]}`
	if string(data) != want {
		t.Errorf("JWKS =\n%s\nwant\n%s", data, want)
	}

	empty, err := auth.JWKSJSON(nil)
	if err != nil || string(empty) != `{"keys":[]}` {
		t.Errorf("empty JWKS = %s, %v", empty, err)
	}
}

func TestJWKSJSONRefusesBadKeys(t *testing.T) {
	good := newKey(t).PublicJWK()
	for _, tc := range []struct {
		name string
		key  auth.JWK
	}{
		{"no kid", func() auth.JWK { k := good; k.Kid = ""; return k }()},
		{"RSA", auth.JWK{Kty: "RSA", Kid: "r"}},
		{"short x", func() auth.JWK { k := good; k.X = "AAAA"; return k }()},
		{"alg HS256", func() auth.JWK { k := good; k.Alg = "HS256"; return k }()},
		{"use enc", func() auth.JWK { k := good; k.Use = "enc"; return k }()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := auth.JWKSJSON([]auth.JWK{tc.key}); err == nil {
				t.Fatal("JWKSJSON accepted a bad key")
			}
		})
	}
}

// TestTokenVerifiesWithKeyFromJWKS checks the path another ingress takes:
// it only sees the published JWKS document.
func TestTokenVerifiesWithKeyFromJWKS(t *testing.T) {
	clock := newClock()
	k1, k2 := newKey(t), newKey(t)
	data, err := auth.JWKSJSON([]auth.JWK{k1.PublicJWK(), k2.PublicJWK()})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := auth.ParseJWKS(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 {
		t.Fatalf("parsed %d keys, want 2", len(keys))
	}
	v := newVerifier(t, keys, clock, 0)
	for _, k := range []*auth.SigningKey{k1, k2} {
		tok, err := newIssuer(t, k, clock).Issue(testClient, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(tok.Value); err != nil {
			t.Errorf("token of key %s: %v", k.KID(), err)
		}
	}
	stranger, err := newIssuer(t, newKey(t), clock).Issue(testClient, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(stranger.Value); !errors.Is(err, auth.ErrInvalidToken) {
		t.Errorf("token of an unpublished key: %v", err)
	}
}

func TestParseJWKS(t *testing.T) {
	k := newKey(t)
	jwk := k.PublicJWK()
	enc := func(keys ...any) string {
		b, _ := json.Marshal(map[string]any{"keys": keys})
		return string(b)
	}
	dupe := newKey(t).PublicJWK()
	dupe.Kid = jwk.Kid
	noKid := jwk
	noKid.Kid = ""
	badX := jwk
	badX.X = "!!"
	for _, tc := range []struct {
		name  string
		doc   string
		count int // keys kept; -1 means an error is expected
	}{
		{"one key", enc(jwk), 1},
		{"no keys", `{"keys":[]}`, 0},
		{"foreign key types skipped", enc(map[string]string{"kty": "RSA", "n": "x", "e": "AQAB", "kid": "r"},
			map[string]string{"kty": "OKP", "crv": "X25519", "x": "x", "kid": "x"}, jwk), 1},
		{"encryption key skipped", enc(map[string]string{"kty": "OKP", "crv": "Ed25519", "x": jwk.X, "kid": "e", "use": "enc"}), 0},
		{"same key twice", enc(jwk, jwk), 1},
		{"kid reused by another key", enc(jwk, dupe), -1},
		{"Ed25519 key without kid", enc(noKid), -1},
		{"malformed x", enc(badX), -1},
		{"missing keys", `{}`, -1},
		{"not JSON", `nope`, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keys, err := auth.ParseJWKS([]byte(tc.doc))
			if tc.count < 0 {
				if err == nil {
					t.Fatalf("ParseJWKS accepted %s", tc.doc)
				}
				return
			}
			if err != nil || len(keys) != tc.count {
				t.Fatalf("ParseJWKS = %d keys, %v; want %d", len(keys), err, tc.count)
			}
		})
	}
}
