package e2e_test

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/devkit/testkit"
	"github.com/cpibroker/cpibroker/internal/natsx"
)

// envNATSDir makes the test binary run only a JetStream server: the
// memory test keeps NATS out of the measured process, as a production
// broker against an external cluster does.
const envNATSDir = "CPIB_E2E_NATS_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(envNATSDir); dir != "" {
		serveNATS(dir)
		return
	}
	code := m.Run()
	testkit.RemoveBinary()
	os.Exit(code)
}

// serveNATS runs a JetStream server on a loopback port, prints its URL
// and serves until stdin closes (the parent test ended or died).
func serveNATS(dir string) {
	ns, err := natsx.StartEmbedded(natsx.EmbeddedConfig{StoreDir: dir, Listen: "127.0.0.1:-1"})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println("ready", ns.ClientURL())
	_, _ = io.Copy(io.Discard, os.Stdin)
	ns.Shutdown()
	ns.WaitForShutdown()
}

// externalNATS starts a JetStream server in a child process and returns
// its URL; it stops at test cleanup.
func externalNATS(t *testing.T) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envNATSDir+"="+t.TempDir())
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = stdin.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("NATS child: %v", err)
	}
	url, ok := strings.CutPrefix(strings.TrimSpace(line), "ready ")
	if !ok {
		t.Fatalf("NATS child: %s", line)
	}
	return url
}
