package cpiclient

import (
	"net/http"
	"testing"
)

func TestHeaderFilter(t *testing.T) {
	t.Parallel()
	f := newHeaderFilter([]string{"X-Order-Id", "set-cookie", "Transfer-Encoding"})
	in := http.Header{
		"Content-Type":               {"application/json"},
		"SAP_MessageProcessingLogID": {"id"}, // raw spelling
		"X-Order-Id":                 {"1"},
		"Set-Cookie":                 {"a=b"},
		"Transfer-Encoding":          {"chunked"},
		"Content-Length":             {"3"},
		"Camelhttpresponsecode":      {"202"},
		"X-Other":                    {"no"},
		"Retry-After":                {"5"},
	}
	out := f.filter(in)
	for i, tc := range []struct {
		name string
		kept bool
	}{
		{"Content-Type", true},
		{"Sap_messageprocessinglogid", true},
		{"X-Order-Id", true},
		{"Retry-After", true},
		{"Set-Cookie", false},
		{"Transfer-Encoding", false},
		{"Content-Length", false},
		{"Camelhttpresponsecode", false},
		{"X-Other", false},
	} {
		if _, ok := out[tc.name]; ok != tc.kept {
			t.Errorf("Test %d: %s kept=%v, want %v", i, tc.name, ok, tc.kept)
		}
	}
}

func TestForwardHeaders(t *testing.T) {
	t.Parallel()
	in := http.Header{
		"X-Custom":          {"a", "b"},
		"Authorization":     {"Bearer stolen"},
		"cookie":            {"x=y"}, // non-canonical spelling
		"X-Csrf-Token":      {"t"},
		"SAP_ApplicationID": {"spoofed"},
		"Idempotency-Key":   {"spoofed"},
		"Connection":        {"close"},
		"Accept":            {"application/json"},
	}
	out := forwardHeaders(in)
	if len(out) != 2 || len(out["X-Custom"]) != 2 || out.Get("Accept") != "application/json" {
		t.Errorf("forwarded %v", out)
	}
	out["X-Custom"][0] = "changed"
	if in["X-Custom"][0] != "a" {
		t.Errorf("forwardHeaders shares value slices with the caller")
	}
}
