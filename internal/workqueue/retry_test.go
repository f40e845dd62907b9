package workqueue_test

import (
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/internal/workqueue"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)
	for i, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0}, {"0", 0}, {"7", 7 * time.Second}, {" 7 ", 7 * time.Second}, {"-1", 0}, {"soon", 0},
		{"99999999999999999999", 0}, // not an int: not a date either
		{"9999999999", (1 << 31) * time.Second},
		{"Wed, 04 Mar 2026 12:01:00 GMT", time.Minute},
		{"Wed, 04 Mar 2026 11:59:00 GMT", 0}, // in the past
	} {
		if got := workqueue.RetryAfter(tc.in, now); got != tc.want {
			t.Errorf("Test %d: RetryAfter(%q) = %v, want %v", i, tc.in, got, tc.want)
		}
	}
}

func FuzzRetryAfter(f *testing.F) {
	for _, s := range []string{"", "5", "Wed, 04 Mar 2026 12:01:00 GMT", "-3", "1e9"} {
		f.Add(s)
	}
	now := time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		if d := workqueue.RetryAfter(s, now); d < 0 {
			t.Fatalf("RetryAfter(%q) = %v < 0", s, d)
		}
	})
}

func TestScheduleAt(t *testing.T) {
	now := time.Date(2026, 3, 4, 12, 0, 0, 300_000_000, time.UTC)
	if got, want := workqueue.ScheduleAt(now, 2*time.Second), time.Date(2026, 3, 4, 12, 0, 3, 0, time.UTC); !got.Equal(want) {
		t.Fatalf("ScheduleAt = %v, want %v (the next whole second, never early)", got, want)
	}
}
