package ingress_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/cpibroker/cpibroker/devkit/testkit"
	"github.com/cpibroker/cpibroker/jobs"
)

// FuzzOrderingKey drives submits with hostile Ordering-Key headers and the
// admin sequence routes with hostile IDs through the real handler chain:
// nothing panics or answers 5xx, a key is accepted only when it is 1-128
// visible ASCII characters, and a refused one is a 400 naming the header.
func FuzzOrderingKey(f *testing.F) {
	sys := testkit.Start(f, testkit.Options{})
	sys.Broker.Dispatcher.Pause()
	tok := sys.Partner().Token
	adm := testkit.Token(f, sys.BaseURL, sys.Creds.Admin.ClientID, sys.Creds.Admin.ClientSecret, "")
	h := sys.Broker.Ingress.Handler()
	for _, s := range []string{"PO-1", "", " ", "a b", "é", strings.Repeat("k", 128), strings.Repeat("k", 129), "a.b.>", "*", "\x7f",
		"demo-partner.demo-echo.0123456789abcdef", "../..", "%2e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if strings.ContainsAny(key, "\r\n\x00") {
			return // not a header value a client can send
		}
		req := httptest.NewRequest(http.MethodPost, "/v1/flows/demo-echo/jobs", strings.NewReader("{}"))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header["Ordering-Key"] = []string{key}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch {
		case rec.Code == http.StatusAccepted && !jobs.ValidOrderingKey(key):
			t.Fatalf("key %q accepted", key)
		case rec.Code == http.StatusBadRequest && !strings.Contains(rec.Body.String(), "Ordering-Key"):
			t.Fatalf("key %q: 400 without naming the header: %s", key, rec.Body)
		case rec.Code != http.StatusAccepted && rec.Code != http.StatusBadRequest:
			t.Fatalf("key %q: status %d %s", key, rec.Code, rec.Body)
		}
		for _, suffix := range []string{"", "/skip", "/replay"} {
			method := http.MethodPost
			if suffix == "" {
				method = http.MethodGet
			}
			req := httptest.NewRequest(method, "/admin/v1/sequences/x"+suffix, nil)
			req.URL.Path = "/admin/v1/sequences/" + key + suffix
			req.URL.RawPath = "/admin/v1/sequences/" + url.PathEscape(key) + suffix
			req.Header.Set("Authorization", "Bearer "+adm)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code >= 500 {
				t.Fatalf("sequence %q%s: status %d %s", key, suffix, rec.Code, rec.Body)
			}
		}
	})
}
