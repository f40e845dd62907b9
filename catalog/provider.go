package catalog

import (
	"errors"
	"fmt"
	"net"
	"net/url"
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
	for name, u := range map[string]string{"runtime.url": p.Runtime.URL, "runtime.tokenurl": p.Runtime.TokenURL} {
		if err := checkProviderURL(name, u); err != nil {
			errs = append(errs, err)
		}
	}
	if p.API != nil {
		for name, u := range map[string]string{"api.url": p.API.URL, "api.tokenurl": p.API.TokenURL} {
			if err := checkProviderURL(name, u); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// checkProviderURL enforces DESIGN 3.1: provider URLs are https://, except
// loopback hosts (the simulator, local trials); credentials never travel in
// clear text to another machine.
func checkProviderURL(name, raw string) error {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("provider %s %q is not an absolute URL", name, raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if host == "localhost" {
			return nil
		}
		if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
			return nil
		}
	}
	return fmt.Errorf("provider %s %q must be https:// (http only for loopback hosts)", name, raw)
}
