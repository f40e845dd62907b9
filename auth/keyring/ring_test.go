package keyring_test

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/auth/keyring"
	"github.com/cpibroker/cpibroker/internal/natsx"
	"github.com/nats-io/nats.go/jetstream"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

func catalogKV(t testing.TB) jetstream.KeyValue {
	t.Helper()
	ns, err := natsx.StartEmbedded(natsx.EmbeddedConfig{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	nc, js, err := natsx.Connect(natsx.ConnectConfig{Server: ns})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	res, err := natsx.Ensure(context.Background(), js, natsx.Layout{})
	if err != nil {
		t.Fatal(err)
	}
	return res.Catalog
}

func startRing(t testing.TB, kv jetstream.KeyValue, clk *clock) *keyring.Ring {
	t.Helper()
	r, err := keyring.New(keyring.Config{KV: kv, SigningKeyPath: filepath.Join(t.TempDir(), "key.pem"),
		Retain: time.Hour, JanitorInterval: 10 * time.Millisecond, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := r.Load(ctx); err != nil {
		t.Fatal(err)
	}
	go func() { _ = r.Run(ctx) }()
	return r
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRing_shareRotateExpire: two rings on one bucket see each other's
// keys; a rotated key verifies until its retention ends, then leaves every
// ring, the JWKS and the bucket.
func TestRing_shareRotateExpire(t *testing.T) {
	kv := catalogKV(t)
	clk := &clock{now: time.Now()}
	a, b := startRing(t, kv, clk), startRing(t, kv, clk)
	ka, kb := a.SigningKey().KID(), b.SigningKey().KID()
	eventually(t, "keys shared", func() bool {
		_, ok1 := a.PublicKey(kb)
		_, ok2 := b.PublicKey(ka)
		return ok1 && ok2 && strings.Contains(string(b.JWKS()), ka)
	})
	old, nw, err := a.Rotate(context.Background())
	if err != nil || old != ka || nw == ka || a.SigningKey().KID() != nw {
		t.Fatalf("Rotate = %s, %s, %v", old, nw, err)
	}
	eventually(t, "new key and retirement on b", func() bool {
		_, ok := b.PublicKey(nw)
		for _, e := range b.Keys() {
			if e.JWK.Kid == ka && e.State == keyring.StateRetired {
				return ok
			}
		}
		return false
	})
	if _, ok := b.PublicKey(ka); !ok {
		t.Fatal("retired key stopped verifying before its tokens expired")
	}
	clk.Advance(time.Hour + time.Second)
	if _, ok := b.PublicKey(ka); ok {
		t.Fatal("retired key still verifies after its retention")
	}
	eventually(t, "expired key removed", func() bool {
		_, err := kv.Get(context.Background(), "keys."+ka)
		return err != nil && !strings.Contains(string(a.JWKS()), ka) && !strings.Contains(string(b.JWKS()), ka)
	})
	if _, ok := b.PublicKey(kb); !ok {
		t.Fatal("an active key expired")
	}
}
