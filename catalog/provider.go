package catalog

import (
	"errors"
	"fmt"
)

// Provider types.
const (
	ProviderCPI  = "cpi"
	ProviderHTTP = "http"
)

// Provider is a backend: a CPI tenant or a plain HTTPS service. Credential
// fields use the names of SAP service keys so an operator can paste a key.
type Provider struct {
	ID                string    `json:"id"`
	Type              string    `json:"type"`
	Title             string    `json:"title,omitempty"`
	Runtime           Endpoint  `json:"runtime"`
	API               *Endpoint `json:"api,omitempty"`
	CSRF              bool      `json:"csrf"`
	DiscoveryInterval Duration  `json:"discovery_interval,omitempty"`
	AutoEnable        bool      `json:"auto_enable"`
}

// Endpoint is a base URL with optional OAuth 2.0 client credentials.
type Endpoint struct {
	URL          string `json:"url"`
	TokenURL     string `json:"tokenurl,omitempty"`
	ClientID     string `json:"clientid,omitempty"`
	ClientSecret string `json:"clientsecret,omitempty"`
}

// Validate reports a provider that cannot be stored.
func (p Provider) Validate() error {
	var errs []error
	if !ValidID(p.ID) {
		errs = append(errs, fmt.Errorf("provider id %q must match ^[a-z0-9][a-z0-9-]{0,62}$", p.ID))
	}
	if p.Type != ProviderCPI && p.Type != ProviderHTTP {
		errs = append(errs, fmt.Errorf("provider type %q must be cpi or http", p.Type))
	}
	if p.Runtime.URL == "" {
		errs = append(errs, errors.New("provider runtime.url is required"))
	}
	return errors.Join(errs...)
}
