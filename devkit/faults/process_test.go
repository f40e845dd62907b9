package faults_test

import (
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/devkit/cpisim"
	"github.com/cpibroker/cpibroker/devkit/testkit"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testkit.RemoveBinary()
	os.Exit(code)
}

// seedFile is the catalog seed of the local cluster, shipped in deploy/.
func seedFile(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "deploy", "local", "seed.yaml")
}

// TestProcesses: `cpibroker ingress` and `cpibroker dispatcher` as real
// processes against a 3-node cluster (all URLs, --replicas 3), the catalog
// seeded from deploy/local/seed.yaml and discovered from the simulator.
// The dispatcher is killed (SIGKILL) with jobs in flight; a dispatcher
// started afterwards gets them once AckWait passes, and every job ends
// exactly once.
func TestProcesses(t *testing.T) {
	cl := testkit.StartCluster(t, 3)
	_, js := cl.Connect()
	sim, err := cpisim.New(cpisim.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range cpisim.DemoIFlows() {
		if err := sim.Deploy(f); err != nil {
			t.Fatal(err)
		}
	}
	simURL, err := sim.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	t.Setenv("CPISIM_URL", simURL)
	t.Setenv("PARTNER_SECRET", "cs_partner-secret-for-the-process-test")
	t.Setenv("ADMIN_SECRET", "cs_admin-secret-for-the-process-test")
	common := []string{"--nats-url", cl.URLs(), "--replicas", "3", "--ack-wait", "2s", "--log-level", "info"}
	ingress := testkit.StartProc(t, append([]string{"ingress", "--listen", "127.0.0.1:0",
		"--data-dir", t.TempDir(), "--config", seedFile(t)}, common...)...)
	dispatcher := func() *testkit.Proc {
		return testkit.StartProc(t, append([]string{"dispatcher", "--admin-listen", "127.0.0.1:0",
			"--data-dir", t.TempDir()}, common...)...)
	}
	first := dispatcher()

	r := &rig{t: t, cl: cl, js: js, flow: "sim-slow", iflow: "Slow", http: &http.Client{Timeout: 60 * time.Second},
		ingress: []*testkit.System{{BaseURL: ingress.BaseURL}}}
	r.token = testkit.Token(t, ingress.BaseURL, "partner", "cs_partner-secret-for-the-process-test", "")
	p := &testkit.Partner{T: t, BaseURL: ingress.BaseURL, HTTP: http.DefaultClient, Token: r.token}
	testkit.Eventually(t, 30*time.Second, "flow sim-slow discovered and granted", func() bool {
		resp := p.Do(http.MethodGet, "/v1/flows", nil, nil)
		return resp.Status == http.StatusOK && strings.Contains(string(resp.Body), `"sim-slow"`)
	})
	r.events = countEvents(t, js)
	ids, _ := r.load(60, 8, 60, nil)
	testkit.Eventually(t, 30*time.Second, "jobs in flight at the simulator", func() bool {
		return sim.InFlight("Slow") >= 3
	})
	if err := first.Cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-first.Done()
	dispatcher()
	r.verify(ids, succeeded, time.Minute)
	if got := sim.CallCount("Slow"); got <= len(ids) {
		t.Errorf("%d CPI calls for %d jobs: none of the jobs in flight at the kill was redelivered", got, len(ids))
	}
	if code := ingress.Stop(30 * time.Second); code != 0 {
		t.Errorf("ingress exited with %d after SIGTERM", code)
	}
}
