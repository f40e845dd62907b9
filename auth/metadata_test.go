package auth_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/cpibroker/cpibroker/auth"
)

func TestMetadataJSON(t *testing.T) {
	data, err := auth.MetadataJSON(testIssuer)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"issuer":                                testIssuer,
		"token_endpoint":                        testIssuer + "/oauth/token",
		"jwks_uri":                              testIssuer + "/.well-known/jwks.json",
		"scopes_supported":                      []any{"flow:*"},
		"grant_types_supported":                 []any{"client_credentials"},
		"token_endpoint_auth_methods_supported": []any{"client_secret_basic", "client_secret_post"},
	}
	if !jsonEqual(got, want) {
		t.Errorf("metadata = %s", data)
	}
	// No authorization endpoint, and no empty arrays (RFC 8414 §2, §3.2).
	for _, absent := range []string{"authorization_endpoint", "response_types_supported"} {
		if _, ok := got[absent]; ok {
			t.Errorf("metadata has %s", absent)
		}
	}

	if _, err := auth.MetadataJSON("http://broker.example.com"); !errors.Is(err, auth.ErrInvalidConfig) {
		t.Errorf("plain http issuer: %v", err)
	}
}
