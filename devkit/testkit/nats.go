package testkit

import (
	"context"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/internal/natsx"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Layout is the JetStream layout NATS creates: the production defaults
// with a short AckWait (2s), so redelivery after a lost worker is quick
// enough to observe in a test.
func Layout() natsx.Layout { return natsx.Layout{AckWait: 2 * time.Second} }

// NATS starts an embedded JetStream server in t.TempDir(), connects to it
// in-process with natsx.Connect and creates every stream, bucket and object
// store of DESIGN 6 with natsx.Ensure and Layout. The connection is closed
// and the server shut down at test cleanup. It fails the test on any error.
func NATS(t testing.TB) (*server.Server, *nats.Conn, *natsx.Resources) {
	t.Helper()
	return NATSAt(t, t.TempDir())
}

// NATSAt is NATS on the store directory dir, for tests that stop a server
// and start a new one on the same data. Calling ns.Shutdown() in the test is
// allowed; cleanup tolerates a server that is already down.
func NATSAt(t testing.TB, dir string) (*server.Server, *nats.Conn, *natsx.Resources) {
	t.Helper()
	ns, err := natsx.StartEmbedded(natsx.EmbeddedConfig{
		StoreDir: dir, ReadyTimeout: 10 * time.Second, Logger: Logger(t),
	})
	if err != nil {
		t.Fatalf("testkit: start embedded NATS in %s: %v", dir, err)
	}
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	nc, js, err := natsx.Connect(natsx.ConnectConfig{Server: ns, Name: t.Name(), Logger: Logger(t)})
	if err != nil {
		t.Fatalf("testkit: connect to embedded NATS: %v", err)
	}
	t.Cleanup(nc.Close) // runs before the shutdown above (cleanups are LIFO)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := natsx.Ensure(ctx, js, Layout())
	if err != nil {
		t.Fatalf("testkit: ensure JetStream layout: %v", err)
	}
	return ns, nc, res
}
