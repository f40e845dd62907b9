package ingress

import (
	"strings"
	"testing"
	"time"
)

func TestValidIdempotencyKey(t *testing.T) {
	for k, want := range map[string]bool{
		"a": true, "order-4711": true, strings.Repeat("k", 255): true, "!~": true,
		"": false, strings.Repeat("k", 256): false, "a b": false, "tab\t": false, "é": false, "nul\x00": false,
	} {
		if got := validIdempotencyKey(k); got != want {
			t.Errorf("validIdempotencyKey(%q) = %v", k, got)
		}
	}
}

func TestValidFlowPath(t *testing.T) {
	for p, want := range map[string]bool{
		"/a": true, "/eu/create": true, "/A-b_c.d~e/f": true,
		"": false, "/": false, "a": false, "/../x": false, "/a//b": false, "/a?b": false, "/a b": false, "/a%2e": false,
		"/" + strings.Repeat("a", 1024): false,
	} {
		if got := validFlowPath(p); got != want {
			t.Errorf("validFlowPath(%q) = %v", p, got)
		}
	}
}

func TestParseWait(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, true}, {"30s", 30 * time.Second, true}, {"5", 5 * time.Second, true},
		{"2m", time.Minute, true}, {"1500ms", 1500 * time.Millisecond, true},
		{"-1s", 0, false}, {"soon", 0, false}, {"1e9", 0, false},
	} {
		got, ok := parseWait(tc.in, time.Minute)
		if ok != tc.ok || got != tc.want {
			t.Errorf("parseWait(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func FuzzRequestHeaders(f *testing.F) {
	for _, s := range []string{"", "/a/b", "30s", "order-1", "/../", "\x00", "9999999999999999999s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if validFlowPath(s) && (strings.Contains(s, "..") || !strings.HasPrefix(s, "/") || strings.ContainsAny(s, "?#% \t*>")) {
			t.Fatalf("unsafe Flow-Path accepted: %q", s)
		}
		if validIdempotencyKey(s) && (len(s) > 255 || strings.ContainsAny(s, " \t\r\n")) {
			t.Fatalf("bad Idempotency-Key accepted: %q", s)
		}
		if d, ok := parseWait(s, time.Minute); ok && (d < 0 || d > time.Minute) {
			t.Fatalf("wait %q parsed to %v", s, d)
		}
	})
}
