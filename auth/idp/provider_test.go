package idp_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cpibroker/cpibroker/auth/idp"
)

func TestConfig_Validate(t *testing.T) {
	good := idp.Config{Issuer: "https://idp.example", Audience: "cpib", JWKSURL: "https://idp.example/jwks"}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, change := range map[string]func(*idp.Config){
		"no issuer":         func(c *idp.Config) { c.Issuer = "" },
		"no audience":       func(c *idp.Config) { c.Audience = "" },
		"http jwks":         func(c *idp.Config) { c.JWKSURL = "http://idp.example/jwks" },
		"relative jwks":     func(c *idp.Config) { c.JWKSURL = "/jwks" },
		"HS256 allowed":     func(c *idp.Config) { c.Algorithms = []string{"RS256", "HS256"} },
		"none allowed":      func(c *idp.Config) { c.Algorithms = []string{"none"} },
		"unknown algorithm": func(c *idp.Config) { c.Algorithms = []string{"XX1"} },
	} {
		c := good
		change(&c)
		if c.Validate() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// FuzzVerify feeds arbitrary strings to an external provider and to
// PeekIssuer: nothing panics and nothing verifies.
func FuzzVerify(f *testing.F) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"keys":[]}`))
	}))
	f.Cleanup(srv.Close)
	ctx, cancel := context.WithCancel(context.Background())
	f.Cleanup(cancel)
	p, err := idp.New(ctx, idp.Config{Issuer: "https://idp.example", Audience: "cpib", JWKSURL: srv.URL})
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"", "a.b.c", "eyJhbGciOiJub25lIn0.eyJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlIn0.",
		"eyJhbGciOiJSUzI1NiIsImtpZCI6IngifQ.e30.AAAA", strings.Repeat("e", 5000)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		_ = idp.PeekIssuer(tok)
		if _, err := p.Verify(ctx, tok); !errors.Is(err, idp.ErrInvalidToken) {
			t.Fatalf("Verify(%q) = %v", tok, err)
		}
	})
}
