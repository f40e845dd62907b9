package auth

import "crypto/ed25519"

// KeyResolver finds the public key that verifies tokens with a given key ID.
// It must be safe for concurrent use and cheap: it is called on every
// verification, including verifications answered from the cache, so that a
// key withdrawn from the resolver stops verifying its tokens at once.
type KeyResolver interface {
	// PublicKey returns the key for kid, or false when kid is unknown.
	PublicKey(kid string) (ed25519.PublicKey, bool)
}

// StaticKeys is a fixed set of public keys indexed by key ID. It is safe for
// concurrent reads; to change the set, build a new StaticKeys and swap it in
// behind a resolver of your own.
type StaticKeys map[string]ed25519.PublicKey

var _ KeyResolver = StaticKeys(nil)

// NewStaticKeys returns the public keys of the given signing keys.
func NewStaticKeys(keys ...*SigningKey) StaticKeys {
	s := make(StaticKeys, len(keys))
	for _, k := range keys {
		s[k.KID()] = k.PublicKey()
	}
	return s
}

// PublicKey implements [KeyResolver].
func (s StaticKeys) PublicKey(kid string) (ed25519.PublicKey, bool) {
	k, ok := s[kid]
	return k, ok
}
