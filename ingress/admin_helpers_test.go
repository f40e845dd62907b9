package ingress_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/cpibroker/cpibroker/devkit/testkit"
)

// adminOf returns an HTTP client holding a token of the demo admin.
func adminOf(t *testing.T, sys *testkit.System) *testkit.Partner {
	t.Helper()
	return &testkit.Partner{T: t, BaseURL: sys.BaseURL, HTTP: http.DefaultClient,
		Token: testkit.Token(t, sys.BaseURL, sys.Creds.Admin.ClientID, sys.Creds.Admin.ClientSecret, "")}
}

// sendJSON sends v (raw when it is a string) as a JSON body.
func sendJSON(p *testkit.Partner, method, path string, v any) testkit.Response {
	p.T.Helper()
	var body []byte
	switch b := v.(type) {
	case nil:
	case string:
		body = []byte(b)
	default:
		var err error
		if body, err = json.Marshal(v); err != nil {
			p.T.Fatal(err)
		}
	}
	return p.Do(method, path, bytes.NewReader(body), http.Header{"Content-Type": {"application/json"}})
}

// expectStatus fails unless r has status want.
func expectStatus(t *testing.T, r testkit.Response, want int) {
	t.Helper()
	if r.Status != want {
		t.Fatalf("status %d, want %d: %s", r.Status, want, r.Body)
	}
}
