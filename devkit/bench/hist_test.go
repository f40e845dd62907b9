package bench

import (
	"sync"
	"testing"
	"time"
)

func TestHistogram_exact_below_2ms(t *testing.T) {
	h := NewHistogram()
	for v := 1000; v >= 1; v-- { // 1..1000 µs, in reverse to show order does not matter
		h.Record(time.Duration(v) * time.Microsecond)
	}
	for i, tc := range []struct {
		q    float64
		want time.Duration
	}{
		{0, time.Microsecond},
		{0.001, time.Microsecond},
		{0.5, 500 * time.Microsecond},
		{0.9, 900 * time.Microsecond},
		{0.99, 990 * time.Microsecond},
		{0.999, 999 * time.Microsecond},
		{1, 1000 * time.Microsecond},
	} {
		if got := h.Percentile(tc.q); got != tc.want {
			t.Errorf("Test %d: p%g = %s, want %s", i, tc.q*100, got, tc.want)
		}
	}
	if h.Count() != 1000 || h.Max() != time.Millisecond {
		t.Errorf("count %d max %s", h.Count(), h.Max())
	}
	if got, want := h.Mean(), 500*time.Microsecond; got != want { // 500.5 truncated
		t.Errorf("mean %s, want %s", got, want)
	}
}

func TestHistogram_empty_and_clamped(t *testing.T) {
	h := NewHistogram()
	if h.Percentile(0.99) != 0 || h.Max() != 0 || h.Mean() != 0 {
		t.Fatal("empty histogram must answer 0")
	}
	h.Record(-time.Second)
	h.Record(1000 * time.Hour) // beyond 2^36 µs
	if got := h.Percentile(0.5); got != 0 {
		t.Errorf("negative recorded as %s, want 0", got)
	}
	if got, want := h.Percentile(1), time.Duration(maxMicros)*time.Microsecond; got != want {
		t.Errorf("clamped max %s, want %s", got, want)
	}
}

func TestHistogram_precision_above_2ms(t *testing.T) {
	// Percentiles are the upper edge of their bucket, clamped to the max:
	// never below the true value, at most 1/1024 above.
	for _, us := range []uint64{2048, 2049, 3333, 4095, 4096, 12345, 99999, 1 << 20, 123456789, maxMicros} {
		h := NewHistogram()
		h.Record(time.Duration(us) * time.Microsecond)
		h.Record(time.Duration(maxMicros) * time.Microsecond) // so the max does not clamp p50
		got := uint64(h.Percentile(0.5) / time.Microsecond)
		if got < us || float64(got-us) > float64(us)/1024 {
			t.Errorf("value %d µs reported as %d µs", us, got)
		}
	}
}

func TestHistogram_buckets_round_trip(t *testing.T) {
	for i := range numBuckets {
		if b := bucketOf(upperEdge(i)); b != i {
			t.Fatalf("bucket %d: upper edge %d maps to %d", i, upperEdge(i), b)
		}
		if i > 0 && upperEdge(i) <= upperEdge(i-1) {
			t.Fatalf("bucket %d: edges not increasing", i)
		}
	}
	if upperEdge(numBuckets-1) != maxMicros {
		t.Fatalf("last edge %d, want %d", upperEdge(numBuckets-1), uint64(maxMicros))
	}
}

func TestHistogram_concurrent(t *testing.T) {
	h := NewHistogram()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				h.Record(time.Duration(w*1000+i) * time.Microsecond)
			}
		}()
	}
	wg.Wait()
	if h.Count() != 8000 {
		t.Fatalf("count %d", h.Count())
	}
	if got := h.Max(); got != 7999*time.Microsecond {
		t.Fatalf("max %s", got)
	}
}

func TestMS(t *testing.T) {
	if got := ms(1234567 * time.Nanosecond); got != 1.235 {
		t.Fatalf("ms = %v", got)
	}
}
