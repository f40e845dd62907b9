package ingress_test

import (
	"net/http"
	"strconv"
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
