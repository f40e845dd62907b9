package keyring_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/auth"
	"github.com/cpibroker/cpibroker/auth/keyring"
)

// TestCachedTokenRefusedOnceItsKeyLeavesTheRing: the Verifier as wired
// (keys from the Ring, cache on) answers a repeated token from its cache,
// yet once the signing key has been rotated out and its retention has
// passed, the very next request with that token is refused, long before
// the token's own expiry.
func TestCachedTokenRefusedOnceItsKeyLeavesTheRing(t *testing.T) {
	clk := &clock{now: time.Now()}
	r, err := keyring.New(keyring.Config{KV: catalogKV(t), SigningKeyPath: filepath.Join(t.TempDir(), "key.pem"),
		Retain: time.Minute, JanitorInterval: time.Hour, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	const issuer = "https://broker.example"
	iss, err := auth.NewIssuer(auth.IssuerConfig{Issuer: issuer, Signer: r.SigningKey, TTL: 24 * time.Hour, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := iss.Issue("acme", []string{"flow:*"})
	if err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewVerifier(auth.VerifierConfig{Issuer: issuer, Keys: r, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // verified, then from the cache
		if _, err := v.Verify(tok.Value); err != nil {
			t.Fatalf("fresh token refused: %v", err)
		}
	}
	if _, _, err := r.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(tok.Value); err != nil {
		t.Fatalf("token of a retired key refused within its retention: %v", err)
	}
	clk.Advance(time.Minute + time.Second)
	if _, err := v.Verify(tok.Value); !errors.Is(err, auth.ErrInvalidToken) {
		t.Fatalf("token of a key past its retention accepted (from the cache): %v", err)
	}
}
