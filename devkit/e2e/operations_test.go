package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/devkit/testkit"
)

// A second serve on the data dir of a running one stops before it touches
// anything, naming the running process; the first one then shuts down
// logging "shutting down" and "stopped", with no warning on the way.
func TestDataDirLockAndShutdownLog(t *testing.T) {
	dir := t.TempDir()
	p, _, _ := demoProc(t, dir)
	simState := filepath.Join(dir, "demo-simulator.json")
	before, err := os.ReadFile(simState)
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	second := exec.CommandContext(ctx, testkit.Binary(t), "serve", "--demo", "--data-dir", dir, "--listen", "127.0.0.1:0")
	out, err := second.CombinedOutput()
	if err == nil || second.ProcessState.ExitCode() == 0 {
		t.Fatalf("a second serve on a locked data dir succeeded:\n%s", out)
	}
	pid := "PID " + strconv.Itoa(p.Cmd.Process.Pid)
	if !strings.Contains(string(out), "data dir in use") || !strings.Contains(string(out), pid) {
		t.Fatalf("the refusal does not name the running process (%s):\n%s", pid, out)
	}
	if strings.Contains(string(out), "Stream state") || strings.Contains(string(out), "cpibroker started") {
		t.Fatalf("the second serve opened the store:\n%s", out)
	}
	if after, _ := os.ReadFile(simState); !bytes.Equal(before, after) {
		t.Fatalf("the second serve rewrote demo-simulator.json:\n%s\n%s", before, after)
	}

	if code := p.Stop(60 * time.Second); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	var msgs []string
	sc := bufio.NewScanner(strings.NewReader(p.Output()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	shutting := false
	for sc.Scan() {
		var l map[string]any
		if json.Unmarshal(sc.Bytes(), &l) != nil {
			continue
		}
		msg, _ := l["msg"].(string)
		if msg == "shutting down" {
			shutting = true
		}
		if shutting {
			msgs = append(msgs, msg)
			if l["level"] == "WARN" || l["level"] == "ERROR" {
				t.Errorf("%v during shutdown: %s", l["level"], sc.Text())
			}
		}
	}
	if len(msgs) < 2 || msgs[0] != "shutting down" || msgs[len(msgs)-1] != "stopped" {
		t.Fatalf("shutdown log lines %q, want \"shutting down\" … \"stopped\"", msgs)
	}
}
