package auth_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/cpibroker/cpibroker/auth"
)

func TestLoadOrCreateSigningKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys", "signing.pem")
	k1, err := auth.LoadOrCreateSigningKey(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("key file mode = %o, want 600", mode)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("key directory holds %d entries, want only the key", len(entries))
	}

	k2, err := auth.LoadOrCreateSigningKey(path) // loads, does not regenerate
	if err != nil {
		t.Fatal(err)
	}
	k3, err := auth.LoadSigningKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if k1.KID() != k2.KID() || k1.KID() != k3.KID() || !k1.PublicKey().Equal(k3.PublicKey()) {
		t.Errorf("kid not stable across loads: %s %s %s", k1.KID(), k2.KID(), k3.KID())
	}
	if k1.PublicJWK() != k3.PublicJWK() {
		t.Errorf("JWK differs across loads")
	}
}

func TestLoadSigningKeyErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := auth.LoadSigningKey(filepath.Join(dir, "missing.pem")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: error %v, want fs.ErrNotExist", err)
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalPKCS8PrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"not PEM", []byte("hello")},
		{"wrong block type", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER})},
		{"not PKCS#8", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}})},
		{"ECDSA key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_"))
			if err := os.WriteFile(path, tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := auth.LoadSigningKey(path); err == nil {
				t.Fatal("LoadSigningKey succeeded")
			}
			if _, err := auth.LoadOrCreateSigningKey(path); err == nil {
				t.Fatal("LoadOrCreateSigningKey replaced a corrupt key file")
			}
		})
	}
}

// TestKIDIsRFC7638Thumbprint uses the Ed25519 key of RFC 8037 Appendix A.
func TestKIDIsRFC7638Thumbprint(t *testing.T) {
	seed, err := base64.RawURLEncoding.DecodeString("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")
	if err != nil {
		t.Fatal(err)
	}
	k := signingKeyFrom(t, ed25519.NewKeyFromSeed(seed))
	if got, want := k.KID(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"; got != want {
		t.Errorf("KID = %s, want %s (RFC 8037 A.3)", got, want)
	}
	if got, want := k.PublicJWK().X, "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"; got != want {
		t.Errorf("x = %s, want %s (RFC 8037 A.2)", got, want)
	}
}

func TestSigningKeyDoesNotPrintPrivateKey(t *testing.T) {
	k := newKey(t)
	want := "ed25519 signing key " + k.KID()
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		if out := fmt.Sprintf(verb, k); out != want {
			t.Errorf("%s prints %q, want %q", verb, out, want)
		}
	}
	cfg := fmt.Sprintf("%+v", auth.IssuerConfig{Issuer: testIssuer, Key: k})
	if !strings.Contains(cfg, "Key:"+want) {
		t.Errorf("config prints %q", cfg)
	}
}

func TestLoadOrCreateSigningKeyConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "signing.pem")
	const n = 8
	kids := make(chan string, n)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			k, err := auth.LoadOrCreateSigningKey(path)
			if err != nil {
				errs <- err
				return
			}
			kids <- k.KID()
		})
	}
	wg.Wait()
	close(kids)
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	first := ""
	for kid := range kids {
		if first == "" {
			first = kid
		}
		if kid != first {
			t.Errorf("processes disagree on the key: %s vs %s", kid, first)
		}
	}
}
