package catalog

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Flow statuses.
const (
	FlowEnabled     = "enabled"
	FlowDisabled    = "disabled"
	FlowUnavailable = "unavailable"
)

// Flow is a partner-facing flow: one HTTP-callable entry point of an iFlow.
type Flow struct {
	ID          string `json:"id"`
	Provider    string `json:"provider"`
	ArtifactID  string `json:"artifact_id,omitempty"`
	Address     string `json:"address,omitempty"`
	Title       string `json:"title,omitempty"`
	Description string `json:"description,omitempty"`
	Protocol    string `json:"protocol,omitempty"`
	// URL is the iFlow endpoint the dispatcher POSTs to.
	URL    string `json:"url"`
	Status string `json:"status"`
	Policy Policy `json:"policy"`
	// AvailableStatus is the status an unavailable flow returns to when
	// it is deployed again (enabled or disabled); empty otherwise.
	AvailableStatus string `json:"available_status,omitempty"`
	// CustomTitle is set once an operator changed the title or
	// description: discovery no longer overwrites them.
	CustomTitle bool `json:"custom_title,omitempty"`
}

// Wildcard reports whether the iFlow address ends in /*, so partners may
// choose a sub-path with Flow-Path.
func (f Flow) Wildcard() bool {
	return strings.HasSuffix(f.Address, "/*") || strings.HasSuffix(f.URL, "/*")
}

// Policy governs how jobs of a flow are dispatched.
type Policy struct {
	Timeout        Duration `json:"timeout"`
	MaxAttempts    int      `json:"max_attempts"`
	BackoffBase    Duration `json:"backoff_base"`
	BackoffCap     Duration `json:"backoff_cap"`
	RetryOn500     bool     `json:"retry_on_500"`
	Rate           float64  `json:"rate"`
	Concurrency    int      `json:"concurrency"`
	ForwardHeaders []string `json:"forward_headers"`
	Breaker        Breaker  `json:"breaker"`
	// Ordering governs the Ordering-Key header: optional (default),
	// required or off.
	Ordering Ordering `json:"ordering"`
	// OnFailure is what a failed ordered job does to its key: block
	// (default) or continue.
	OnFailure OnFailure `json:"on_failure"`
}

// Breaker configures the flow's circuit breaker.
type Breaker struct {
	ConsecutiveFailures int      `json:"consecutive_failures"`
	FailureRatio        float64  `json:"failure_ratio"`
	MinRequests         int      `json:"min_requests"`
	Window              Duration `json:"window"`
	OpenFor             Duration `json:"open_for"`
	HalfOpenProbes      int      `json:"half_open_probes"`
}

// Validate reports every problem of a breaker configuration in one error.
func (b Breaker) Validate() error {
	var errs []error
	for _, c := range []struct {
		name string
		n    int
	}{{"consecutive_failures", b.ConsecutiveFailures}, {"min_requests", b.MinRequests}, {"half_open_probes", b.HalfOpenProbes}} {
		if err := checkCount("policy.breaker."+c.name, c.n, MaxBreakerCount); err != nil {
			errs = append(errs, err)
		}
	}
	if !(b.FailureRatio >= 0 && b.FailureRatio <= 1) { // NaN fails both
		errs = append(errs, errors.New("policy.breaker.failure_ratio must be within 0..1"))
	}
	if b.Window < 0 || b.OpenFor < 0 {
		errs = append(errs, errors.New("policy.breaker durations must be >= 0"))
	}
	if b.Window.D() > MaxPolicyDuration || b.OpenFor.D() > MaxPolicyDuration {
		errs = append(errs, fmt.Errorf("policy.breaker.window and open_for must be at most %s", MaxPolicyDuration))
	}
	return errors.Join(errs...)
}

// DefaultPolicy returns the defaults of DESIGN 3.1.
func DefaultPolicy() Policy {
	return Policy{
		Timeout: Duration(60 * time.Second), MaxAttempts: 8,
		BackoffBase: Duration(time.Second), BackoffCap: Duration(5 * time.Minute),
		Rate: 50, Concurrency: 20, ForwardHeaders: []string{},
		Ordering: OrderingOptional, OnFailure: OnFailureBlock,
		Breaker: Breaker{
			ConsecutiveFailures: 5, FailureRatio: 0.5, MinRequests: 20,
			Window: Duration(30 * time.Second), OpenFor: Duration(30 * time.Second), HalfOpenProbes: 1,
		},
	}
}

// Validate reports every problem of a policy in one error.
func (p Policy) Validate() error {
	var errs []error
	if p.Timeout.D() < time.Second || p.Timeout.D() > 10*time.Minute {
		errs = append(errs, errors.New("policy.timeout must be 1s..10m"))
	}
	if p.MaxAttempts < 1 || p.MaxAttempts > 100 {
		errs = append(errs, errors.New("policy.max_attempts must be 1..100"))
	}
	if p.BackoffBase.D() <= 0 || p.BackoffCap.D() < p.BackoffBase.D() {
		errs = append(errs, errors.New("policy.backoff_base must be > 0 and <= backoff_cap"))
	}
	if p.BackoffCap.D() > MaxPolicyDuration {
		errs = append(errs, fmt.Errorf("policy.backoff_cap must be at most %s", MaxPolicyDuration))
	}
	if err := checkRate("policy.rate", p.Rate); err != nil {
		errs = append(errs, err)
	}
	if err := checkCount("policy.concurrency", p.Concurrency, MaxConcurrency); err != nil {
		errs = append(errs, fmt.Errorf("%w (0 = unlimited)", err))
	}
	if len(p.ForwardHeaders) > MaxForwardHeaders {
		errs = append(errs, fmt.Errorf("policy.forward_headers: at most %d names", MaxForwardHeaders))
	}
	if err := p.Breaker.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := p.Ordering.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := p.OnFailure.Validate(); err != nil {
		errs = append(errs, err)
	}
	for _, h := range p.ForwardHeaders {
		if h == "" || len(h) > MaxHeaderNameBytes {
			errs = append(errs, fmt.Errorf("policy.forward_headers: names must be 1-%d bytes", MaxHeaderNameBytes))
		}
	}
	return errors.Join(errs...)
}

// Validate reports a flow that cannot be stored.
func (f Flow) Validate() error {
	var errs []error
	if !ValidID(f.ID) {
		errs = append(errs, fmt.Errorf("flow id %q must match ^[a-z0-9][a-z0-9-]{0,62}$", f.ID))
	}
	if !ValidID(f.Provider) {
		errs = append(errs, fmt.Errorf("flow provider %q is not a valid id", f.Provider))
	}
	if f.URL == "" {
		errs = append(errs, errors.New("flow url is required"))
	}
	if len(f.Title) > MaxTitleBytes {
		errs = append(errs, fmt.Errorf("title must be at most %d bytes", MaxTitleBytes))
	}
	if len(f.Description) > MaxDescriptionBytes {
		errs = append(errs, fmt.Errorf("description must be at most %d bytes", MaxDescriptionBytes))
	}
	switch f.Status {
	case FlowEnabled, FlowDisabled, FlowUnavailable:
	default:
		errs = append(errs, fmt.Errorf("flow status %q must be enabled, disabled or unavailable", f.Status))
	}
	switch f.AvailableStatus {
	case "", FlowEnabled, FlowDisabled:
	default:
		errs = append(errs, fmt.Errorf("flow available_status %q must be enabled or disabled", f.AvailableStatus))
	}
	if err := f.Policy.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
