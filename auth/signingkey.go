package auth

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// pemTypePrivateKey is the PEM block type of a PKCS#8 private key (RFC 7468 §10).
const pemTypePrivateKey = "PRIVATE KEY"

// SigningKey is an Ed25519 private key used to sign access tokens (JWT alg
// "EdDSA"), together with its key ID. The key ID is the RFC 7638 JWK
// thumbprint of the public key, so it is stable across restarts and equal on
// every process that loads the same file.
//
// A SigningKey never prints its private part: String and GoString show the
// key ID only.
type SigningKey struct {
	priv ed25519.PrivateKey
	kid  string
}

// GenerateSigningKey creates a new random signing key.
func GenerateSigningKey() (*SigningKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating ed25519 key: %w", err)
	}
	return newSigningKey(priv), nil
}

func newSigningKey(priv ed25519.PrivateKey) *SigningKey {
	pub := priv.Public().(ed25519.PublicKey)
	return &SigningKey{priv: priv, kid: thumbprint(pub)}
}

// ParseSigningKeyPEM decodes a PEM "PRIVATE KEY" block holding a PKCS#8
// Ed25519 private key.
func ParseSigningKeyPEM(data []byte) (*SigningKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	if block.Type != pemTypePrivateKey {
		return nil, fmt.Errorf("PEM block type %q, want %q (PKCS#8)", block.Type, pemTypePrivateKey)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parsing PKCS#8 key: %w", err)
	}
	priv, ok := key.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("key type %T, want Ed25519", key)
	}
	return newSigningKey(priv), nil
}

// LoadSigningKey reads a PEM-encoded PKCS#8 Ed25519 private key from path.
// A missing file yields an error that matches [fs.ErrNotExist].
func LoadSigningKey(path string) (*SigningKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("loading signing key: %w", err)
	}
	k, err := ParseSigningKeyPEM(data)
	if err != nil {
		return nil, fmt.Errorf("loading signing key %s: %w", path, err)
	}
	return k, nil
}

// LoadOrCreateSigningKey loads the signing key at path, or, when the file does
// not exist, generates a new key and writes it there with mode 0600 (creating
// the parent directory with mode 0700 if needed). The file appears atomically
// and is never overwritten: if another process creates it first, that key is
// loaded instead.
func LoadOrCreateSigningKey(path string) (*SigningKey, error) {
	k, err := LoadSigningKey(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	k, err = GenerateSigningKey()
	if err != nil {
		return nil, err
	}
	data, err := k.marshalPEM()
	if err != nil {
		return nil, err
	}
	if err := writeNewFile(path, data); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return LoadSigningKey(path)
		}
		return nil, fmt.Errorf("writing signing key: %w", err)
	}
	return k, nil
}

// writeNewFile writes data to a temporary file next to path and hard-links it
// to path, so path either does not exist or holds the complete content. It
// fails with an error matching fs.ErrExist when path already exists.
func writeNewFile(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".signing-key-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := writeAndClose(tmp, data); err != nil {
		return err
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // best effort: persist the new directory entry
		_ = d.Close()
	}
	return nil
}

func writeAndClose(f *os.File, data []byte) error {
	err := f.Chmod(0o600)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (k *SigningKey) marshalPEM() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k.priv)
	if err != nil {
		return nil, fmt.Errorf("encoding PKCS#8 key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemTypePrivateKey, Bytes: der}), nil
}

// KID returns the key ID: the base64url RFC 7638 thumbprint of the public key.
func (k *SigningKey) KID() string { return k.kid }

// PublicKey returns the public half of the key.
func (k *SigningKey) PublicKey() ed25519.PublicKey {
	return k.priv.Public().(ed25519.PublicKey)
}

// PublicJWK returns the public key as a JWK (RFC 8037 OKP key, alg EdDSA,
// use sig), ready for the JWK Set.
func (k *SigningKey) PublicJWK() JWK {
	return JWK{
		Kty: "OKP",
		Crv: "Ed25519",
		X:   base64.RawURLEncoding.EncodeToString(k.PublicKey()),
		Kid: k.kid,
		Alg: "EdDSA",
		Use: "sig",
	}
}

// String returns a description of the key that names its key ID only.
func (k *SigningKey) String() string { return "ed25519 signing key " + k.kid }

// GoString is like String, so %#v never prints the private key either.
func (k *SigningKey) GoString() string { return k.String() }

// thumbprint computes the RFC 7638 JWK thumbprint of an Ed25519 public key:
// SHA-256 over the required members in lexicographic order (RFC 8037 §2).
func thumbprint(pub ed25519.PublicKey) string {
	x := base64.RawURLEncoding.EncodeToString(pub)
	sum := sha256.Sum256([]byte(`{"crv":"Ed25519","kty":"OKP","x":"` + x + `"}`))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
