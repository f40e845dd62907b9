package catalog

import (
	"math"
	"time"
)

// Quota limits a client's CPI calls; absent means unlimited. What each
// field means (the burst a rate defaults to, the length and start of an
// allowance window) is said once, by the methods below, for the
// dispatchers that enforce it and the ingress that announces it.
type Quota struct {
	// Rate is calls per second (a token bucket).
	Rate float64 `json:"rate,omitempty"`
	// Burst is the bucket's size; 0 means one second's worth of Rate
	// (BurstLimit).
	Burst int `json:"burst,omitempty"`
	// Concurrency bounds the client's calls in flight.
	Concurrency int `json:"concurrency,omitempty"`
	// Allow bounds the client's calls per calendar Interval.
	Allow int `json:"allow,omitempty"`
	// Interval is the allowance window: minute, hour or day (UTC).
	Interval Interval `json:"interval,omitempty"`
}

// Interval is a calendar allowance window.
type Interval string

// Allowance windows.
const (
	IntervalMinute Interval = "minute"
	IntervalHour   Interval = "hour"
	IntervalDay    Interval = "day"
)

// Duration is the window's length; anything but minute and hour is a day.
func (i Interval) Duration() time.Duration {
	switch i {
	case IntervalMinute:
		return time.Minute
	case IntervalHour:
		return time.Hour
	}
	return 24 * time.Hour
}

// BurstLimit is the token bucket's size: Burst, or one second's worth of
// Rate when Burst is not set, at most MaxBurstLimit (a plain int
// conversion of a rate past the int range overflows to a negative size,
// which no bucket can ever grant from).
func (q Quota) BurstLimit() int {
	if q.Burst > 0 {
		return q.Burst
	}
	return RateBurst(q.Rate)
}

// MaxBurstLimit bounds a burst computed from a rate.
const MaxBurstLimit = 1 << 30

// RateBurst is one second's worth of rate r as a burst, at least 1 for a
// positive rate and at most MaxBurstLimit.
func RateBurst(r float64) int {
	if !(r < MaxBurstLimit) { // also NaN and +Inf
		return MaxBurstLimit
	}
	return int(math.Ceil(r))
}

// RateWindow is the time a full burst takes to refill at Rate, in whole
// seconds, at least 1: the w of the "rate" RateLimit-Policy. 0 without a
// rate.
func (q Quota) RateWindow() int {
	if q.Rate <= 0 {
		return 0
	}
	return max(1, int(math.Ceil(float64(q.BurstLimit())/q.Rate)))
}

// Window returns the start of the allowance window holding t (UTC).
func (q Quota) Window(t time.Time) time.Time { return t.UTC().Truncate(q.Interval.Duration()) }
