package e2e_test

import (
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/devkit/testkit"
)

// shellBlock returns the first ```sh block after the line starting with
// heading in the markdown file.
func shellBlock(t *testing.T, file, heading string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "\n"+heading)
	if i < 0 {
		t.Fatalf("%s: no %q", file, heading)
	}
	s = s[i:]
	start := strings.Index(s, "\n```sh\n")
	end := strings.Index(s[start+7:], "\n```\n")
	if start < 0 || end < 0 {
		t.Fatalf("%s: no sh block after %q", file, heading)
	}
	return s[start+7 : start+7+end+1]
}

// runScript runs a bash script with set -e in dir and returns its output.
func runScript(t *testing.T, dir, script string) string {
	t.Helper()
	cmd := exec.Command("bash", "-e", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TIMEFORMAT=%R s")
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-done:
		case <-time.After(3 * time.Minute):
			_ = cmd.Process.Kill()
		}
	}()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("script failed: %v\n--- script\n%s\n--- output\n%s", err, script, out)
	}
	return string(out)
}

// The README walkthrough and the start banner run as written (the broker's
// address, the receiver's port and `go run` replaced by the test's), with
// the same tools: curl and sed.
func TestWalkthroughAsWritten(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "data")
	p, _, _ := demoProc(t, dir)
	bin := testkit.Binary(t)

	// The banner's "Try it" commands.
	out := p.Output()
	if strings.Contains(out, "jq") {
		t.Fatal("the banner uses jq; the walkthrough does not")
	}
	i, j := strings.Index(out, "Try it:\n"), strings.Index(out, "The walkthrough in README.md")
	if i < 0 || j < i {
		t.Fatalf("no Try it block in the banner:\n%s", out)
	}
	got := runScript(t, root, out[i+len("Try it:\n"):j])
	if !strings.Contains(got, `"status":"succeeded"`) || !strings.Contains(got, "HTTP/1.1 200") || !strings.Contains(got, `{"order":42}`) {
		t.Fatalf("banner commands:\n%s", got)
	}

	// A receiver in place of python's http.server (which answers POST 501).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hooks := make(chan http.Header, 100)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		hooks <- r.Header
		w.WriteHeader(http.StatusNotImplemented)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)

	script := shellBlock(t, "../../README.md", "## Walkthrough")
	longPoll := filepath.Join(root, "longpoll.json")
	// In this order: the receiver line before its port.
	for _, r := range [][2]string{
		{"http://127.0.0.1:8080", p.BaseURL},
		{"go run ./cmd/cpibroker", bin},
		{"python3 -m http.server --bind 127.0.0.1 9099 &", ": receiver started by the test"},
		{"9099", port},
		{"/tmp/job.txt", filepath.Join(root, "job.txt")},
		{`wait=30s"   # ~2 s`, `wait=30s" | tee ` + longPoll},
	} {
		if !strings.Contains(script, r[0]) {
			t.Fatalf("the walkthrough no longer has %q", r[0])
		}
		script = strings.ReplaceAll(script, r[0], r[1])
	}
	got = runScript(t, root, script)
	for _, want := range []string{
		"HTTP/1.1 202 Accepted", "Location: /v1/jobs/", `"status":"succeeded"`, `{"order":42}`,
		"Idempotent-Replayed: true", `"added": 1`, `"status":"ready"`, "cpibroker_jobs",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the walkthrough's output lacks %q", want)
		}
	}
	// The long-poll past the newest event waited for the job submitted
	// after it began: it answered with that job's event, not an empty page.
	if b, err := os.ReadFile(longPoll); err != nil || !strings.Contains(string(b), `"items":[{`) {
		t.Errorf("long-poll answer %q (%v)", b, err)
	}
	select {
	case h := <-hooks:
		if h.Get("webhook-signature") == "" || h.Get("webhook-id") == "" {
			t.Errorf("webhook without signature headers: %v", h)
		}
	case <-time.After(30 * time.Second):
		t.Error("the webhook of step 7 never arrived")
	}
	if t.Failed() {
		t.Logf("walkthrough output:\n%s", got)
	}
}
