package cpitoken

import (
	"testing"
	"time"
)

// FuzzParseAnswers: token answers and error bodies from any server never
// panic, never yield an empty token, never a negative or absurd expiry,
// and quote at most bounded parts of an error body.
func FuzzParseAnswers(f *testing.F) {
	f.Add([]byte(`{"access_token":"eyJ","token_type":"bearer","expires_in":3599,"scope":"x","jti":"1"}`))
	f.Add([]byte(`{"access_token":"a","token_type":"BearerToken","expires_in":"3600"}`))
	f.Add([]byte(`{"error":"unauthorized","error_description":"Bad credentials"}`))
	f.Add([]byte(`{"access_token":"a","expires_in":-5}`))
	f.Add([]byte(`{"access_token":"a","expires_in":99999999999999999999}`))
	f.Add([]byte(`not json`))
	now := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		tok, err := parseToken(body, now)
		if err == nil {
			if tok.AccessToken == "" {
				t.Fatal("empty token accepted")
			}
			if !tok.Expiry.IsZero() && (!tok.Expiry.After(now) || tok.Expiry.After(now.Add(maxExpiresIn*time.Second))) {
				t.Fatalf("expiry %v", tok.Expiry)
			}
		}
		code, desc := oauthError(body)
		if len(code) > 64 || len(desc) > 200 {
			t.Fatalf("unbounded error parts %d %d", len(code), len(desc))
		}
	})
}
