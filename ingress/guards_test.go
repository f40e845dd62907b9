package ingress_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/internal/testkit"
)

// Issue 12 point 9: a cursor past the newest event is refused (it used to
// wrap to the start of the feed at 2^64-1), and results are never sniffed
// by a browser.
func TestEventCursorPastTheEndAndNosniff(t *testing.T) {
	sys := testkit.Start(t, testkit.Options{})
	p := sys.Partner()
	var j testkit.Job
	p.Submit("demo-echo", "text/html", []byte("<script>alert(1)</script>"), nil).JSON(t, &j)
	p.WaitJob(j.ID, 30*time.Second)

	page := readFeed(t, p, "")
	if len(page.Items) != 1 {
		t.Fatalf("feed has %d events, want 1", len(page.Items))
	}
	if pg := readFeed(t, p, "?after="+page.NextCursor); len(pg.Items) != 0 {
		t.Fatalf("the newest cursor gave %d events", len(pg.Items))
	}
	last, _ := strconv.ParseUint(page.NextCursor, 10, 64)
	for _, after := range []string{"18446744073709551615", strconv.FormatUint(last+1000, 10)} {
		expectProblem(t, p.Do(http.MethodGet, "/v1/events?after="+after, nil, nil), 400, "invalid_request")
		expectProblem(t, p.Do(http.MethodGet, "/v1/events?after="+after+"&wait=1s", nil, nil), 400, "invalid_request")
	}

	r := p.Do(http.MethodGet, "/v1/jobs/"+j.ID+"/result", nil, nil)
	if r.Status != 200 || r.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("result: %d %v", r.Status, r.Header)
	}
	r = p.Submit("demo-echo", "text/html", []byte("<b>x</b>"), http.Header{"Prefer": {"wait=10"}})
	if r.Status != 200 || r.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("Prefer: wait answer: %d %v", r.Status, r.Header)
	}
}

// Issue 12 point 3: callback prefixes and Callback-URLs are compared as
// URLs. A prefix names scheme, host and path and is stored normalised; a
// Callback-URL needs the prefix's scheme, host and port, a path on a
// segment boundary below the prefix's, and no user info.
func TestCallbackTargetsAreURLs(t *testing.T) {
	sys := testkit.Start(t, testkit.Options{})
	a := adminOf(t, sys)
	for _, bad := range []string{
		"http://127.0.0.1:",         // any port
		"https://example.com",       // no path
		"https://u@example.com/cb/", // user info
		"https://example.com/cb?x=1",
		"https://example.com:0/cb",
		"https://example.com/a/../b",
		"ftp://example.com/cb",
	} {
		expectProblem(t, sendJSON(a, http.MethodPatch, "/admin/v1/clients/demo-partner",
			map[string]any{"callback_prefixes": []string{bad}}), 400, "invalid_request")
	}
	var cl struct {
		CallbackPrefixes []string `json:"callback_prefixes"`
	}
	r := sendJSON(a, http.MethodPatch, "/admin/v1/clients/demo-partner",
		map[string]any{"callback_prefixes": []string{"HTTP://127.0.0.1:9099/cb", "https://Example.COM:443/hooks/"}})
	expectStatus(t, r, 200)
	r.JSON(t, &cl)
	if len(cl.CallbackPrefixes) != 2 || cl.CallbackPrefixes[0] != "http://127.0.0.1:9099/cb" || cl.CallbackPrefixes[1] != "https://example.com/hooks/" {
		t.Fatalf("stored prefixes %q", cl.CallbackPrefixes)
	}

	p := sys.Partner()
	for _, u := range []string{
		"http://127.0.0.1:@localhost:9099/cb/x", // user info: the request goes to localhost
		"http://127.0.0.1:9099@localhost:9099/cb",
		"http://127.0.0.1:19099/cb",             // another port
		"http://127.0.0.1/cb",                   // the default port is not 9099
		"https://127.0.0.1:9099/cb",             // another scheme
		"http://127.0.0.1:9099/cbx",             // not on a segment boundary
		"http://127.0.0.1:9099/cb/../admin",     // dot segments
		"http://127.0.0.1:9099/cb/%2e%2e/admin", // encoded dot segments
		"https://example.com.evil/hooks/x",      // another host with the prefix as its start
		"https://example.com/hooksx",
		"https://example.com:8443/hooks/x",
		"http://127.0.0.1:9099/cb#frag",
	} {
		r := p.Submit("demo-echo", "text/plain", []byte("x"), http.Header{"Callback-URL": {u}})
		if r.Status != 400 || !strings.Contains(string(r.Body), "callback_not_allowed") {
			t.Errorf("Callback-URL %s: %d %s", u, r.Status, r.Body)
		}
	}
	sys.Broker.Dispatcher.Pause() // nothing is delivered to these receivers
	for _, u := range []string{
		"http://127.0.0.1:9099/cb",
		"http://127.0.0.1:9099/cb/order-1?x=1",
		"HTTP://127.0.0.1:9099/cb/y",
		"https://example.com/hooks/a",
		"https://EXAMPLE.com:443/hooks/b",
	} {
		if r := p.Submit("demo-echo", "text/plain", []byte("x"), http.Header{"Callback-URL": {u}}); r.Status != 202 {
			t.Errorf("Callback-URL %s: %d %s", u, r.Status, r.Body)
		}
	}
}
