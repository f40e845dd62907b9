package auth

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
)

// JWK is a public JSON Web Key (RFC 7517) of type OKP (RFC 8037).
type JWK struct {
	// Kty is the key type; "OKP" for Ed25519 keys.
	Kty string `json:"kty"`
	// Crv is the curve; "Ed25519".
	Crv string `json:"crv,omitempty"`
	// X is the base64url-encoded public key.
	X string `json:"x,omitempty"`
	// Kid is the key ID, matched against the kid header of tokens.
	Kid string `json:"kid,omitempty"`
	// Alg is the algorithm the key is used with; "EdDSA".
	Alg string `json:"alg,omitempty"`
	// Use is the intended use; "sig".
	Use string `json:"use,omitempty"`
}

// PublicKey decodes j as an Ed25519 public key. It fails for any other key
// type or curve, and for a key whose alg or use forbids signature checks.
func (j JWK) PublicKey() (ed25519.PublicKey, error) {
	if j.Kty != "OKP" || j.Crv != "Ed25519" {
		return nil, fmt.Errorf("key type %q curve %q, want OKP Ed25519", j.Kty, j.Crv)
	}
	if j.Alg != "" && j.Alg != "EdDSA" {
		return nil, fmt.Errorf("key alg %q, want EdDSA", j.Alg)
	}
	if j.Use != "" && j.Use != "sig" {
		return nil, fmt.Errorf("key use %q, want sig", j.Use)
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(j.X)
	if err != nil {
		return nil, fmt.Errorf("decoding x: %w", err)
	}
	if len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("x is %d bytes, want %d", len(raw), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(raw), nil
}

// jwkSet is the JWK Set document (RFC 7517 §5).
type jwkSet struct {
	Keys []JWK `json:"keys"`
}

// JWKSJSON encodes keys as a JWK Set document, {"keys":[...]}, served at
// /.well-known/jwks.json. Every key must be a valid Ed25519 key with a key ID.
func JWKSJSON(keys []JWK) ([]byte, error) {
	for i, k := range keys {
		if k.Kid == "" {
			return nil, fmt.Errorf("jwks key %d: missing kid", i)
		}
		if _, err := k.PublicKey(); err != nil {
			return nil, fmt.Errorf("jwks key %s: %w", k.Kid, err)
		}
	}
	if keys == nil {
		keys = []JWK{}
	}
	return json.Marshal(jwkSet{Keys: keys})
}

// ParseJWKS decodes a JWK Set document into [StaticKeys]. Following RFC 7517
// §5, keys of other types or curves and keys not meant for EdDSA signatures
// are skipped. An Ed25519 key without a kid, with a malformed x, or two keys
// sharing a kid with different material are errors.
func ParseJWKS(data []byte) (StaticKeys, error) {
	var set struct {
		Keys *[]JWK `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("decoding jwks: %w", err)
	}
	if set.Keys == nil {
		return nil, errors.New("decoding jwks: missing keys member")
	}
	keys := make(StaticKeys, len(*set.Keys))
	for _, k := range *set.Keys {
		if k.Kty != "OKP" || k.Crv != "Ed25519" ||
			(k.Alg != "" && k.Alg != "EdDSA") || (k.Use != "" && k.Use != "sig") {
			continue
		}
		if k.Kid == "" {
			return nil, errors.New("jwks: Ed25519 key without kid")
		}
		pub, err := k.PublicKey()
		if err != nil {
			return nil, fmt.Errorf("jwks key %s: %w", k.Kid, err)
		}
		if old, dup := keys[k.Kid]; dup && !old.Equal(pub) {
			return nil, fmt.Errorf("jwks: kid %s used by two different keys", k.Kid)
		}
		keys[k.Kid] = pub
	}
	return keys, nil
}
