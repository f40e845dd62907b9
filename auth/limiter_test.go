package auth_test

import (
	"errors"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/auth"
)

func newLimiter(t *testing.T, cfg auth.FailureLimiterConfig) *auth.FailureLimiter {
	t.Helper()
	l, err := auth.NewFailureLimiter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestFailureLimiterWindow(t *testing.T) {
	l := newLimiter(t, auth.FailureLimiterConfig{MaxFailures: 3, Window: time.Minute, Lockout: 5 * time.Minute})
	now := t0
	fail := func(n int) {
		for range n {
			l.Failure("acme", "192.0.2.1:1", now)
		}
	}
	fail(2)
	now = now.Add(time.Minute) // window over: the count starts again
	fail(2)
	if _, ok := l.Allow("acme", "192.0.2.1:1", now); !ok {
		t.Fatal("locked although no window held 3 failures")
	}
	fail(1)
	wait, ok := l.Allow("acme", "192.0.2.1:2", now)
	if ok || wait != 5*time.Minute {
		t.Fatalf("Allow = %s, %v; want locked for 5m", wait, ok)
	}
	if _, ok := l.Allow("beta", "192.0.2.1:3", now); ok {
		t.Error("locked address admitted another client")
	}
	if _, ok := l.Allow("beta", "192.0.2.2:1", now); !ok {
		t.Error("another client from another address refused")
	}
	if _, ok := l.Allow("acme", "192.0.2.2:1", now); ok {
		t.Error("locked client ID admitted from an untrusted address")
	}
	now = now.Add(5*time.Minute - time.Nanosecond)
	if _, ok := l.Allow("acme", "192.0.2.1:1", now); ok {
		t.Error("lockout ended early")
	}
	now = now.Add(time.Nanosecond)
	if _, ok := l.Allow("acme", "192.0.2.1:1", now); !ok {
		t.Error("lockout did not end")
	}
}

func TestFailureLimiterTrustedAddresses(t *testing.T) {
	l := newLimiter(t, auth.FailureLimiterConfig{MaxFailures: 2, TrustFor: time.Hour, Lockout: 2 * time.Hour})
	now := t0
	l.Success("acme", "198.51.100.1:443", now)
	l.Failure("acme", "203.0.113.1:1", now)
	l.Failure("acme", "203.0.113.2:1", now) // a distributed attack on acme
	if _, ok := l.Allow("acme", "198.51.100.1:9", now); !ok {
		t.Error("trusted address locked out")
	}
	if _, ok := l.Allow("acme", "198.51.100.2:9", now); ok {
		t.Error("untrusted address admitted to a locked client ID")
	}
	if _, ok := l.Allow("beta", "198.51.100.2:9", now); !ok {
		t.Error("trust or lock leaked to another client")
	}
	now = now.Add(time.Hour)
	if _, ok := l.Allow("acme", "198.51.100.1:9", now); ok {
		t.Error("trust did not expire")
	}
}

func TestFailureLimiterAddressGrouping(t *testing.T) {
	for _, tc := range []struct {
		name        string
		first, then string
		same        bool
	}{
		{"ports ignored", "192.0.2.1:1000", "192.0.2.1:2000", true},
		{"no port", "192.0.2.1", "192.0.2.1:2000", true},
		{"IPv4-mapped IPv6", "[::ffff:192.0.2.1]:1", "192.0.2.1:2", true},
		{"same IPv6 /64", "[2001:db8:1:2::1]:1", "[2001:db8:1:2:ffff::9]:2", true},
		{"IPv6 zone ignored", "[fe80::1%eth0]:1", "[fe80::2]:2", true},
		{"other IPv4", "192.0.2.1:1", "192.0.2.2:1", false},
		{"other IPv6 /64", "[2001:db8:1:2::1]:1", "[2001:db8:1:3::1]:1", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLimiter(t, auth.FailureLimiterConfig{MaxFailures: 1})
			l.Failure("", tc.first, t0)
			if _, ok := l.Allow("", tc.then, t0); ok == tc.same {
				t.Errorf("Allow(%s) after a failure from %s = %v", tc.then, tc.first, ok)
			}
		})
	}
}

func TestFailureLimiterConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  auth.FailureLimiterConfig
		ok   bool
	}{
		{"defaults", auth.FailureLimiterConfig{}, true},
		{"negative max failures", auth.FailureLimiterConfig{MaxFailures: -1}, false},
		{"negative window", auth.FailureLimiterConfig{Window: -time.Second}, false},
		{"negative lockout", auth.FailureLimiterConfig{Lockout: -time.Second}, false},
		{"negative max keys", auth.FailureLimiterConfig{MaxKeys: -1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := auth.NewFailureLimiter(tc.cfg)
			if (err == nil) != tc.ok || (err != nil && !errors.Is(err, auth.ErrInvalidConfig)) {
				t.Fatalf("NewFailureLimiter error = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
