package auth_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/cpibroker/cpibroker/auth"
)

func TestBearerToken(t *testing.T) {
	for _, tc := range []struct {
		header string
		want   string
		err    error
	}{
		{"Bearer abc.def.ghi", "abc.def.ghi", nil},
		{"bearer abc", "abc", nil},
		{"BEARER abc", "abc", nil},
		{"Bearer   abc", "abc", nil},
		{" \tBearer abc \t", "abc", nil},
		{"Bearer a-b_c.d~e+f/g==", "a-b_c.d~e+f/g==", nil},
		{"", "", auth.ErrNoToken},
		{"   ", "", auth.ErrNoToken},
		{"Basic YTpi", "", auth.ErrNoToken},
		{"Bearerabc", "", auth.ErrNoToken},
		{"Bearer\tabc", "", auth.ErrNoToken},
		{"Bearer", "", auth.ErrInvalidToken},
		{"Bearer    ", "", auth.ErrInvalidToken},
		{"Bearer a b", "", auth.ErrInvalidToken},
		{"Bearer a,b", "", auth.ErrInvalidToken},
		{"Bearer a\tb", "", auth.ErrInvalidToken},
		{"Bearer ===", "", auth.ErrInvalidToken},
		{"Bearer a=b", "", auth.ErrInvalidToken},
		{"Bearer a\x00", "", auth.ErrInvalidToken},
		{"Bearer tökén", "", auth.ErrInvalidToken},
	} {
		got, err := auth.BearerToken(tc.header)
		if got != tc.want || !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
			t.Errorf("BearerToken(%q) = %q, %v; want %q, %v", tc.header, got, err, tc.want, tc.err)
		}
	}
}

func FuzzBearerToken(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer a.b.c", "Basic x", "", "Bearer", "Bearer a b", " Bearer  x= "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		tok, err := auth.BearerToken(header)
		if err != nil {
			if tok != "" || (!errors.Is(err, auth.ErrNoToken) && !errors.Is(err, auth.ErrInvalidToken)) {
				t.Fatalf("BearerToken(%q) = %q, %v", header, tok, err)
			}
			return
		}
		if tok == "" || strings.ContainsAny(tok, " \t\r\n,") || !strings.HasSuffix(strings.TrimRight(header, " \t"), tok) {
			t.Fatalf("BearerToken(%q) = %q", header, tok)
		}
		if again, err := auth.BearerToken("Bearer " + tok); err != nil || again != tok {
			t.Fatalf("re-parsing %q: %q, %v", tok, again, err)
		}
	})
}
