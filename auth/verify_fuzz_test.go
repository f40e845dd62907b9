package auth_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/cpibroker/cpibroker/auth"
)

func FuzzVerify(f *testing.F) {
	clock := newClock()
	k, priv := keyPair(f)
	good := craft(f, goodHeader(k.KID()), goodClaims(), edSigner(priv))
	parts := strings.Split(good, ".")
	for _, s := range []string{
		good, "", ".", "..", "a.b.c", parts[0] + ".." + parts[2],
		parts[0] + "." + parts[1] + ".", b64([]byte(`{"alg":"none"}`)) + "." + parts[1] + ".",
		b64([]byte(`{"alg":"EdDSA","kid":1e999}`)) + "." + parts[1] + "." + parts[2],
		parts[0] + "." + b64([]byte(`{"exp":1e300,"aud":[1,2],"sub":{}}`)) + "." + parts[2],
	} {
		f.Add(s)
	}
	v := newVerifier(f, auth.NewStaticKeys(k), clock, 0)
	f.Fuzz(func(t *testing.T, token string) {
		p, err := v.Verify(token)
		if err != nil {
			if !errors.Is(err, auth.ErrInvalidToken) {
				t.Fatalf("error %v does not wrap ErrInvalidToken", err)
			}
			return
		}
		// Only tokens signed by our key can pass; the fuzzer cannot forge one,
		// so success means it reproduced a valid token.
		if p.ClientID == "" || p.ExpiresAt.IsZero() {
			t.Fatalf("accepted principal %+v", p)
		}
	})
}

// FuzzVerifySigned fuzzes what the signature protects: header and claims
// JSON signed with the trusted key, so the claim checks after the signature
// are exercised too.
func FuzzVerifySigned(f *testing.F) {
	clock := newClock()
	k, priv := keyPair(f)
	f.Add(string(mustJSON(f, goodHeader(k.KID()))), string(mustJSON(f, goodClaims())))
	f.Add(`{"alg":"EdDSA","typ":"at+jwt","kid":"`+k.KID()+`"}`, `{"exp":1e300,"aud":["cpibroker"],"sub":"a"}`)
	f.Add(`{"alg":"EdDSA","typ":"at+jwt","kid":"`+k.KID()+`"}`, `{"iss":1,"aud":{},"sub":[],"exp":-1e309}`)
	v := newVerifier(f, auth.NewStaticKeys(k), clock, 0)
	f.Fuzz(func(t *testing.T, header, claims string) {
		input := b64([]byte(header)) + "." + b64([]byte(claims))
		token := input + "." + b64(edSigner(priv)(input))
		p, err := v.Verify(token)
		if err != nil {
			if !errors.Is(err, auth.ErrInvalidToken) {
				t.Fatalf("error %v does not wrap ErrInvalidToken", err)
			}
			return
		}
		if p.ClientID == "" || !p.ExpiresAt.After(t0.Add(-auth.DefaultLeeway)) {
			t.Fatalf("accepted principal %+v from %s / %s", p, header, claims)
		}
		_ = p.AllowsFlow("demo-echo")
	})
}
