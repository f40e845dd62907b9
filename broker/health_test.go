package broker_test

import (
	"encoding/json"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/broker"
	"github.com/cpibroker/cpibroker/devkit/testkit"
	"github.com/cpibroker/cpibroker/internal/health"
	"github.com/cpibroker/cpibroker/internal/natsx"
	"github.com/nats-io/nats-server/v2/server"
)

func probe(t *testing.T, url string) (int, health.Report) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r health.Report
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("%s: %v", url, err)
	}
	return resp.StatusCode, r
}

// startNATS runs an embedded JetStream server on a TCP port (so the broker
// connects to it like to an external one) in dir.
func startNATS(t *testing.T, dir, addr string) *server.Server {
	t.Helper()
	ns, err := natsx.StartEmbedded(natsx.EmbeddedConfig{StoreDir: dir, Listen: addr, ReadyTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return ns
}

// With NATS down, /healthz still answers 200 (the process lives) and
// /readyz answers 503 naming NATS and JetStream; once NATS is back, the
// same process is ready again.
func TestReadyzWithNATSStopped(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	dir := t.TempDir()
	ns := startNATS(t, dir, addr)
	sys := testkit.Start(t, testkit.Options{Configure: func(c *broker.Config) {
		c.NATS.URLs = "nats://" + addr
	}})
	st, r := probe(t, sys.BaseURL+"/readyz")
	if st != 200 || r.Status != "ready" || r.Checks["nats"] != "ok" || r.Checks["jetstream"] != "ok" || r.Checks["dispatcher"] != "ok" {
		t.Fatalf("ready: %d %+v", st, r)
	}
	ns.Shutdown()
	ns.WaitForShutdown()
	testkit.Eventually(t, 10*time.Second, "readyz 503 naming NATS", func() bool {
		st, r = probe(t, sys.BaseURL+"/readyz")
		return st == 503 && r.Checks["nats"] != "ok"
	})
	if r.Status != "not_ready" || r.Checks["nats"] == "ok" || r.Checks["jetstream"] == "ok" {
		t.Fatalf("not ready: %+v", r)
	}
	if st, r := probe(t, sys.BaseURL+"/healthz"); st != 200 || r.Status != "ok" {
		t.Fatalf("healthz with NATS down: %d %+v", st, r)
	}
	startNATS(t, dir, addr)
	testkit.Eventually(t, 20*time.Second, "readyz 200 again", func() bool {
		st, r = probe(t, sys.BaseURL+"/readyz")
		return st == 200
	})
	// And it works: a job submitted now ends.
	p := sys.Partner()
	var j testkit.Job
	p.Submit("demo-echo", "text/plain", []byte("back"), nil).JSON(t, &j)
	if got := p.WaitJob(j.ID, 30*time.Second); got.Status != "succeeded" {
		t.Fatalf("job after NATS came back: %+v", got)
	}
}
