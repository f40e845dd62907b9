package catalog

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Roles.
const (
	RolePartner = "partner"
	RoleAdmin   = "admin"
)

// Defaults of a client's optional fields (DESIGN 3.1).
const (
	DefaultWeight     = 1
	DefaultMaxBacklog = 100_000
	// DefaultMaxCallbackTargets is how many distinct Callback-URL origins
	// a client may use at once unless it sets max_callback_targets.
	DefaultMaxCallbackTargets = 20
	// MaxCallbackTargetsLimit is the largest max_callback_targets.
	MaxCallbackTargetsLimit = 1000
)

// CallbackTargets is the client's bound on distinct Callback-URL origins,
// defaulted.
func (c Client) CallbackTargets() int {
	if c.MaxCallbackTargets <= 0 {
		return DefaultMaxCallbackTargets
	}
	return c.MaxCallbackTargets
}

// Client is a partner (or operator) that authenticates to the broker.
type Client struct {
	ID               string    `json:"id"`
	Name             string    `json:"name,omitempty"`
	Roles            []string  `json:"roles"`
	Enabled          bool      `json:"enabled"`
	Grants           []string  `json:"grants"`
	CallbackPrefixes []string  `json:"callback_prefixes"`
	Webhooks         []Webhook `json:"webhooks,omitempty"`
	Quota            *Quota    `json:"quota,omitempty"`
	Weight           int       `json:"weight,omitempty"`
	MaxBacklog       int       `json:"max_backlog,omitempty"`
	// MaxCallbackTargets bounds the distinct Callback-URL origins the
	// client may use within CallbackOriginIdle; 0 means
	// DefaultMaxCallbackTargets.
	MaxCallbackTargets int `json:"max_callback_targets,omitempty"`
	// ExternalIDs are the names this client has at external identity
	// providers (the value of the IdP's client claim, e.g. an XSUAA
	// "sb-…" client ID), for tokens the broker did not issue.
	ExternalIDs []string `json:"external_ids,omitempty"`
	// SecretHashes are bcrypt hashes of the current client secrets. Never
	// returned by the API.
	SecretHashes []string `json:"secret_hashes,omitempty"`
	// PreviousSecrets are hashes of replaced secrets that stay valid until
	// their expiry (the overlap of a rotation). Never returned by the API.
	PreviousSecrets []ExpiringSecret `json:"previous_secrets,omitempty"`
	// WebhookSecret is the whsec_ signing secret for callbacks.
	WebhookSecret string `json:"webhook_secret,omitempty"`
	// PreviousWebhookSecrets are replaced webhook secrets that callbacks are
	// still signed with, besides the current one, until their expiry.
	PreviousWebhookSecrets []ExpiringSecret `json:"previous_webhook_secrets,omitempty"`
	// TokenGeneration binds the broker's tokens to this incarnation of the
	// client: a random value the Store assigns when the client is created
	// and that a secret rotation without overlap replaces. Every token the
	// broker issues carries it (claim "cgen"); the ingress refuses a token
	// whose generation is not the live client's. Never returned by the API.
	TokenGeneration string `json:"token_generation,omitempty"`
	// RetiredUntil is set only on the tombstone a deleted client leaves
	// under its ID (every other field but ID is empty then). Until that
	// time the ID cannot be created again, so a new owner of the name
	// never sees the old client's tokens, jobs, results, events or
	// idempotency keys: they are all gone by then. Tombstones are not
	// clients: the Store's view, lookups and listings skip them.
	RetiredUntil *time.Time `json:"retired_until,omitempty"`
}

