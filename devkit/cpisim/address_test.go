package cpisim

import (
	"strings"
	"testing"
)

func TestParseAddress(t *testing.T) {
	t.Parallel()
	for i, tc := range []struct {
		in       string
		ok       bool
		key      string
		wildcard bool
	}{
		{"/demo/echo", true, "/demo/echo", false},
		{"/Orders/*", true, "/orders", true},
		{"/$root", true, "/$root", false},
		{"/a_b~c-d.e/F", true, "/a_b~c-d.e/f", false},
		{"/", true, "/", false},
		{"", false, "", false},
		{"demo", false, "", false},
		{"/*", false, "", false},
		{"/a*", false, "", false},
		{"/a/*/b", false, "", false},
		{"/a/$b", false, "", false},
		{"/a b", false, "", false},
		{"/a?b", false, "", false},
		{"/ä", false, "", false},
		{"/" + strings.Repeat("a", maxAddressLen), false, "", false},
	} {
		a, err := parseAddress(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("Test %d: parseAddress(%q) error %v", i, tc.in, err)
			continue
		}
		if tc.ok && (a.key != tc.key || a.wildcard != tc.wildcard || a.raw != tc.in) {
			t.Errorf("Test %d: parseAddress(%q) = %+v", i, tc.in, a)
		}
	}
}

func TestAddressMatch(t *testing.T) {
	t.Parallel()
	for i, tc := range []struct {
		addr string
		path string
		ok   bool
		sub  string
	}{
		{"/demo/echo", "/demo/echo", true, ""},
		{"/demo/echo", "/DEMO/ECHO", true, ""},
		{"/demo/echo", "/demo/echo/", false, ""},
		{"/demo/echo", "/demo/ech", false, ""},
		{"/Orders/*", "/orders/A/b", true, "A/b"},
		{"/Orders/*", "/ORDERS", true, ""},
		{"/Orders/*", "/orders/", true, ""},
		{"/Orders/*", "/ordersA", false, ""},
		{"/Orders/*", "/order", false, ""},
		{"/k/*", "/\u212a/x", false, ""}, // Kelvin sign folds to k in Unicode, not here
	} {
		a, err := parseAddress(tc.addr)
		if err != nil {
			t.Fatal(err)
		}
		sub, ok := a.match(tc.path)
		if ok != tc.ok || sub != tc.sub {
			t.Errorf("Test %d: %q.match(%q) = %q, %v", i, tc.addr, tc.path, sub, ok)
		}
	}
}

func FuzzParseAddress(f *testing.F) {
	for _, s := range []string{"/demo/echo", "/Orders/*", "/$x", "/a/*/b", "", "/*", "/\u212a"} {
		f.Add(s, "/orders/1")
	}
	f.Fuzz(func(t *testing.T, in, path string) {
		a, err := parseAddress(in)
		if err != nil {
			return
		}
		if a.key != strings.ToLower(a.key) {
			t.Fatalf("key %q not lowercase", a.key)
		}
		base := strings.TrimSuffix(in, "/*")
		for _, p := range []string{base, strings.ToUpper(base), strings.ToLower(base)} {
			if sub, ok := a.match(p); !ok || sub != "" {
				t.Fatalf("%q does not match its own base %q", in, p)
			}
		}
		if a.wildcard {
			if sub, ok := a.match(base + "/" + path); !ok || sub != path {
				t.Fatalf("%q.match(%q) = %q, %v", in, base+"/"+path, sub, ok)
			}
		}
		sub, ok := a.match(path)
		if ok && !a.wildcard && sub != "" {
			t.Fatalf("exact address returned a suffix")
		}
	})
}
