package catalog_test

import (
	"errors"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/cpibroker/cpibroker/catalog"
)

func TestNormalizeCallbackPrefix(t *testing.T) {
	for in, want := range map[string]string{
		"https://hooks.example.com/cpib/":     "https://hooks.example.com/cpib/",
		"HTTPS://Hooks.Example.COM:443/cpib":  "https://hooks.example.com/cpib",
		"http://127.0.0.1:80/":                "http://127.0.0.1/",
		"http://127.0.0.1:9099/cb":            "http://127.0.0.1:9099/cb",
		"https://[0:0::1]:8443/x/":            "https://[::1]:8443/x/",
		"https://[FD00::A]/x":                 "https://[fd00::a]/x",
		"http://localhost:9099/":              "http://localhost:9099/",
		"https://hooks.example.com/a%20b/":    "https://hooks.example.com/a%20b/",
		"https://hooks.example.com:8443/cpib": "https://hooks.example.com:8443/cpib",
	} {
		got, err := catalog.NormalizeCallbackPrefix(in)
		if err != nil || got != want {
			t.Errorf("NormalizeCallbackPrefix(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{
		"", "/cb", "http://127.0.0.1:", "http://127.0.0.1:/x", "https://example.com", "https://u@example.com/",
		"https://u:p@example.com/", "https://:@example.com/", "https://example.com/x?y", "https://example.com/x?",
		"https://example.com/x#f", "https://example.com:0/", "https://example.com:65536/", "https://example.com:08/",
		"https://example.com:x/", "ftp://example.com/", "https:example.com/x", "https://example.com/./x",
		"https://example.com/x/..", "https://example.com/%2e%2E/x", "https://example.com/a%2fb/", "https://ex ample.com/",
		"https://example.com\\@evil/", "https://[fe80::1%25eth0]/x", "https://" + strings.Repeat("a", 2100) + "/",
	} {
		if got, err := catalog.NormalizeCallbackPrefix(in); err == nil || !errors.Is(err, catalog.ErrCallbackPrefix) {
			t.Errorf("NormalizeCallbackPrefix(%q) = %q, %v; want ErrCallbackPrefix", in, got, err)
		}
	}
}

func TestCallbackAllowed(t *testing.T) {
	prefixes := []string{"http://127.0.0.1:9099/cb", "https://example.com/hooks/", "https://[::1]/v6/"}
	for u, want := range map[string]bool{
		"http://127.0.0.1:9099/cb":              true,
		"http://127.0.0.1:9099/cb/":             true,
		"http://127.0.0.1:9099/cb/x?y=1":        true,
		"HTTP://127.0.0.1:9099/cb/x":            true,
		"https://example.com/hooks/x":           true,
		"https://example.com:443/hooks/x":       true,
		"https://EXAMPLE.com/hooks/x":           true,
		"https://[0::1]:443/v6/a":               true,
		"http://127.0.0.1:9099/cbx":             false,
		"http://127.0.0.1:9099/c":               false,
		"http://127.0.0.1:9098/cb":              false,
		"http://127.0.0.1/cb":                   false,
		"https://127.0.0.1:9099/cb":             false,
		"http://127.0.0.1:@localhost:9099/cb":   false,
		"http://127.0.0.1:9099@localhost/cb":    false,
		"http://u@127.0.0.1:9099/cb":            false,
		"https://example.com.evil/hooks/x":      false,
		"https://example.com/hooks":             false,
		"https://example.com/hooksx/":           false,
		"https://example.com:8443/hooks/x":      false,
		"http://example.com/hooks/x":            false,
		"https://example.com/hooks/../admin":    false,
		"https://example.com/hooks/%2e%2e/x":    false,
		"https://example.com/hooks/a%2F..%2Fb":  false,
		"https://example.com/hooks/x#f":         false,
		"//example.com/hooks/x":                 false,
		"https://example.com\\@evil.com/hooks/": false,
		"":                                      false,
	} {
		if got := catalog.CallbackAllowed(u, prefixes); got != want {
			t.Errorf("CallbackAllowed(%q) = %v, want %v", u, got, want)
		}
	}
	// A prefix stored by an older release that no longer parses admits
	// nothing; one without a path means "/".
	if catalog.CallbackAllowed("http://127.0.0.1:1/x", []string{"http://127.0.0.1:"}) {
		t.Error("a port-less legacy prefix admitted a URL")
	}
	if !catalog.CallbackAllowed("https://example.com/x", []string{"https://example.com"}) {
		t.Error("a legacy prefix without a path did not admit its origin")
	}
}

// origin is an independent reading of a URL's scheme, host and port.
func origin(raw string) (scheme, host, port string, ok bool) {
	u, err := url.Parse(raw)
	if err != nil || u.User != nil {
		return "", "", "", false
	}
	scheme, host, port = strings.ToLower(u.Scheme), strings.ToLower(u.Hostname()), u.Port()
	if a, err := netip.ParseAddr(host); err == nil {
		host = a.String()
	}
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[scheme]
	}
	return scheme, host, port, true
}

// FuzzCallbackAllowed: whatever the prefix and URL, an admitted URL has no
// user info and the prefix's scheme, host and port, and its path is the
// prefix's path or below it on a segment boundary; normalising a prefix is
// idempotent and admits exactly what the raw prefix admits.
func FuzzCallbackAllowed(f *testing.F) {
	for _, s := range [][2]string{
		{"http://127.0.0.1:9099/cb", "http://127.0.0.1:@localhost:9099/cb/x"},
		{"https://example.com/", "https://example.com.evil/"},
		{"https://example.com/hooks/", "https://example.com:443/hooks/a?b"},
		{"http://127.0.0.1:", "http://127.0.0.1:1/"},
		{"https://[::1]/x", "https://[0::1]:443/x/y"},
		{"https://a.example/x", "https://a.example/x/%2e%2e/y"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, prefix, u string) {
		allowed := catalog.CallbackAllowed(u, []string{prefix})
		norm, err := catalog.NormalizeCallbackPrefix(prefix)
		if err == nil {
			again, err := catalog.NormalizeCallbackPrefix(norm)
			if err != nil || again != norm {
				t.Fatalf("normalising %q gave %q, then %q, %v", prefix, norm, again, err)
			}
			if catalog.CallbackAllowed(u, []string{norm}) != allowed {
				t.Fatalf("%q and its normal form %q disagree on %q", prefix, norm, u)
			}
		}
		if !allowed {
			return
		}
		// origin refuses user info, so an admitted URL with it fails here.
		us, uh, up, ok1 := origin(u)
		ps, ph, pp, ok2 := origin(prefix)
		if !ok1 || !ok2 || us != ps || uh != ph || up != pp {
			t.Fatalf("%q admitted by %q across origins (%s %s %s vs %s %s %s)", u, prefix, us, uh, up, ps, ph, pp)
		}
		pu, _ := url.Parse(u)
		pp2, _ := url.Parse(prefix)
		path, ppath := pu.EscapedPath(), pp2.EscapedPath()
		if path == "" {
			path = "/"
		}
		if ppath == "" {
			ppath = "/"
		}
		if !(path == ppath || strings.HasPrefix(path, strings.TrimSuffix(ppath, "/")+"/")) {
			t.Fatalf("%q admitted by %q outside its path", u, prefix)
		}
		for seg := range strings.SplitSeq(path, "/") {
			if d, _ := url.PathUnescape(seg); d == "." || d == ".." {
				t.Fatalf("%q with a dot segment admitted", u)
			}
		}
	})
}
