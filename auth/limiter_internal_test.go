package auth

import (
	"fmt"
	"testing"
	"time"
)

var tBase = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func TestFailureLimiterIsBounded(t *testing.T) {
	l, err := NewFailureLimiter(FailureLimiterConfig{MaxKeys: 10})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		addr := fmt.Sprintf("10.0.%d.%d:1", i/256, i%256)
		id := fmt.Sprintf("client-%d", i)
		l.Failure(id, addr, tBase)
		l.Success(id, addr, tBase)
	}
	if n := len(l.addrs); n > 10 {
		t.Errorf("%d addresses tracked, want at most 10", n)
	}
	if n := len(l.clients); n > 10 {
		t.Errorf("%d client IDs tracked, want at most 10", n)
	}
	if n := len(l.trusted); n > 10 {
		t.Errorf("%d trusted pairs tracked, want at most 10", n)
	}
}

func TestFailureLimiterEvictsStaleBeforeLocked(t *testing.T) {
	l, err := NewFailureLimiter(FailureLimiterConfig{MaxKeys: 4, MaxFailures: 1, Window: time.Minute, Lockout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	l.Failure("", "192.0.2.1", tBase) // locked for an hour
	for _, a := range []string{"192.0.2.2", "192.0.2.3", "192.0.2.4"} {
		l.Failure("", a, tBase) // MaxFailures 1: these are locked too...
	}
	later := tBase.Add(2 * time.Hour)
	l.Failure("", "192.0.2.1", later) // ...re-lock the first; the others are stale
	for _, a := range []string{"192.0.2.5", "192.0.2.6"} {
		l.Failure("", a, later)
	}
	if _, ok := l.Allow("", "192.0.2.1", later); ok {
		t.Error("a locked address was evicted while stale ones existed")
	}
	if len(l.addrs) > 4 {
		t.Errorf("%d addresses tracked, want at most 4", len(l.addrs))
	}
}
