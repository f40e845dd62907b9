package catalog_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/devkit/testkit"
	"github.com/cpibroker/cpibroker/internal/natsx"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/crypto/bcrypt"
)

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// run starts a Store over the buckets and waits until it has loaded them.
// It stops, and Run must return, at test cleanup.
func run(t *testing.T, catalogKV, clientsKV jetstream.KeyValue) *catalog.Store {
	t.Helper()
	s := catalog.NewStore(catalogKV, clientsKV, testkit.Logger(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	})
	select {
	case <-s.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("store not ready")
	}
	return s
}

// otherProcess opens the same buckets over its own connection, as a second
// broker process would.
func otherProcess(t *testing.T, ns *server.Server) *natsx.Resources {
	t.Helper()
	nc, js, err := natsx.Connect(natsx.ConnectConfig{Server: ns, Name: "other"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	res, err := natsx.Ensure(ctxT(t), js, testkit.Layout())
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// eventually waits, on the store's change signal, until cond holds; DESIGN 4
// gives every process 2 s to see a catalog change.
func eventually(t *testing.T, s *catalog.Store, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(2 * time.Second)
	for {
		ch := s.Changed()
		if cond() {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("not within 2s: %s", what)
		}
	}
}

// hashed is a bcrypt hash of secret at the lowest cost, so tests stay fast
// under -race; VerifySecret reads the cost from the hash.
func hashed(t *testing.T, secret string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(secret), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func TestStore_put_read_and_watch(t *testing.T) {
	ctx := ctxT(t)
	ns, _, res := testkit.NATS(t)
	a := run(t, res.Catalog, res.Clients)

	p := validProvider()
	f := validFlow()
	f2 := validFlow()
	f2.ID, f2.Status = "acme-prod-a-first", catalog.FlowDisabled
	c := validClient()
	c.SecretHashes = []string{hashed(t, "s3cret")}
	for _, err := range []error{
		a.PutProvider(ctx, p, false), a.PutFlow(ctx, f, false), a.PutFlow(ctx, f2, true), a.PutClient(ctx, c, true),
	} {
		if err != nil {
			t.Fatalf("put: %v", err)
		}
	}
	// The writer reads its own writes at once.
	if got, ok := a.Flow(f.ID); !ok || got.URL != f.URL || got.Policy.MaxAttempts != 8 {
		t.Fatalf("Flow after PutFlow = %+v %v", got, ok)
	}
	if got, ok := a.Provider(p.ID); !ok || got.Runtime != p.Runtime {
		t.Fatalf("Provider = %+v %v", got, ok)
	}
	if got, ok := a.Client(c.ID); !ok || !slices.Equal(got.Grants, c.Grants) {
		t.Fatalf("Client = %+v %v", got, ok)
	}
	if ids := flowIDs(a.Flows()); !slices.Equal(ids, []string{f2.ID, f.ID}) {
		t.Fatalf("Flows = %v, want sorted by ID", ids)
	}

	// A process started later loads everything before it is Ready.
	other := otherProcess(t, ns)
	b := run(t, other.Catalog, other.Clients)
	if _, ok := b.Flow(f.ID); !ok {
		t.Fatal("second store ready without the existing flow")
	}
	if _, ok := b.Client(c.ID); !ok {
		t.Fatal("second store ready without the existing client")
	}

	// Changes by one process reach the other through the watch.
	f.Status = catalog.FlowDisabled
	if err := a.PutFlow(ctx, f, false); err != nil {
		t.Fatal(err)
	}
	eventually(t, b, "flow disabled", func() bool { g, _ := b.Flow(f.ID); return g.Status == catalog.FlowDisabled })
	c.Enabled = false
	if err := b.PutClient(ctx, c, false); err != nil {
		t.Fatal(err)
	}
	eventually(t, a, "client disabled", func() bool { g, _ := a.Client(c.ID); return !g.Enabled })

	// Deletes and purges (the admin API's remove) reach every process.
	if err := res.Catalog.Delete(ctx, "flows."+f.ID); err != nil {
		t.Fatal(err)
	}
	if err := res.Clients.Purge(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if err := res.Catalog.Delete(ctx, "providers."+p.ID); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*catalog.Store{a, b} {
		eventually(t, s, "deletes applied", func() bool {
			_, flow := s.Flow(f.ID)
			_, client := s.Client(c.ID)
			_, prov := s.Provider(p.ID)
			return !flow && !client && !prov
		})
		if ids := flowIDs(s.Flows()); !slices.Equal(ids, []string{f2.ID}) {
			t.Fatalf("Flows after delete = %v", ids)
		}
	}
}

func flowIDs(fs []catalog.Flow) []string {
	var ids []string
	for _, f := range fs {
		ids = append(ids, f.ID)
	}
	return ids
}

func TestStore_createOnly_and_invalid(t *testing.T) {
	ctx := ctxT(t)
	_, _, res := testkit.NATS(t)
	s := run(t, res.Catalog, res.Clients)
	f, p, c := validFlow(), validProvider(), validClient()
	if err := s.PutFlow(ctx, f, true); err != nil {
		t.Fatal(err)
	}
	if err := s.PutProvider(ctx, p, true); err != nil {
		t.Fatal(err)
	}
	if err := s.PutClient(ctx, c, true); err != nil {
		t.Fatal(err)
	}
	changed := f
	changed.Title = "changed"
	cp := p
	cp.Title = "changed"
	cc := c
	cc.Name = "changed"
	for name, err := range map[string]error{
		"flow":     s.PutFlow(ctx, changed, true),
		"provider": s.PutProvider(ctx, cp, true),
		"client":   s.PutClient(ctx, cc, true),
	} {
		if !errors.Is(err, catalog.ErrExists) {
			t.Errorf("create of an existing %s: %v, want ErrExists", name, err)
		}
	}
	if g, _ := s.Flow(f.ID); g.Title != "" {
		t.Error("a refused create changed the flow")
	}
	if g, _ := s.Client(c.ID); g.Name != c.Name {
		t.Error("a refused create changed the client")
	}
	// Replace (createOnly=false) of an existing entry is allowed.
	if err := s.PutFlow(ctx, changed, false); err != nil {
		t.Fatalf("replace: %v", err)
	}

	bad := validFlow()
	bad.ID = "bad_id"
	if err := s.PutFlow(ctx, bad, false); err == nil {
		t.Fatal("invalid flow stored")
	}
	if _, err := res.Catalog.Get(ctx, "flows.bad_id"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("invalid flow reached KV: %v", err)
	}
	if err := s.PutClient(ctx, catalog.Client{ID: "nosecret"}, false); err == nil {
		t.Fatal("client without secret stored")
	}
	if _, ok := s.Client("nosecret"); ok {
		t.Fatal("invalid client visible")
	}
}

// TestStore_skips_corrupt_entries: one undecodable entry must not stop
// the watch from applying the entries after it.
func TestStore_skips_corrupt_entries(t *testing.T) {
	ctx := ctxT(t)
	_, _, res := testkit.NATS(t)
	s := run(t, res.Catalog, res.Clients)
	if _, err := res.Catalog.Put(ctx, "flows.broken", []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	f := validFlow()
	if err := catalog.NewStore(res.Catalog, res.Clients, nil).PutFlow(ctx, f, false); err != nil {
		t.Fatal(err)
	}
	eventually(t, s, "flow after a corrupt entry", func() bool { _, ok := s.Flow(f.ID); return ok })
	if _, ok := s.Flow("broken"); ok {
		t.Fatal("corrupt entry became a flow")
	}
}

func TestStore_VerifySecret(t *testing.T) {
	ctx := ctxT(t)
	_, _, res := testkit.NATS(t)
	s := run(t, res.Catalog, res.Clients)

	enabled := validClient()
	enabled.SecretHashes = []string{hashed(t, "old-secret"), hashed(t, "new-secret")} // during a rotation
	// HashSecret's own hashes verify too.
	rotated := validClient()
	rotated.ID = "hooli"
	h, err := catalog.HashSecret("hooli-secret")
	if err != nil || h == "hooli-secret" {
		t.Fatalf("HashSecret = %q, %v", h, err)
	}
	rotated.SecretHashes = []string{h}
	disabled := validClient()
	disabled.ID, disabled.Enabled, disabled.SecretHashes = "globex", false, []string{hashed(t, "globex-secret")}
	for _, c := range []catalog.Client{enabled, disabled, rotated} {
		if err := s.PutClient(ctx, c, true); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name, id, secret string
		ok               bool
	}{
		{"right secret", "acme", "new-secret", true},
		{"secret hashed by HashSecret", "hooli", "hooli-secret", true},
		{"old secret during rotation", "acme", "old-secret", true},
		{"wrong secret", "acme", "guess", false},
		{"empty secret", "acme", "", false},
		{"secret with a suffix", "acme", "new-secret ", false},
		{"disabled client, right secret", "globex", "globex-secret", false},
		{"unknown client", "initech", "new-secret", false},
		{"another client's secret", "globex", "new-secret", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := s.VerifySecret(tc.id, tc.secret)
			if tc.ok {
				if err != nil || c.ID != tc.id {
					t.Fatalf("VerifySecret = %+v, %v", c.ID, err)
				}
				return
			}
			if !errors.Is(err, catalog.ErrInvalidCredentials) || c.ID != "" {
				t.Fatalf("VerifySecret = %q, %v; want ErrInvalidCredentials", c.ID, err)
			}
		})
	}
}
