package console_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/devkit/testkit"
)

// admin is an admin API client of sys.
func admin(t *testing.T, sys *testkit.System) *testkit.Partner {
	t.Helper()
	return &testkit.Partner{T: t, BaseURL: sys.BaseURL, HTTP: &http.Client{Timeout: 30 * time.Second},
		Token: testkit.Token(t, sys.BaseURL, sys.Creds.Admin.ClientID, sys.Creds.Admin.ClientSecret, "")}
}

// call sends v as JSON and fails unless the answer has status want.
func call(t *testing.T, p *testkit.Partner, method, path string, v any, want int) testkit.Response {
	t.Helper()
	var body io.Reader
	if v != nil {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		body = bytes.NewReader(b)
	}
	r := p.Do(method, path, body, http.Header{"Content-Type": {"application/json"}})
	if r.Status != want {
		t.Fatalf("%s %s: %d %s, want %d", method, path, r.Status, r.Body, want)
	}
	return r
}

// serve runs srv on a loopback port until the test ends and returns its URL.
func serve(t *testing.T, srv *http.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}
