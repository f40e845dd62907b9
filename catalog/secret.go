package catalog

import (
	"crypto/rand"
	"encoding/base64"
)

// NewClientSecret returns a random client secret, "cs_" and 32 random
// bytes in base64url: only characters that survive HTTP Basic
// (RFC 6749 §2.3.1 form-encoding) and shells unchanged.
func NewClientSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return "cs_" + base64.RawURLEncoding.EncodeToString(b)
}

// NewWebhookSecret returns a Standard Webhooks signing secret: "whsec_"
// and 24 random bytes in base64.
func NewWebhookSecret() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}
