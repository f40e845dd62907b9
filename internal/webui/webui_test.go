package webui

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestSecureCookie(t *testing.T) {
	for host, want := range map[string]bool{
		"127.0.0.1:8080": false, "localhost:8080": false, "[::1]:9": false, "LOCALHOST": false,
		"broker.example.com": true, "10.0.0.1:8080": true, "127.0.0.1.evil.example": true, "": true,
	} {
		r := httptest.NewRequest(http.MethodGet, "/console/", nil)
		r.Host = host
		if got := SecureCookie(r); got != want {
			t.Errorf("%q: Secure=%v, want %v", host, got, want)
		}
	}
	r := httptest.NewRequest(http.MethodGet, "/console/", nil)
	r.Host, r.TLS = "127.0.0.1", &tls.ConnectionState{}
	if !SecureCookie(r) {
		t.Error("HTTPS on loopback must be Secure")
	}
}

func TestSparklineEscapes(t *testing.T) {
	h := string(Sparkline(`<script>alert(1)</script>`, []float64{1, 2, 3}))
	if strings.Contains(h, "<script>") || !strings.Contains(h, "&lt;script&gt;") {
		t.Fatalf("label not escaped: %s", h)
	}
	if s := string(Sparkline("empty", nil)); !strings.Contains(s, "<svg") {
		t.Fatal("no chart for no data")
	}
}

// FuzzSameOrigin: whatever Origin, Referer and Host a request carries,
// the check never panics, and it accepts an Origin only when it names the
// request's own host.
func FuzzSameOrigin(f *testing.F) {
	f.Add("http://127.0.0.1:8080", "", "127.0.0.1:8080")
	f.Add("https://evil.example", "", "broker.example")
	f.Add("", "http://broker.example/console/", "broker.example")
	f.Add("null", "", "x")
	f.Add("http://a.example.b.example", "", "a.example")
	f.Fuzz(func(t *testing.T, origin, referer, host string) {
		r := httptest.NewRequest(http.MethodPost, "/console/signin", nil)
		r.Host = host
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		if referer != "" {
			r.Header.Set("Referer", referer)
		}
		ok := SameOrigin(r)
		o := r.Header.Get("Origin")
		if ok && o != "" && o != "null" {
			rest := strings.TrimPrefix(strings.TrimPrefix(o, "https://"), "http://")
			if h, _, _ := strings.Cut(rest, "/"); !strings.EqualFold(h, host) {
				t.Fatalf("origin %q accepted for host %q", o, host)
			}
		}
	})
}
