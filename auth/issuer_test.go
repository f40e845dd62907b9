package auth_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/auth"
)

func TestIssuedTokenShape(t *testing.T) {
	clock := newClock()
	clock.Advance(700 * time.Millisecond) // NumericDate is whole seconds
	k := newKey(t)
	tok, err := newIssuer(t, k, clock).Issue(testClient, []string{"flow:demo-echo", "flow:demo-slow"})
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok.Value, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d segments", len(parts))
	}
	decode := func(seg string) map[string]any {
		raw, err := base64.RawURLEncoding.DecodeString(seg)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]any{}
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	wantHeader := map[string]any{"alg": "EdDSA", "typ": "at+jwt", "kid": k.KID()}
	if got := decode(parts[0]); !jsonEqual(got, wantHeader) {
		t.Errorf("header = %v, want %v", got, wantHeader)
	}
	iat := float64(t0.Unix())
	wantClaims := map[string]any{
		"iss": testIssuer, "aud": "cpibroker", "sub": testClient, "client_id": testClient,
		"iat": iat, "nbf": iat, "exp": iat + 3600, "jti": tok.JTI,
		"scope": "flow:demo-echo flow:demo-slow",
	}
	if got := decode(parts[1]); !jsonEqual(got, wantClaims) {
		t.Errorf("claims = %v, want %v", got, wantClaims)
	}
	if !tok.IssuedAt.Equal(t0) || !tok.ExpiresAt.Equal(t0.Add(time.Hour)) || len(tok.JTI) < 20 {
		t.Errorf("token = %+v", tok)
	}

	again, err := newIssuer(t, k, clock).Issue(testClient, nil)
	if err != nil {
		t.Fatal(err)
	}
	if again.JTI == tok.JTI {
		t.Error("jti repeated")
	}
	if _, ok := decode(strings.Split(again.Value, ".")[1])["scope"]; ok {
		t.Error("empty scope is not omitted")
	}
}

func jsonEqual(a, b map[string]any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func TestIssueRefusesBadInput(t *testing.T) {
	iss := newIssuer(t, newKey(t), newClock())
	for _, tc := range []struct {
		client string
		scope  []string
	}{
		{"", nil},
		{"ACME", nil},
		{testClient, []string{"flow:a b"}},
		{testClient, []string{""}},
		{testClient, []string{`flow:"x"`}},
	} {
		if _, err := iss.Issue(tc.client, tc.scope); err == nil {
			t.Errorf("Issue(%q, %q) succeeded", tc.client, tc.scope)
		}
	}
}

func TestIssuerConfigValidate(t *testing.T) {
	k := newKey(t)
	for _, tc := range []struct {
		name string
		cfg  auth.IssuerConfig
		ok   bool
	}{
		{"https", auth.IssuerConfig{Issuer: "https://broker.example.com", Key: k}, true},
		{"https with path", auth.IssuerConfig{Issuer: "https://example.com/broker", Key: k}, true},
		{"http loopback", auth.IssuerConfig{Issuer: "http://127.0.0.1:8080", Key: k}, true},
		{"http localhost", auth.IssuerConfig{Issuer: "http://localhost:8080", Key: k}, true},
		{"http ipv6 loopback", auth.IssuerConfig{Issuer: "http://[::1]:8080", Key: k}, true},
		{"custom TTL", auth.IssuerConfig{Issuer: testIssuer, Key: k, TTL: 5 * time.Minute}, true},
		{"empty issuer", auth.IssuerConfig{Key: k}, false},
		{"http remote", auth.IssuerConfig{Issuer: "http://broker.example.com", Key: k}, false},
		{"relative", auth.IssuerConfig{Issuer: "/broker", Key: k}, false},
		{"trailing slash", auth.IssuerConfig{Issuer: "https://broker.example.com/", Key: k}, false},
		{"query", auth.IssuerConfig{Issuer: "https://broker.example.com?a=b", Key: k}, false},
		{"empty query", auth.IssuerConfig{Issuer: "https://broker.example.com?", Key: k}, false},
		{"fragment", auth.IssuerConfig{Issuer: "https://broker.example.com#x", Key: k}, false},
		{"user info", auth.IssuerConfig{Issuer: "https://u:p@broker.example.com", Key: k}, false},
		{"other scheme", auth.IssuerConfig{Issuer: "ftp://broker.example.com", Key: k}, false},
		{"no key", auth.IssuerConfig{Issuer: testIssuer}, false},
		{"TTL below 1s", auth.IssuerConfig{Issuer: testIssuer, Key: k, TTL: time.Millisecond}, false},
		{"negative TTL", auth.IssuerConfig{Issuer: testIssuer, Key: k, TTL: -time.Hour}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := auth.NewIssuer(tc.cfg)
			if (err == nil) != tc.ok || (err != nil && !errors.Is(err, auth.ErrInvalidConfig)) {
				t.Fatalf("NewIssuer error = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
