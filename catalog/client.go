package catalog

import (
	"errors"
	"fmt"
	"slices"
)

// Roles.
const (
	RolePartner = "partner"
	RoleAdmin   = "admin"
)

// Client is a partner (or operator) that authenticates to the broker.
type Client struct {
	ID               string   `json:"id"`
	Name             string   `json:"name,omitempty"`
	Roles            []string `json:"roles"`
	Enabled          bool     `json:"enabled"`
	Grants           []string `json:"grants"`
	CallbackPrefixes []string `json:"callback_prefixes"`
	Quota            *Quota   `json:"quota,omitempty"`
	Weight           int      `json:"weight,omitempty"`
	MaxBacklog       int      `json:"max_backlog,omitempty"`
	// SecretHashes are bcrypt hashes of the valid client secrets (more than
	// one during a rotation). Never returned by the API.
	SecretHashes []string `json:"secret_hashes,omitempty"`
	// WebhookSecret is the whsec_ signing secret for callbacks.
	WebhookSecret string `json:"webhook_secret,omitempty"`
}

// Quota limits a client's CPI calls; absent means unlimited.
type Quota struct {
	Rate        float64 `json:"rate,omitempty"`
	Burst       int     `json:"burst,omitempty"`
	Concurrency int     `json:"concurrency,omitempty"`
	Allow       int     `json:"allow,omitempty"`
	Interval    string  `json:"interval,omitempty"`
}

// HasRole reports whether the client has role r.
func (c Client) HasRole(r string) bool { return slices.Contains(c.Roles, r) }

// Granted reports whether the client may call flow.
func (c Client) Granted(flow string) bool { return slices.Contains(c.Grants, flow) }

// Validate reports a client that cannot be stored.
func (c Client) Validate() error {
	var errs []error
	if !ValidID(c.ID) {
		errs = append(errs, fmt.Errorf("client id %q must match ^[a-z0-9][a-z0-9-]{0,62}$", c.ID))
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
	if len(c.SecretHashes) == 0 {
		errs = append(errs, errors.New("client has no secret"))
	}
	return errors.Join(errs...)
}
