package ingress_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/devkit/testkit"
)

// FuzzSubmit drives the real handler chain with hostile flow names and
// headers: nothing panics, nothing answers 5xx, and only valid names are
// accepted (so no malformed subject can reach NATS).
func FuzzSubmit(f *testing.F) {
	sys := testkit.Start(f, testkit.Options{})
	sys.Broker.Dispatcher.Pause()
	tok := sys.Partner().Token
	h := sys.Broker.Ingress.Handler()
	for _, s := range []string{"demo-echo", "a.b", "*", ">", "demo-echo.>", "%00", "..", "ü", " demo-echo", "a\tb"} {
		f.Add(s, "k", "/p", "60")
	}
	f.Fuzz(func(t *testing.T, flow, key, flowPath, ttl string) {
		req := httptest.NewRequest(http.MethodPost, "/v1/flows/x/jobs", strings.NewReader("{}"))
		req.URL.Path = "/v1/flows/" + flow + "/jobs"
		req.URL.RawPath = "/v1/flows/" + url.PathEscape(flow) + "/jobs"
		req.Header.Set("Authorization", "Bearer "+tok)
		for name, v := range map[string]string{"Idempotency-Key": key, "Flow-Path": flowPath, "Job-TTL": ttl} {
			if v != "" && !strings.ContainsAny(v, "\r\n\x00") {
				req.Header.Set(name, v)
			}
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case 202, 400, 404, 405, 409, 422:
		default:
			t.Fatalf("flow %q: status %d %s", flow, rec.Code, rec.Body)
		}
		if rec.Code == 202 && !catalog.ValidID(flow) {
			t.Fatalf("invalid flow name %q accepted", flow)
		}
	})
}
