package state

import (
	"encoding/json"
	"time"
)

// Breaker states as stored and shown.
const (
	StateClosed   = "closed"
	StateOpen     = "open"
	StateHalfOpen = "half-open"
)

// Breaker is one flow's breaker record in cpib-breakers (key = flow ID).
// Dispatchers write open and closed; an open record whose Until has
// passed means half-open (probes are let through).
type Breaker struct {
	Flow  string    `json:"flow"`
	State string    `json:"state"`
	Since time.Time `json:"since"`
	// Until is when an open breaker lets its first probes through.
	Until time.Time `json:"until,omitzero"`
	// By is the dispatcher that saw the change, or "admin" for a reset.
	By string `json:"by"`
	// Reset marks a record written by an operator's reset.
	Reset bool `json:"reset,omitempty"`
}

// Encode returns the KV value of b.
func (b Breaker) Encode() []byte {
	v, _ := json.Marshal(b)
	return v
}

// DecodeBreaker reads a KV value.
func DecodeBreaker(v []byte) (Breaker, bool) {
	var b Breaker
	if json.Unmarshal(v, &b) != nil || b.Flow == "" {
		return Breaker{}, false
	}
	return b, true
}

// WaitPrefix starts the keys of waiting markers in cpib-quota.
const WaitPrefix = "wait."

// WaitKey names the marker of a (client, flow) pair.
func WaitKey(client, flow string) string { return WaitPrefix + client + "." + flow }

// Wait is a marker: jobs of a pair wait for a quota ("quota") or a
// concurrency budget ("concurrency"), until a time when one is known.
type Wait struct {
	Reason string    `json:"reason"`
	Until  time.Time `json:"until,omitzero"`
	// At is when the marker was written; markers are refreshed while the
	// wait lasts, so an old one is stale (its dispatcher died).
	At time.Time `json:"at"`
}

// Encode returns the KV value of w.
func (w Wait) Encode() []byte {
	v, _ := json.Marshal(w)
	return v
}

// DecodeWait reads a KV value.
func DecodeWait(v []byte) (Wait, bool) {
	var w Wait
	if json.Unmarshal(v, &w) != nil || w.Reason == "" {
		return Wait{}, false
	}
	return w, true
}

// MarkerTTL is how long a marker counts without a refresh.
const MarkerTTL = 30 * time.Second
