package bench

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram layout: values are microseconds. Below exactLimit every
// microsecond has its own bucket; above, every power of two is split into
// subBuckets equal buckets, so a bucket is at most 1/1024 of its values wide.
// Values above maxMicros are clamped. Memory is fixed (about 220 KiB).
const (
	exactBits  = 11
	exactLimit = 1 << exactBits // 2048 µs
	subBuckets = exactLimit / 2 // buckets per power of two above exactLimit
	maxBits    = 36             // 2^36 µs ≈ 19 h
	maxMicros  = 1<<maxBits - 1
	numBuckets = exactLimit + (maxBits-exactBits)*subBuckets
)

// Histogram records durations with bounded memory and answers percentiles:
// exact below 2.048 ms, and never more than 1/1024 (0.1%) above the true
// value beyond, because a percentile is reported as the upper edge of its
// bucket (clamped to the largest value recorded). The zero value is not
// usable; call NewHistogram. Safe for concurrent use.
type Histogram struct {
	counts [numBuckets]atomic.Uint64
	total  atomic.Uint64
	sum    atomic.Uint64 // µs
	max    atomic.Uint64 // µs
}

// NewHistogram returns an empty histogram.
func NewHistogram() *Histogram { return &Histogram{} }

// Record adds one duration; negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	us := uint64(0)
	if d > 0 {
		us = uint64(d / time.Microsecond)
	}
	us = min(us, maxMicros)
	h.counts[bucketOf(us)].Add(1)
	h.total.Add(1)
	h.sum.Add(us)
	for {
		m := h.max.Load()
		if us <= m || h.max.CompareAndSwap(m, us) {
			break
		}
	}
}

// Count is the number of recorded values.
func (h *Histogram) Count() uint64 { return h.total.Load() }

// Max is the largest recorded value.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) * time.Microsecond }

// Mean is the average recorded value (0 when empty).
func (h *Histogram) Mean() time.Duration {
	n := h.total.Load()
	if n == 0 {
		return 0
	}
	return time.Duration(h.sum.Load()/n) * time.Microsecond
}

// Percentile returns the nearest-rank q-quantile (q in 0..1): the smallest
// recorded value v such that at least q of the values are <= v, within the
// precision stated on Histogram. 0 when empty.
func (h *Histogram) Percentile(q float64) time.Duration {
	n := h.total.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	rank = max(rank, 1)
	rank = min(rank, n)
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			return time.Duration(min(upperEdge(i), h.max.Load())) * time.Microsecond
		}
	}
	return h.Max()
}

// bucketOf maps a value in µs (<= maxMicros) to its bucket.
func bucketOf(us uint64) int {
	if us < exactLimit {
		return int(us)
	}
	k := bits.Len64(us) - 1 // us in [2^k, 2^(k+1)), k >= exactBits
	shift := k - (exactBits - 1)
	return exactLimit + (k-exactBits)*subBuckets + int(us>>shift) - subBuckets
}

// upperEdge is the largest value in µs that maps to bucket i.
func upperEdge(i int) uint64 {
	if i < exactLimit {
		return uint64(i)
	}
	j := i - exactLimit
	k := exactBits + j/subBuckets
	shift := k - (exactBits - 1)
	lower := uint64(subBuckets+j%subBuckets) << shift
	return lower + 1<<shift - 1
}

// ms converts a duration to milliseconds rounded to 3 decimals (1 µs).
func ms(d time.Duration) float64 { return round(float64(d)/float64(time.Millisecond), 3) }

// round rounds x to n decimals.
func round(x float64, n int) float64 {
	p := math.Pow10(n)
	return math.Round(x*p) / p
}
