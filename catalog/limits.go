package catalog

import (
	"fmt"
	"math"
	"time"
	"unicode/utf8"
)

// Ranges of the numbers in flow policies and client quotas. A value past
// them (or NaN, or an infinity) is refused with the field named, so no
// limit can overflow when the dispatcher turns it into a budget.
const (
	// MinRate and MaxRate bound a rate (calls per second) that is set;
	// 0 means unlimited.
	MinRate = 0.001
	MaxRate = 1e6
	// MaxConcurrency bounds policy.concurrency and quota.concurrency.
	MaxConcurrency = 1_000_000
	// MaxBurst bounds quota.burst.
	MaxBurst = 1_000_000
	// MaxAllow bounds quota.allow (calls per interval).
	MaxAllow = 1_000_000_000
	// MaxBacklog bounds a client's max_backlog.
	MaxBacklog = 1_000_000_000
	// MaxBreakerCount bounds the breaker's counts.
	MaxBreakerCount = 1_000_000
	// MaxPolicyDuration bounds backoff_cap and the breaker's window and
	// open_for.
	MaxPolicyDuration = 24 * time.Hour
	// MaxTitleBytes and MaxDescriptionBytes bound a flow's title and
	// description.
	MaxTitleBytes       = MaxNameBytes
	MaxDescriptionBytes = 4096
	// MaxForwardHeaders bounds policy.forward_headers; each name is at
	// most MaxHeaderNameBytes.
	MaxForwardHeaders  = 64
	MaxHeaderNameBytes = 256
)

// checkRate reports a rate outside 0 (unlimited) or MinRate..MaxRate.
func checkRate(field string, r float64) error {
	if math.IsNaN(r) || math.IsInf(r, 0) {
		return fmt.Errorf("%s must be a finite number", field)
	}
	if r != 0 && (r < MinRate || r > MaxRate) {
		return fmt.Errorf("%s must be 0 (unlimited) or %g..%g per second", field, MinRate, float64(MaxRate))
	}
	return nil
}

// checkCount reports n outside 0..maxN.
func checkCount(field string, n, maxN int) error {
	if n < 0 || n > maxN {
		return fmt.Errorf("%s must be 0..%d", field, maxN)
	}
	return nil
}

// Truncate cuts s to at most n bytes on a UTF-8 boundary.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
