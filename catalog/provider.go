package catalog

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/cpibroker/cpibroker/internal/cpitoken"
)

// Provider types.
const (
	ProviderCPI  = "cpi"
	ProviderHTTP = "http"
)

// Provider is a backend: a CPI tenant or a plain HTTPS service. Credential
// fields use the names of SAP service keys so an operator can paste a key.
type Provider struct {
	ID      string    `json:"id"`
	Type    string    `json:"type"`
	Title   string    `json:"title,omitempty"`
	Runtime Endpoint  `json:"runtime"`
	API     *Endpoint `json:"api,omitempty"`
	CSRF    bool      `json:"csrf"`
	// TokenAuth is how client credentials travel to the token endpoints of
	// runtime and api: "body" (the default), "basic", "basic-raw" or
	// "auto" (see internal/cpitoken).
	TokenAuth         string   `json:"token_auth,omitempty"`
	DiscoveryInterval Duration `json:"discovery_interval,omitempty"`
	AutoEnable        bool     `json:"auto_enable"`
	// Flows are the declared flows of a "http" provider (a plain HTTPS
	// backend has no discovery API): each becomes a flow with this ID at
	// runtime.url + path.
	Flows []DeclaredFlow `json:"flows,omitempty"`
}

// DeclaredFlow is a flow of a "http" provider.
type DeclaredFlow struct {
	ID          string `json:"id"`
	Path        string `json:"path"`
	Title       string `json:"title,omitempty"`
	Description string `json:"description,omitempty"`
}

// NewProvider returns the defaults of a provider the admin API or a seed
// creates: csrf true (CPI's default for HTTPS senders) and the default
// token_auth.
func NewProvider() Provider {
	return Provider{CSRF: true, TokenAuth: string(cpitoken.DefaultAuth)}
}

// DefaultDiscoveryInterval is the discovery period of a provider that sets
// none.
const DefaultDiscoveryInterval = 5 * time.Minute

// Interval is the provider's discovery period, defaulted.
func (p Provider) Interval() time.Duration {
	if p.DiscoveryInterval <= 0 {
		return DefaultDiscoveryInterval
	}
	return p.DiscoveryInterval.D()
}

// Discoverable reports whether the provider's flows come from its OData
// API (a "cpi" provider with an "api" endpoint).
func (p Provider) Discoverable() bool {
	return p.Type == ProviderCPI && p.API != nil && p.API.URL != ""
}

// TokenAuthMode is the provider's token_auth, defaulted.
func (p Provider) TokenAuthMode() cpitoken.Auth { return cpitoken.Auth(p.TokenAuth).OrDefault() }

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
		if p.API.URL == "" {
			errs = append(errs, errors.New("provider api.url is required when api is set"))
		}
		for name, u := range map[string]string{"api.url": p.API.URL, "api.tokenurl": p.API.TokenURL} {
			if err := checkProviderURL(name, u); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if !cpitoken.Auth(p.TokenAuth).Valid() {
		errs = append(errs, fmt.Errorf("provider token_auth %q must be body, basic, basic-raw or auto", p.TokenAuth))
	}
	if p.DiscoveryInterval != 0 && p.DiscoveryInterval.D() < 10*time.Second {
		errs = append(errs, errors.New("provider discovery_interval must be at least 10s"))
	}
	if len(p.Flows) > 0 && p.Type != ProviderHTTP {
		errs = append(errs, errors.New("provider flows are declared for type http only (cpi flows are discovered)"))
	}
	seen := map[string]bool{}
	for i, f := range p.Flows {
		if !ValidID(f.ID) {
			errs = append(errs, fmt.Errorf("provider flows[%d].id %q must match ^[a-z0-9][a-z0-9-]{0,62}$", i, f.ID))
		}
		if seen[f.ID] {
			errs = append(errs, fmt.Errorf("provider flows[%d].id %q is declared twice", i, f.ID))
		}
		seen[f.ID] = true
		if !strings.HasPrefix(f.Path, "/") || strings.ContainsAny(f.Path, "?# ") {
			errs = append(errs, fmt.Errorf("provider flows[%d].path %q must start with / and have no query", i, f.Path))
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
