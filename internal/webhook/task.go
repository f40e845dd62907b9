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

// DLQ headers of an exhausted or refused delivery, as on failed jobs.
const (
	HeaderDLQCode    = "Cpib-Error-Code"
	HeaderDLQMessage = "Cpib-Error-Message"
	HeaderDLQStatus  = "Cpib-Error-Status"
)

// Codes of a delivery kept in the DLQ.
const (
	// CodeAttemptsExhausted: every attempt of the schedule failed.
	CodeAttemptsExhausted = "attempts_exhausted"
	// CodeRejected: the receiver answered 3xx or a 4xx other than 408,
	// 410 and 429, which is not retried.
	CodeRejected = "rejected"
	// CodeGone: the receiver answered 410; a webhook is disabled.
	CodeGone = "gone"
	// CodeAddressRefused: the target resolves to an address the SSRF
	// guard refuses.
	CodeAddressRefused = "address_refused"
	// CodeWebhookDisabled: the webhook was disabled while the delivery
	// waited; replay it once the webhook is enabled again.
	CodeWebhookDisabled = "webhook_disabled"
)