// ExpiringSecret is a secret (or a secret's hash) valid until ExpiresAt.
type ExpiringSecret struct {
	Value     string    `json:"value"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Webhook is a callback target for a client's job events.
type Webhook struct {
	ID             string   `json:"id"`
	URL            string   `json:"url"`
	Events         []string `json:"events"`
	Enabled        bool     `json:"enabled"`
	DisabledReason string   `json:"disabled_reason"`
}

// WebhookEvents returns the event types a webhook may subscribe to (a
// new slice each call: callers cannot change the set).
func WebhookEvents() []string { return []string{"job.succeeded", "job.failed", "job.canceled"} }

// HasRole reports whether the client has role r.
func (c Client) HasRole(r string) bool { return slices.Contains(c.Roles, r) }

// Granted reports whether the client may call flow.
func (c Client) Granted(flow string) bool { return slices.Contains(c.Grants, flow) }

// SetDefaults fills the optional fields a new client leaves out: the
// partner role, empty grants, prefixes and webhooks, weight 1 and a backlog
// of 100000. Enabled is the caller's choice (the API defaults it to true).
func (c *Client) SetDefaults() {
	if c.Roles == nil {
		c.Roles = []string{RolePartner}
	}
	if c.Grants == nil {
		c.Grants = []string{}
	}
	if c.CallbackPrefixes == nil {
		c.CallbackPrefixes = []string{}
	}
	if c.Weight == 0 {
		c.Weight = DefaultWeight
	}
	if c.MaxBacklog == 0 {
		c.MaxBacklog = DefaultMaxBacklog
	}
}

// Size limits of a client's free-text fields (bytes).
const (
	// MaxNameBytes bounds a client's name and a flow's title.
	MaxNameBytes = 200
	// MaxExternalIDs bounds how many external IDs a client may have.
	MaxExternalIDs = 32
	// MaxExternalIDBytes bounds one external ID.
	MaxExternalIDBytes = 255
)

// Validate reports a client that cannot be stored.
func (c Client) Validate() error {
	var errs []error
	if !ValidID(c.ID) {
		errs = append(errs, fmt.Errorf("client id %q must match ^[a-z0-9][a-z0-9-]{0,62}$", c.ID))
	}
	if c.RetiredUntil != nil {
		errs = append(errs, errors.New("retired_until is set only by a delete"))
	}
	if len(c.Name) > MaxNameBytes {
		errs = append(errs, fmt.Errorf("name must be at most %d bytes", MaxNameBytes))
	}
	for _, g := range c.Grants {
		if !ValidID(g) {
			errs = append(errs, fmt.Errorf("grant %q is not a valid flow id", g))
		}
	}
	for _, r := range c.Roles {
		if r != RolePartner && r != RoleAdmin {
			errs = append(errs, fmt.Errorf("role %q must be partner or admin", r))
		}
	}
	for _, p := range c.CallbackPrefixes {
		if _, err := NormalizeCallbackPrefix(p); err != nil {
			errs = append(errs, fmt.Errorf("callback_prefixes %q: %w", p, err))
		} else if err := validTargetURL(p); err != nil {
			errs = append(errs, fmt.Errorf("callback_prefixes %q: %w", p, err))
		}
	}
	errs = append(errs, c.validateWebhooks()...)
	if c.Quota != nil {
		errs = append(errs, c.Quota.validate()...)
	}
	if c.Weight < 0 || c.Weight > 1000 {
		errs = append(errs, fmt.Errorf("weight %d must be 1..1000 (0 means the default, 1)", c.Weight))
	}
	if c.MaxCallbackTargets < 0 || c.MaxCallbackTargets > MaxCallbackTargetsLimit {
		errs = append(errs, fmt.Errorf("max_callback_targets %d must be 1..%d (0 means the default, %d)", c.MaxCallbackTargets, MaxCallbackTargetsLimit, DefaultMaxCallbackTargets))
	}
	if c.MaxBacklog < 0 || c.MaxBacklog > MaxBacklog {
		errs = append(errs, fmt.Errorf("max_backlog %d must be 0..%d", c.MaxBacklog, MaxBacklog))
	}
	errs = append(errs, validExternalIDs(c.ExternalIDs)...)
	if len(c.SecretHashes) == 0 {
		errs = append(errs, errors.New("client has no secret"))
	}
	return errors.Join(errs...)
}

func validExternalIDs(xs []string) []error {
	var errs []error
	if len(xs) > MaxExternalIDs {
		errs = append(errs, fmt.Errorf("external_ids: at most %d entries", MaxExternalIDs))
	}
	seen := make(map[string]bool, len(xs))
	for _, x := range xs {
		switch {
		case x == "" || len(x) > MaxExternalIDBytes:
			errs = append(errs, fmt.Errorf("external_ids: each must be 1-%d bytes", MaxExternalIDBytes))
		case seen[x]:
			errs = append(errs, fmt.Errorf("external_ids: %q is listed twice", x))
		}
		seen[x] = true
	}
	return errs
}

func (c Client) validateWebhooks() []error {
	var errs []error
	seen := map[string]bool{}
	for _, w := range c.Webhooks {
		if !ValidID(w.ID) {
			errs = append(errs, fmt.Errorf("webhook id %q must match ^[a-z0-9][a-z0-9-]{0,62}$", w.ID))
		}
		if seen[w.ID] {
			errs = append(errs, fmt.Errorf("webhook id %q is used twice", w.ID))
		}
		seen[w.ID] = true
		if err := validTargetURL(w.URL); err != nil {
			errs = append(errs, fmt.Errorf("webhook %s url: %w", w.ID, err))
		}
		if len(w.Events) == 0 {
			errs = append(errs, fmt.Errorf("webhook %s needs at least one event", w.ID))
		}
		for _, e := range w.Events {
			if events := WebhookEvents(); !slices.Contains(events, e) {
				errs = append(errs, fmt.Errorf("webhook %s event %q must be one of %s", w.ID, e, strings.Join(events, ", ")))
			}
		}
	}
	return errs
}

func (q Quota) validate() []error {
	var errs []error
	if err := checkRate("quota.rate", q.Rate); err != nil {
		errs = append(errs, err)
	}
	for _, c := range []struct {
		name    string
		n, maxN int
	}{{"quota.burst", q.Burst, MaxBurst}, {"quota.concurrency", q.Concurrency, MaxConcurrency}, {"quota.allow", q.Allow, MaxAllow}} {
		if err := checkCount(c.name, c.n, c.maxN); err != nil {
			errs = append(errs, err)
		}
	}
	switch q.Interval {
	case "", "minute", "hour", "day":
	default:
		errs = append(errs, fmt.Errorf("quota interval %q must be minute, hour or day", q.Interval))
	}
	if q.Allow > 0 && q.Interval == "" {
		errs = append(errs, errors.New("quota allow needs an interval"))
	}
	return errs
}

// validTargetURL accepts absolute https URLs, and http for loopback hosts.
func validTargetURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil {
		return errors.New("must be an absolute URL without user info")
	}
	if u.Scheme == "https" {
		return nil
	}
	if u.Scheme == "http" && isLoopbackHost(u.Hostname()) {
		return nil
	}
	return errors.New("must use https (http only for loopback hosts)")
}

func isLoopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
