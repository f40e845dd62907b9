package e2e_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/devkit/demo"
	"github.com/cpibroker/cpibroker/devkit/testkit"
)

// demoProc starts `cpibroker serve --demo` on dir and returns it with the
// demo partner's credentials once demo setup is done.
func demoProc(t *testing.T, dir string, extra ...string) (*testkit.Proc, demo.Credentials, string) {
	t.Helper()
	args := append([]string{"serve", "--demo", "--data-dir", dir, "--listen", "127.0.0.1:0"}, extra...)
	p := testkit.StartProc(t, args...)
	p.WaitOutput(30*time.Second, "cpibroker demo is running.")
	b, err := os.ReadFile(filepath.Join(dir, "demo-credentials.json"))
	if err != nil {
		t.Fatal(err)
	}
	var c demo.Credentials
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	// The simulator's address is printed with the demo banner.
	var sim string
	for _, l := range strings.Split(p.Output(), "\n") {
		if f := strings.Fields(l); len(f) >= 3 && f[0] == "simulated" && f[1] == "CPI" {
			sim = f[2]
		}
	}
	if sim == "" {
		t.Fatal("no simulator URL in the demo banner")
	}
	return p, c, sim
}

// outcome of one submit during the load.
type outcome struct {
	accepted  []string
	drained   int // 503 unavailable with Retry-After
	refused   int // connection refused once the listener closed
	unexpects []string
}

// SIGTERM to a real process mid-load: requests that arrive during the drain
// get 503 unavailable with Retry-After (never a reset connection), long
// before the listener closes (--drain-delay), the
// process exits 0 within the grace period, jobs still at CPI when the grace
// ends are handed back, and after a restart on the same data dir every job
// that got a 202 ends succeeded: nothing accepted is lost.
func TestSIGTERMMidLoadLosesNothing(t *testing.T) {
	dir := t.TempDir()
	// The embedded JetStream server stops with the process: a job that was
	// on its way to this process when it stopped (delivered, not yet
	// handled) is redelivered after --ack-wait, kept short here.
	p, creds, sim := demoProc(t, dir, "--drain-delay", "1s", "--shutdown-grace", "1s", "--ack-wait", "5s")
	// Some iFlow calls outlast the grace period: those jobs are released.
	req, _ := http.NewRequest(http.MethodPut, sim+"/sim/v1/iflows/Slow/faults", strings.NewReader(`{"latency":"4s"}`))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("sim faults: %v %v", err, resp)
	}
	token := testkit.Token(t, p.BaseURL, creds.Partner.ClientID, creds.Partner.ClientSecret, "")
	client := &http.Client{Timeout: 30 * time.Second}
	t.Cleanup(client.CloseIdleConnections)

	var (
		mu       sync.Mutex
		out      outcome
		stopping atomic.Bool
		n        atomic.Int64
		wg       sync.WaitGroup
	)
	enough := make(chan struct{})
	var enoughOnce sync.Once
	for w := range 8 {
		wg.Go(func() {
			drained := 0
			for i := 0; ; i++ {
				flow := []string{"demo-echo", "demo-slow"}[i%2]
				key := fmt.Sprintf("load-%d-%d", w, i)
				req, _ := http.NewRequest(http.MethodPost, p.BaseURL+"/v1/flows/"+flow+"/jobs", strings.NewReader(key))
				req.Header.Set("Authorization", "Bearer "+token)
				req.Header.Set("Content-Type", "text/plain")
				// An idempotency key makes a POST safe for the transport to
				// retry on a connection the server closed while idle.
				req.Header.Set("Idempotency-Key", key)
				resp, err := client.Do(req)
				mu.Lock()
				switch {
				case err != nil && errors.Is(err, syscall.ECONNREFUSED) && stopping.Load():
					out.refused++
				case err != nil:
					out.unexpects = append(out.unexpects, err.Error())
				case resp.StatusCode == http.StatusAccepted:
					out.accepted = append(out.accepted, strings.TrimPrefix(resp.Header.Get("Location"), "/v1/jobs/"))
				case resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != "" && stopping.Load():
					var pb struct {
						Code string `json:"code"`
					}
					_ = json.NewDecoder(resp.Body).Decode(&pb)
					if pb.Code == "unavailable" {
						out.drained++
					} else {
						out.unexpects = append(out.unexpects, "503 "+pb.Code)
					}
				default:
					out.unexpects = append(out.unexpects, resp.Status)
				}
				refused := out.refused
				mu.Unlock()
				if resp != nil && resp.StatusCode == http.StatusServiceUnavailable {
					drained++
				}
				if resp != nil {
					resp.Body.Close()
				}
				if n.Add(1) == 60 {
					enoughOnce.Do(func() { close(enough) })
				}
				// A client told 503 three times goes away, as a load
				// balancer would during the drain delay; closing a listening
				// socket resets connections still in its accept queue, so
				// requests racing the close are not this test's subject.
				if drained >= 3 || refused > 0 || len(out.unexpects) > 20 {
					return
				}
			}
		})
	}
	<-enough
	// SIGTERM once a demo-slow job is at CPI: it cannot finish in the grace
	// period and must be handed back.
	watch := &testkit.Partner{T: t, BaseURL: p.BaseURL, HTTP: client, Token: token}
	testkit.Eventually(t, 20*time.Second, "a demo-slow job running", func() bool {
		mu.Lock()
		ids := append([]string(nil), out.accepted...)
		mu.Unlock()
		for _, id := range ids {
			var j testkit.Job
			watch.Do(http.MethodGet, "/v1/jobs/"+id, nil, nil).JSON(t, &j)
			if j.Flow == "demo-slow" && j.Status == "running" {
				return true
			}
		}
		return false
	})
	stopping.Store(true)
	p.Signal(syscall.SIGTERM)
	if code := p.Wait(30 * time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM", code)
	}
	wg.Wait()
	t.Logf("accepted %d, answered 503 while draining %d, refused after close %d", len(out.accepted), out.drained, out.refused)
	if len(out.unexpects) > 0 {
		t.Fatalf("unexpected answers during the load and drain: %v", out.unexpects)
	}
	if out.drained == 0 {
		t.Fatal("no request was answered 503 during the drain")
	}
	released := strings.Contains(p.Output(), "job released at shutdown")
	if !released {
		t.Error("no in-flight job was released at the end of the grace period")
	}

	// Restart on the same data dir: every accepted job ends succeeded.
	again, creds2, _ := demoProc(t, dir, "--ack-wait", "5s")
	partner := &testkit.Partner{T: t, BaseURL: again.BaseURL, HTTP: client,
		Token: testkit.Token(t, again.BaseURL, creds2.Partner.ClientID, creds2.Partner.ClientSecret, "")}
	t0 := time.Now()
	for _, id := range out.accepted {
		j := partner.WaitJob(id, 30*time.Second)
		if j.Status != "succeeded" {
			t.Fatalf("job %s after the restart: %+v", id, j)
		}
	}
	t.Logf("every accepted job succeeded %s after the restart", time.Since(t0).Round(time.Millisecond))
	if code := again.Stop(30 * time.Second); code != 0 {
		t.Fatalf("second process exit code %d", code)
	}
}
