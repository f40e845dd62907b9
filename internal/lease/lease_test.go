package lease_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/devkit/testkit"
	"github.com/cpibroker/cpibroker/internal/lease"
	"github.com/nats-io/nats.go/jetstream"
)

// clock is a settable clock shared by the managers of a test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newManager(t *testing.T, kv jetstream.KeyValue, holder string, clk *clock, renew time.Duration) *lease.Manager {
	t.Helper()
	m, err := lease.New(lease.Config{
		KV: kv, Holder: holder, TTL: 10 * time.Second, RenewEvery: renew, RetryEvery: 5 * time.Millisecond,
		Now: clk.Now, Log: testkit.Logger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestAcquireHeldExpireTakeOver(t *testing.T) {
	_, _, res := testkit.NATS(t)
	ctx := context.Background()
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	a := newManager(t, res.Leases, "a", clk, time.Second)
	b := newManager(t, res.Leases, "b", clk, time.Second)

	la, err := a.Acquire(ctx, "discovery.demo")
	if err != nil {
		t.Fatalf("a acquire: %v", err)
	}
	if _, err := b.Acquire(ctx, "discovery.demo"); !errors.Is(err, lease.ErrHeld) {
		t.Fatalf("b acquire of a held lease = %v, want ErrHeld", err)
	}
	clk.Add(5 * time.Second)
	if err := la.Renew(ctx); err != nil {
		t.Fatalf("a renew: %v", err)
	}
	if want := clk.Now().Add(10 * time.Second); !la.ExpiresAt().Equal(want) {
		t.Fatalf("renewed expiry %v, want %v", la.ExpiresAt(), want)
	}
	clk.Add(9 * time.Second) // still within the renewed TTL
	if _, err := b.Acquire(ctx, "discovery.demo"); !errors.Is(err, lease.ErrHeld) {
		t.Fatalf("b acquire before expiry = %v, want ErrHeld", err)
	}
	clk.Add(2 * time.Second) // a missed its renewals: expired
	lb, err := b.Acquire(ctx, "discovery.demo")
	if err != nil {
		t.Fatalf("b take over of an expired lease: %v", err)
	}
	info, err := b.Get(ctx, "discovery.demo")
	if err != nil || info.Holder != "b" || info.Revision != lb.Revision() {
		t.Fatalf("stored lease = %+v, %v; want held by b at revision %d", info, err, lb.Revision())
	}
	if err := la.Renew(ctx); !errors.Is(err, lease.ErrLost) {
		t.Fatalf("a renew after take-over = %v, want ErrLost", err)
	}
	if err := la.Release(ctx); !errors.Is(err, lease.ErrLost) {
		t.Fatalf("a release after take-over = %v, want ErrLost", err)
	}
	if info, err := b.Get(ctx, "discovery.demo"); err != nil || info.Holder != "b" {
		t.Fatalf("a's stale release touched b's lease: %+v, %v", info, err)
	}
	if err := lb.Release(ctx); err != nil {
		t.Fatalf("b release: %v", err)
	}
	if _, err := a.Acquire(ctx, "discovery.demo"); err != nil {
		t.Fatalf("a acquire after release: %v", err)
	}
}

func TestSameHolderRetakesAfterRestart(t *testing.T) {
	_, _, res := testkit.NATS(t)
	ctx := context.Background()
	clk := &clock{t: time.Unix(0, 0)}
	if _, err := newManager(t, res.Leases, "node-1", clk, time.Second).Acquire(ctx, "sweeper"); err != nil {
		t.Fatal(err)
	}
	// The same holder name after a restart does not wait out its own lease.
	if _, err := newManager(t, res.Leases, "node-1", clk, time.Second).Acquire(ctx, "sweeper"); err != nil {
		t.Fatalf("re-acquire by the same holder: %v", err)
	}
}

func TestInvalidNameAndConfig(t *testing.T) {
	_, _, res := testkit.NATS(t)
	m := newManager(t, res.Leases, "a", &clock{}, time.Second)
	for _, name := range []string{"", "a b", ".x", "x.", "a*"} {
		if _, err := m.Acquire(context.Background(), name); err == nil {
			t.Errorf("Acquire(%q) succeeded", name)
		}
	}
	if _, err := lease.New(lease.Config{}); err == nil {
		t.Error("New without a bucket succeeded")
	}
	if _, err := lease.New(lease.Config{KV: res.Leases, TTL: time.Second, RenewEvery: 2 * time.Second}); err == nil {
		t.Error("New with RenewEvery >= TTL succeeded")
	}
	d, err := lease.New(lease.Config{KV: res.Leases})
	if err != nil || d.Holder() == "" {
		t.Fatalf("defaults: %v, holder %q", err, d.Holder())
	}
}

func TestDo(t *testing.T) {
	_, _, res := testkit.NATS(t)
	ctx := context.Background()
	clk := &clock{t: time.Unix(0, 0)}
	a := newManager(t, res.Leases, "a", clk, time.Second)
	b := newManager(t, res.Leases, "b", clk, time.Second)
	boom := errors.New("boom")
	err := a.Do(ctx, "discovery.p1", func(ctx context.Context) error {
		if err := b.Do(ctx, "discovery.p1", func(context.Context) error { return nil }); !errors.Is(err, lease.ErrHeld) {
			t.Errorf("nested Do by another holder = %v, want ErrHeld", err)
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Do = %v, want fn's error", err)
	}
	if _, err := a.Get(ctx, "discovery.p1"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("lease after Do = %v, want released", err)
	}
}

// TestRunOneHolderAtATime runs three holders on one lease: exactly one runs
// at a time, and when it stops the lease passes on.
func TestRunOneHolderAtATime(t *testing.T) {
	_, _, res := testkit.NATS(t)
	clk := &clock{t: time.Unix(0, 0)}
	var running, maxRunning atomic.Int32
	started := make(chan string, 10)
	var wg sync.WaitGroup
	cancels := map[string]context.CancelFunc{}
	for _, h := range []string{"a", "b", "c"} {
		ctx, cancel := context.WithCancel(context.Background())
		cancels[h] = cancel
		m := newManager(t, res.Leases, h, clk, time.Second)
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := m.Run(ctx, "sweeper", func(ctx context.Context) error {
				n := running.Add(1)
				for cur := maxRunning.Load(); n > cur && !maxRunning.CompareAndSwap(cur, n); cur = maxRunning.Load() {
				}
				started <- h
				<-ctx.Done()
				running.Add(-1)
				return nil
			})
			if err != nil {
				t.Errorf("Run(%s) = %v", h, err)
			}
		}()
	}
	seen := map[string]bool{}
	for range 3 {
		select {
		case h := <-started:
			if seen[h] {
				t.Fatalf("%s started twice", h)
			}
			seen[h] = true
			cancels[h]() // stop this holder: the lease is released and passes on
		case <-time.After(10 * time.Second):
			t.Fatalf("lease never passed on; started so far: %v", seen)
		}
	}
	wg.Wait()
	if maxRunning.Load() != 1 {
		t.Fatalf("at most %d holders ran at once, want 1", maxRunning.Load())
	}
}

// TestRunLostLeaseStopsWork: a holder whose lease is taken over (it expired
// on the shared clock) has its work canceled at its next renewal and goes
// back to waiting for the lease.
func TestRunLostLeaseStopsWork(t *testing.T) {
	_, _, res := testkit.NATS(t)
	clk := &clock{t: time.Unix(0, 0)}
	a := newManager(t, res.Leases, "a", clk, 5*time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started, stopped := make(chan struct{}, 4), make(chan struct{}, 4)
	runDone := make(chan error, 1)
	go func() {
		runDone <- a.Run(ctx, "sweeper", func(ctx context.Context) error {
			started <- struct{}{}
			<-ctx.Done()
			stopped <- struct{}{}
			return ctx.Err()
		})
	}()
	<-started
	// Take the lease over as b: move the clock past a's expiry. a's renewal
	// keeps pushing the expiry forward, so take over right after a jump.
	b := newManager(t, res.Leases, "b", clk, 5*time.Millisecond)
	testkit.Eventually(t, 10*time.Second, "b takes over a's expired lease", func() bool {
		clk.Add(time.Minute)
		_, err := b.Acquire(context.Background(), "sweeper")
		return err == nil
	})
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("a's work was not stopped after losing the lease")
	}
	cancel()
	if err := <-runDone; err != nil {
		t.Fatalf("Run = %v, want nil after ctx ends", err)
	}
	if len(started) != 0 {
		t.Fatal("a ran again while b held the lease")
	}
}
