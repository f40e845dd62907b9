package natsx_test

import (
	"context"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/internal/natsx"
	"github.com/nats-io/nats.go/jetstream"
)

// bare starts an embedded server in a temp dir and connects to it, without
// creating any stream: the starting point of a first Ensure.
func bare(t *testing.T) jetstream.JetStream {
	t.Helper()
	ns, err := natsx.StartEmbedded(natsx.EmbeddedConfig{StoreDir: t.TempDir(), ReadyTimeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("StartEmbedded: %v", err)
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	nc, js, err := natsx.Connect(natsx.ConnectConfig{Server: ns, Name: t.Name()})
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return js
}

// ctxT is a context bounded well below the test timeout.
func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
