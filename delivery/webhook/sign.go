package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cpibroker/cpibroker/catalog"
)

// Standard Webhooks header names.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// SecretPrefix starts every symmetric Standard Webhooks secret.
const SecretPrefix = "whsec_"

// ErrBadSecret: a signing secret that is not whsec_ and base64.
var ErrBadSecret = errors.New("webhook: signing secret is not whsec_<base64>")

// Key decodes a whsec_ secret into its HMAC key. The prefix is optional,
// as in the reference implementations.
func Key(secret string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
	if err != nil || len(k) == 0 {
		return nil, ErrBadSecret
	}
	return k, nil
}

// Sign returns the v1 signature token "v1,<base64>" of body for message id
// at timestamp ts (Unix seconds).
func Sign(secret, id string, ts int64, body []byte) (string, error) {
	if strings.Contains(id, ".") {
		return "", fmt.Errorf("webhook: message id %q contains '.'", id)
	}
	key, err := Key(secret)
	if err != nil {
		return "", err
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(strconv.FormatInt(ts, 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil)), nil
}

// Signature returns the webhook-signature value for body: one token per
// secret, space-separated.
func Signature(secrets []string, id string, ts int64, body []byte) (string, error) {
	if len(secrets) == 0 {
		return "", ErrBadSecret
	}
	toks := make([]string, 0, len(secrets))
	for _, s := range secrets {
		tok, err := Sign(s, id, ts, body)
		if err != nil {
			return "", err
		}
		toks = append(toks, tok)
	}
	return strings.Join(toks, " "), nil
}

// Secrets returns the secrets a client's callbacks are signed with at now:
// the current one, then every replaced one whose rotation overlap has not
// ended.
func Secrets(c catalog.Client, now time.Time) []string {
	var out []string
	if c.WebhookSecret != "" {
		out = append(out, c.WebhookSecret)
	}
	for _, p := range c.PreviousWebhookSecrets {
		if now.Before(p.ExpiresAt) && p.Value != "" {
			out = append(out, p.Value)
		}
	}
	return out
}
