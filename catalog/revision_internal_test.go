package catalog

import (
	"context"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/internal/natsx"
)

// A watch that delivers an older revision after a newer local write must not
// put the older value back: two quick writes of one client once briefly
// reverted to the first in the writing process.
func TestOlderRevisionDoesNotRevertLocalWrite(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	ns, err := natsx.StartEmbedded(natsx.EmbeddedConfig{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Shutdown()
	nc, js, err := natsx.Connect(natsx.ConnectConfig{Server: ns, Name: "revision-test"})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	res, err := natsx.Ensure(ctx, js, natsx.Layout{})
	if err != nil {
		t.Fatal(err)
	}
	s := NewStore(res.Catalog, res.Clients, nil)

	c := Client{ID: "acme", Name: "first", Roles: []string{"partner"}, Enabled: true,
		SecretHashes: []string{"$2a$04$abcdefghijklmnopqrstuuv3S7zv6Y2m0XQ1c8l5yS8m1x1f2b2e"}}
	c.SetDefaults()
	if err := s.PutClient(ctx, c, false); err != nil {
		t.Fatal(err)
	}
	first, err := res.Clients.Get(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	c.Name = "second"
	if err := s.PutClient(ctx, c, false); err != nil {
		t.Fatal(err)
	}

	s.apply(res.Clients.Bucket(), first) // the watch catching up late
	if got, _ := s.Client("acme"); got.Name != "second" {
		t.Fatalf("after a late replay of revision %d the client is %q, want the newer %q", first.Revision(), got.Name, "second")
	}

	if err := s.DeleteClient(ctx, "acme", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	s.apply(res.Clients.Bucket(), first)
	if _, ok := s.Client("acme"); ok {
		t.Fatal("a late replay of an older revision revived a deleted client")
	}
}
