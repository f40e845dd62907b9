package catalog

import (
	"encoding/json"
	"fmt"
)

// Ordering is a flow's policy for the Ordering-Key header (in-order
// processing per business key). Flows stored before it existed have ""
// and behave, and are shown, as OrderingOptional.
type Ordering string

// Ordering modes.
const (
	// OrderingOptional: jobs with an Ordering-Key run in order per key,
	// jobs without one run as usual. The default.
	OrderingOptional Ordering = "optional"
	// OrderingRequired: a submit without an Ordering-Key is refused (400
	// ordering_key_required).
	OrderingRequired Ordering = "required"
	// OrderingOff: the flow takes no Ordering-Key; a submit with one is
	// refused (400 invalid_request naming the header) rather than run out
	// of the order its sender expects.
	OrderingOff Ordering = "off"
)

// Mode is o with "" read as OrderingOptional.
func (o Ordering) Mode() Ordering {
	if o == "" {
		return OrderingOptional
	}
	return o
}

// MarshalJSON shows the effective mode.
func (o Ordering) MarshalJSON() ([]byte, error) { return json.Marshal(string(o.Mode())) }

// Validate reports an unknown mode.
func (o Ordering) Validate() error {
	switch o.Mode() {
	case OrderingOptional, OrderingRequired, OrderingOff:
		return nil
	}
	return fmt.Errorf("policy.ordering %q must be optional, required or off", string(o))
}

// OnFailure is what a failed job with an Ordering-Key does to the jobs of
// its key behind it. "" (flows stored before it existed) is OnFailureBlock.
type OnFailure string

// OnFailure modes.
const (
	// OnFailureBlock stops the key's sequence until an operator skips or
	// replays the failed job. The default.
	OnFailureBlock OnFailure = "block"
	// OnFailureContinue lets the next job of the key run.
	OnFailureContinue OnFailure = "continue"
)

// Mode is f with "" read as OnFailureBlock.
func (f OnFailure) Mode() OnFailure {
	if f == "" {
		return OnFailureBlock
	}
	return f
}

// MarshalJSON shows the effective mode.
func (f OnFailure) MarshalJSON() ([]byte, error) { return json.Marshal(string(f.Mode())) }

// Validate reports an unknown mode.
func (f OnFailure) Validate() error {
	switch f.Mode() {
	case OnFailureBlock, OnFailureContinue:
		return nil
	}
	return fmt.Errorf("policy.on_failure %q must be block or continue", string(f))
}
