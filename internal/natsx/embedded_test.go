package natsx_test

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/internal/natsx"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

func TestStartEmbedded_refuses_bad_config(t *testing.T) {
	file := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		cfg     natsx.EmbeddedConfig
		errPart string
	}{
		{"empty store dir", natsx.EmbeddedConfig{}, "store directory"},
		{"store dir is a file", natsx.EmbeddedConfig{StoreDir: file, ReadyTimeout: 3 * time.Second}, "not a directory"},
		{"listen without port", natsx.EmbeddedConfig{StoreDir: t.TempDir(), Listen: "127.0.0.1"}, "listen address"},
		{"listen with a named port", natsx.EmbeddedConfig{StoreDir: t.TempDir(), Listen: "127.0.0.1:nats"}, "listen port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Returning at all proves no os.Exit: a Fatalf inside the
			// server would have ended the test binary.
			ns, err := natsx.StartEmbedded(tc.cfg)
			if err == nil {
				ns.Shutdown()
				t.Fatal("StartEmbedded succeeded")
			}
			if ns != nil {
				t.Errorf("server returned with error %v", err)
			}
			if !strings.Contains(err.Error(), tc.errPart) {
				t.Errorf("error %q does not mention %q", err, tc.errPart)
			}
		})
	}
}

// TestStartEmbedded_unusable_store_fails_fast: JetStream's start failure is
// known as soon as Start returns; an operator with a wrong --data-dir should
// not wait out the whole ReadyTimeout (30s by default) to hear about it.
func TestStartEmbedded_unusable_store_fails_fast(t *testing.T) {
	file := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := natsx.StartEmbedded(natsx.EmbeddedConfig{StoreDir: file}) // default ReadyTimeout 30s
	if err == nil {
		t.Fatal("StartEmbedded succeeded on a file")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("StartEmbedded took %v to report %v", d, err)
	}
}

// TestStartEmbedded_listen exposes a client port for the nats CLI and
// other processes; data written through it is JetStream data.
func TestStartEmbedded_listen(t *testing.T) {
	ns, err := natsx.StartEmbedded(natsx.EmbeddedConfig{StoreDir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatalf("StartEmbedded: %v", err)
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	nc, js, err := natsx.Connect(natsx.ConnectConfig{URLs: ns.ClientURL(), Name: "external"})
	if err != nil {
		t.Fatalf("Connect over TCP to %s: %v", ns.ClientURL(), err)
	}
	t.Cleanup(nc.Close)
	if _, err := natsx.Ensure(ctxT(t), js, natsx.Layout{}); err != nil {
		t.Fatalf("Ensure over TCP: %v", err)
	}
	if addr, ok := ns.Addr().(*net.TCPAddr); !ok || addr.Port == 0 || addr.Port == server.DEFAULT_PORT {
		t.Fatalf("listen on :0 gave %v, want a free port other than the default", ns.Addr())
	}
}

// TestStartEmbedded_in_process_only: without Listen there is no TCP port.
func TestStartEmbedded_in_process_only(t *testing.T) {
	ns, err := natsx.StartEmbedded(natsx.EmbeddedConfig{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatalf("StartEmbedded: %v", err)
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	if addr := ns.Addr(); addr != nil {
		t.Fatalf("in-process server listens on %v", addr)
	}
}

func TestConnect_needs_a_server(t *testing.T) {
	for _, cfg := range []natsx.ConnectConfig{{}, {URLs: "  "}} {
		if _, _, err := natsx.Connect(cfg); err == nil {
			t.Errorf("Connect(%+v) succeeded", cfg)
		}
	}
	// An unreachable URL is an error, not a hang.
	start := time.Now()
	_, _, err := natsx.Connect(natsx.ConnectConfig{URLs: "nats://127.0.0.1:1"})
	if err == nil {
		t.Fatal("Connect to a closed port succeeded")
	}
	if time.Since(start) > nats.DefaultTimeout+time.Second {
		t.Fatalf("Connect took %v to fail", time.Since(start))
	}
}
