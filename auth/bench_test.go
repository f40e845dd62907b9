package auth_test

import (
	"testing"

	"github.com/cpibroker/cpibroker/auth"
)

func benchVerify(b *testing.B, cacheSize int) {
	clock := newClock()
	k := newKey(b)
	tok, err := newIssuer(b, k, clock).Issue(testClient, []string{"flow:demo-echo", "flow:demo-slow"})
	if err != nil {
		b.Fatal(err)
	}
	v := newVerifier(b, auth.NewStaticKeys(k), clock, cacheSize)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := v.Verify(tok.Value); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkVerifyCached measures the per-request cost once a token has been
// seen: hash, cache lookup, key check.
func BenchmarkVerifyCached(b *testing.B) { benchVerify(b, 0) }

// BenchmarkVerifyUncached measures a full verification: decode, Ed25519
// signature check, claims validation.
func BenchmarkVerifyUncached(b *testing.B) { benchVerify(b, -1) }

// BenchmarkIssue measures signing a token.
func BenchmarkIssue(b *testing.B) {
	iss := newIssuer(b, newKey(b), newClock())
	scope := []string{"flow:*"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := iss.Issue(testClient, scope); err != nil {
			b.Fatal(err)
		}
	}
}
