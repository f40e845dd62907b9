package keyring_test

import (
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/auth"
)

// benchVerify measures the ingress's verification hot path as wired: the
// Verifier resolving keys through the shared Ring.
func benchVerify(b *testing.B, cacheSize int) {
	clk := &clock{now: time.Now()}
	r := startRing(b, catalogKV(b), clk)
	iss, err := auth.NewIssuer(auth.IssuerConfig{Issuer: "https://broker.example", Signer: r.SigningKey})
	if err != nil {
		b.Fatal(err)
	}
	tok, err := iss.Issue("acme", []string{"flow:*"})
	if err != nil {
		b.Fatal(err)
	}
	v, err := auth.NewVerifier(auth.VerifierConfig{Issuer: "https://broker.example", Keys: r, CacheSize: cacheSize})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := v.Verify(tok.Value); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkVerifyRingCached is a repeated token: hash, cache hit, key check.
func BenchmarkVerifyRingCached(b *testing.B) { benchVerify(b, 0) }

// BenchmarkVerifyRingUncached is a full verification every time.
func BenchmarkVerifyRingUncached(b *testing.B) { benchVerify(b, -1) }
