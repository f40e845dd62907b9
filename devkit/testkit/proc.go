package testkit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The cpibroker binary, built once per test binary.
var (
	buildOnce sync.Once
	buildDir  string
	buildPath string
	buildErr  error
)

// Binary builds the cpibroker command once per test binary (go build, the
// build cache makes it cheap after the first time) and returns its path.
// Call RemoveBinary from TestMain to delete it when the package is done.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "cpibroker-bin-"); buildErr != nil {
			return
		}
		buildPath = filepath.Join(buildDir, "cpibroker")
		cmd := exec.Command("go", "build", "-o", buildPath, "github.com/cpibroker/cpibroker/cmd/cpibroker")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatalf("testkit: build cpibroker: %v", buildErr)
	}
	return buildPath
}

// RemoveBinary deletes the binary Binary built (for TestMain).
func RemoveBinary() {
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
}

// Proc is cpibroker running as a real process.
type Proc struct {
	T   testing.TB
	Cmd *exec.Cmd
	// BaseURL and AdminURL are the listeners the process announced in its
	// "cpibroker started" log line (AdminURL "" without --admin-listen).
	BaseURL, AdminURL string

	out  *procOutput
	done chan struct{}
	err  error
}

// procOutput collects stdout and stderr and wakes waiters on each write.
type procOutput struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{}
}

func (o *procOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	n, err := o.b.Write(p)
	close(o.changed)
	o.changed = make(chan struct{})
	return n, err
}

func (o *procOutput) snapshot() (string, <-chan struct{}) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String(), o.changed
}

// StartProc runs the cpibroker binary with args (for example "serve",
// "--demo", "--listen", "127.0.0.1:0", "--data-dir", dir), waits for its
// "cpibroker started" log line and then for GET /readyz to answer 200, all
// within 60s. A process still running at cleanup is killed; its output is
// in the test log when the test failed.
func StartProc(t testing.TB, args ...string) *Proc {
	t.Helper()
	p := &Proc{T: t, out: &procOutput{changed: make(chan struct{})}, done: make(chan struct{})}
	p.Cmd = exec.Command(Binary(t), args...)
	p.Cmd.Stdout, p.Cmd.Stderr = p.out, p.out
	if err := p.Cmd.Start(); err != nil {
		t.Fatalf("testkit: start cpibroker: %v", err)
	}
	go func() {
		p.err = p.Cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.Cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("cpibroker %s output:\n%s", strings.Join(args, " "), p.Output())
		}
	})
	started := p.WaitLog(60*time.Second, func(l map[string]any) bool { return l["msg"] == "cpibroker started" })
	p.BaseURL, _ = started["listen"].(string)
	p.AdminURL, _ = started["admin"].(string)
	probe := p.BaseURL
	if p.AdminURL != "" {
		probe = p.AdminURL
	}
	if probe == "" {
		t.Fatalf("testkit: cpibroker announced no listener: %v", started)
	}
	Eventually(t, 60*time.Second, "cpibroker /readyz 200", func() bool {
		resp, err := http.Get(probe + "/readyz")
		if err != nil {
			return false
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return p
}

// Output is everything the process wrote so far (stdout and stderr).
func (p *Proc) Output() string {
	s, _ := p.out.snapshot()
	return s
}

// WaitOutput waits until the output contains s.
func (p *Proc) WaitOutput(deadline time.Duration, s string) {
	p.T.Helper()
	p.wait(deadline, "output "+s, func(out string) bool { return strings.Contains(out, s) })
}

// WaitLog waits for a JSON log line that match accepts and returns it.
func (p *Proc) WaitLog(deadline time.Duration, match func(map[string]any) bool) map[string]any {
	p.T.Helper()
	var found map[string]any
	p.wait(deadline, "a log line", func(out string) bool {
		found = nil
		sc := bufio.NewScanner(strings.NewReader(out))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var l map[string]any
			if json.Unmarshal(sc.Bytes(), &l) == nil && match(l) {
				found = l
				return true
			}
		}
		return false
	})
	return found
}

func (p *Proc) wait(deadline time.Duration, what string, cond func(string) bool) {
	p.T.Helper()
	timer := time.NewTimer(deadline)
	defer timer.Stop()
	for {
		out, changed := p.out.snapshot()
		if cond(out) {
			return
		}
		select {
		case <-changed:
		case <-p.done:
			if out, _ := p.out.snapshot(); cond(out) {
				return
			}
			p.T.Fatalf("testkit: cpibroker exited (%v) before %s", p.err, what)
		case <-timer.C:
			p.T.Fatalf("testkit: timed out after %s waiting for %s", deadline, what)
		}
	}
}

// Signal sends sig to the process.
func (p *Proc) Signal(sig os.Signal) {
	p.T.Helper()
	if err := p.Cmd.Process.Signal(sig); err != nil {
		p.T.Fatalf("testkit: signal %v: %v", sig, err)
	}
}

// Stop sends SIGTERM and waits up to deadline for the process to exit; it
// returns the exit code (-1 when killed by a signal).
func (p *Proc) Stop(deadline time.Duration) int {
	p.T.Helper()
	p.Signal(syscall.SIGTERM)
	return p.Wait(deadline)
}

// Wait waits up to deadline for the process to exit and returns its exit
// code; on timeout it kills the process and fails the test.
func (p *Proc) Wait(deadline time.Duration) int {
	p.T.Helper()
	select {
	case <-p.done:
	case <-time.After(deadline):
		_ = p.Cmd.Process.Kill()
		<-p.done
		p.T.Fatalf("testkit: cpibroker did not exit within %s", deadline)
	}
	var ee *exec.ExitError
	if p.err != nil && !errors.As(p.err, &ee) {
		p.T.Fatalf("testkit: wait: %v", p.err)
	}
	return p.Cmd.ProcessState.ExitCode()
}

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }
