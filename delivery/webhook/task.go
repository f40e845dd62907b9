package webhook

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"github.com/cpibroker/cpibroker/catalog"
	"net"
	"net/url"
	"strings"
)

// Lane prefixes: a client webhook, or the origin of a Callback-URL.
const (
	lanePrefixWebhook  = "w-"
	lanePrefixCallback = "c-"
)

// WebhookLane is the lane of a client's webhook: its deliveries wait on
// their own subject and consumer, and share one circuit breaker.
func WebhookLane(webhookID string) string { return lanePrefixWebhook + webhookID }

// CallbackLane is the lane of a Callback-URL: one per origin (scheme, host
// and port), so every job calling back to the same receiver shares its
// concurrency and breaker. The origin is hashed into a subject token.
func CallbackLane(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("webhook: callback URL %q is not absolute", raw)
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[strings.ToLower(u.Scheme)]
	}
	origin := strings.ToLower(u.Scheme) + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port)
	h := sha256.Sum256([]byte(origin))
	return lanePrefixCallback + hex.EncodeToString(h[:8]), nil
}

// TaskID names the delivery of one event to one lane. It is a single
// subject token (no '.').
func TaskID(eventID, lane string) string { return eventID + "_" + lane }

// AllowedCallback reports whether u is within one of prefixes, compared
// as URLs (catalog.CallbackAllowed).
func AllowedCallback(u string, prefixes []string) bool {
	return catalog.CallbackAllowed(u, prefixes)
}
