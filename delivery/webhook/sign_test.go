package webhook_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/delivery/webhook"
)

// verify is a receiver's check written from the Standard Webhooks v1
// specification text, independently of package webhook:
//
//   - the secret is base64 after the "whsec_" prefix;
//   - signed content is "{msg_id}.{timestamp}.{payload}" of the raw body;
//   - HMAC-SHA256, base64, sent as "v1,<sig>" in a space-delimited list;
//   - compared in constant time; any matching v1 signature is accepted;
//   - the timestamp must be within a tolerance (5 minutes, as the
//     reference libraries use) of now.
func verify(secret string, h http.Header, body []byte, now time.Time) error {
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return errors.New("missing headers")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errors.New("bad timestamp")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return errors.New("timestamp outside tolerance")
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return errors.New("bad secret")
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "." + string(body)))
	want := mac.Sum(nil)
	for _, s := range strings.Split(sigs, " ") {
		version, b64, ok := strings.Cut(s, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return errors.New("no matching signature")
}

// TestPublishedTestVector reproduces the specification's published vector
// exactly: a receiver's existing library accepts what we send.
func TestPublishedTestVector(t *testing.T) {
	const (
		secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
		id     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
		ts     = int64(1614265330)
		body   = `{"test": 2432232314}`
		want   = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	)
	got, err := webhook.Sign(secret, id, ts, []byte(body))
	if err != nil || got != want {
		t.Fatalf("Sign = %q, %v; want %q", got, err, want)
	}
	// Without the prefix, as the reference implementations accept.
	if got, _ := webhook.Sign(strings.TrimPrefix(secret, "whsec_"), id, ts, []byte(body)); got != want {
		t.Fatalf("Sign without prefix = %q", got)
	}
	h := http.Header{"Webhook-Id": {id}, "Webhook-Timestamp": {"1614265330"}, "Webhook-Signature": {want}}
	if err := verify(secret, h, []byte(body), time.Unix(ts, 0)); err != nil {
		t.Fatalf("independent verifier rejects the published vector: %v", err)
	}
}

// TestSignaturesVerifyIndependently signs random events with fresh secrets
// and checks them with the independent verifier, including a rotation
// (both signatures, either secret verifies) and tampering.
func TestSignaturesVerifyIndependently(t *testing.T) {
	now := time.Now()
	old, cur := catalog.NewWebhookSecret(), catalog.NewWebhookSecret()
	c := catalog.Client{WebhookSecret: cur, PreviousWebhookSecrets: []catalog.ExpiringSecret{
		{Value: old, ExpiresAt: now.Add(time.Hour)},
		{Value: catalog.NewWebhookSecret(), ExpiresAt: now.Add(-time.Second)}, // expired: not used
	}}
	secrets := webhook.Secrets(c, now)
	if len(secrets) != 2 || secrets[0] != cur || secrets[1] != old {
		t.Fatalf("Secrets = %v", secrets)
	}
	body := []byte(`{"id":"evt_1","type":"job.succeeded","data":{"x":"ünïcode \u2028"}}`)
	sig, err := webhook.Signature(secrets, "evt_01JABC_1", now.Unix(), body)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(strings.Split(sig, " ")); n != 2 {
		t.Fatalf("rotation signature %q has %d tokens, want 2", sig, n)
	}
	h := http.Header{}
	h.Set(webhook.HeaderID, "evt_01JABC_1")
	h.Set(webhook.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	h.Set(webhook.HeaderSignature, sig)
	for _, s := range []string{cur, old} {
		if err := verify(s, h, body, now); err != nil {
			t.Fatalf("verify with %s: %v", s[:10], err)
		}
	}
	if err := verify(catalog.NewWebhookSecret(), h, body, now); err == nil {
		t.Fatal("a stranger's secret verified")
	}
	if err := verify(cur, h, append([]byte{}, append(body, ' ')...), now); err == nil {
		t.Fatal("a changed body verified")
	}
	if err := verify(cur, h, body, now.Add(6*time.Minute)); err == nil {
		t.Fatal("a stale timestamp verified")
	}
	if _, err := webhook.Sign(cur, "evt.with.dots", now.Unix(), body); err == nil {
		t.Fatal("an id containing '.' was signed")
	}
	if _, err := webhook.Sign("whsec_not base64!", "x", 1, body); !errors.Is(err, webhook.ErrBadSecret) {
		t.Fatalf("bad secret: %v", err)
	}
}
