package ingress_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cpibroker/cpibroker/devkit/testkit"
)

// FuzzAuthorizationHeader drives the real middleware chain with hostile
// Authorization headers: nothing panics, the answer is 200 or 401, and 200
// only for a header that carries the one valid token.
func FuzzAuthorizationHeader(f *testing.F) {
	sys := testkit.Start(f, testkit.Options{})
	sys.Broker.Dispatcher.Pause()
	tok := sys.Partner().Token
	h := sys.Broker.Ingress.Handler()
	parts := strings.Split(tok, ".")
	for _, s := range []string{
		"Bearer " + tok, "bearer " + tok, "Bearer  " + tok, "Bearer " + tok + " ", "Bearer\t" + tok,
		"Bearer " + tok + "=", "Bearer " + tok + ".x", "Basic " + tok, "Bearer", "Bearer ", "",
		"Bearer " + parts[0] + ".." + parts[2], "Bearer " + parts[1] + "." + parts[0] + "." + parts[2],
		"Bearer " + strings.Repeat("A", 9000), "Bearer eyJhbGciOiJub25lIn0.e30.", "Bearer a.b.c",
		"Bearer " + tok + ", Bearer " + tok,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		if strings.ContainsAny(header, "\r\n\x00") {
			return // not representable in a real request
		}
		req := httptest.NewRequest(http.MethodGet, "/v1/flows", nil)
		req.Header.Set("Authorization", header)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK:
			scheme, rest, _ := strings.Cut(strings.Trim(header, " \t"), " ")
			if !strings.EqualFold(scheme, "Bearer") || strings.TrimLeft(rest, " ") != tok {
				t.Fatalf("header %q accepted", header)
			}
		case http.StatusUnauthorized:
			if !strings.Contains(rec.Header().Get("WWW-Authenticate"), `error="invalid_token"`) {
				t.Fatalf("401 without challenge for %q", header)
			}
		default:
			t.Fatalf("header %q: status %d %s", header, rec.Code, rec.Body)
		}
	})
}
