package ingress_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/cpibroker/cpibroker/devkit/testkit"
)

// rawSubmit writes a submit by hand (headers, then body, then a
// half-close, as a client whose connection breaks) and reads the answer.
func rawSubmit(t *testing.T, sys *testkit.System, token, header, body string) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(sys.BaseURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := "POST /v1/flows/demo-echo/jobs HTTP/1.1\r\nHost: broker\r\nAuthorization: Bearer " + token +
		"\r\nContent-Type: text/plain\r\n" + header + "\r\n" + body
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestTruncatedBodyIs400 (issue 12.6): a body cut off before its
// Content-Length (or its last chunk) is the client's mistake: 400
// invalid_request, for a small body and for one that would be streamed to
// the object store, and nothing is stored.
func TestTruncatedBodyIs400(t *testing.T) {
	sys := testkit.Start(t, testkit.Options{})
	sys.Broker.Dispatcher.Pause()
	p := sys.Partner()
	for _, tc := range []struct{ name, header, body string }{
		{"small, Content-Length larger than sent", "Content-Length: 1000\r\n", "short body"},
		{"large, Content-Length larger than sent", "Content-Length: " + strconv.Itoa(10<<20) + "\r\n", "short body"},
		{"large, more sent than inline but cut off", "Content-Length: " + strconv.Itoa(10<<20) + "\r\n", strings.Repeat("x", 2<<20)},
		{"chunked, no last chunk", "Transfer-Encoding: chunked\r\n", fmt.Sprintf("%x\r\n%s\r\n", 1<<20, strings.Repeat("y", 1<<20))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, body := rawSubmit(t, sys, p.Token, tc.header, tc.body)
			if st != http.StatusBadRequest || !strings.Contains(body, `"code":"invalid_request"`) {
				t.Fatalf("%d %s", st, body)
			}
		})
	}
	var feed struct {
		Items []any `json:"items"`
	}
	r := p.Do(http.MethodGet, "/v1/jobs?limit=10", nil, nil)
	if r.Status == http.StatusOK {
		r.JSON(t, &feed)
		if len(feed.Items) != 0 {
			t.Fatalf("truncated submits stored jobs: %s", r.Body)
		}
	}
}

// TestAdminRecordTooLargeIs413 (issue 12.6): a PATCH that would make a
// client record larger than the store takes is 413 naming the field, not
// a 503; the client is unchanged.
func TestAdminRecordTooLargeIs413(t *testing.T) {
	sys := testkit.Start(t, testkit.Options{})
	sys.Broker.Dispatcher.Pause()
	admin := adminOf(t, sys)
	grants := make([]string, 9000)
	for i := range grants {
		grants[i] = fmt.Sprintf("flow-%058d", i) // 63 characters: a valid ID
	}
	p := expectProblem(t, sendJSON(admin, http.MethodPatch, "/admin/v1/clients/demo-partner",
		map[string]any{"grants": grants}), http.StatusRequestEntityTooLarge, "record_too_large")
	if !strings.Contains(p.Detail, "grants") {
		t.Fatalf("detail %q does not name grants", p.Detail)
	}
	var c struct {
		Grants []string `json:"grants"`
	}
	sendJSON(admin, http.MethodGet, "/admin/v1/clients/demo-partner", nil).JSON(t, &c)
	if len(c.Grants) > 100 {
		t.Fatalf("the refused PATCH was stored: %d grants", len(c.Grants))
	}
}
