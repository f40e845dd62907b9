package cpiclient

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/cpibroker/cpibroker/internal/cpitoken"
)

// Defaults of the [Config] fields.
const (
	DefaultMaxResponseBody  = 64 << 20 // 64 MiB
	DefaultTokenRefreshSkew = 60 * time.Second
	DefaultFetchTimeout     = 30 * time.Second
)

// Config configures a [Client] for one CPI provider.
type Config struct {
	// TokenURL, ClientID and ClientSecret are the XSUAA client credentials
	// of the provider's runtime (integration-flow plan) service key. With a
	// TokenURL, calls carry a Bearer token. Without one but with a ClientID,
	// calls carry HTTP Basic clientid:clientsecret, which CPI also accepts
	// (cpi.md 1.2). With neither, calls are unauthenticated.
	TokenURL, ClientID, ClientSecret string

	// TokenAuth is how the credentials travel to the token endpoint (the
	// provider's token_auth); "" means in the form body.
	TokenAuth cpitoken.Auth
	// TokenMemory keeps what token_auth "auto" found per token URL across
	// clients (a provider's client is rebuilt when it changes). Optional.
	TokenMemory *cpitoken.Memory

	// CSRF tells that the provider's flows are CSRF protected: a token and
	// session cookies are fetched per flow URL (scheme, host and path, so a
	// wildcard flow has one session per Flow-Path) before the first POST.
	CSRF bool

	// HTTPClient is the base client; the caller may wrap its transport
	// (otelhttp). Its Jar and CheckRedirect are not used: cookies are kept
	// per flow by the Client and redirects are returned as responses.
	// Default: a client with [NewTransport].
	HTTPClient *http.Client

	// MaxResponseBody bounds a response body in bytes; a larger one fails
	// the call with [ErrResponseTooLarge]. Default 64 MiB.
	MaxResponseBody int64

	// TokenRefreshSkew is how long before its expiry a cached token is
	// replaced; a token living less than twice the skew is replaced halfway
	// through its life. Default 60s.
	TokenRefreshSkew time.Duration

	// FetchTimeout bounds one token or CSRF fetch, which is shared by all
	// callers waiting for it (each caller still waits no longer than its
	// own Timeout). Default 30s.
	FetchTimeout time.Duration

	// AllowResponseHeaders adds header names to the default allow-list of
	// [Response.Header] (see [DefaultResponseHeaders]); names on the
	// deny-list are never returned.
	AllowResponseHeaders []string

	// Now is the clock used for token expiry. Default time.Now; tests
	// inject a fake one.
	Now func() time.Time

	// Logger receives debug records about token and CSRF refetches.
	// Default: discard.
	Logger *slog.Logger
}

// setDefaults fills in the zero fields.
func (c *Config) setDefaults() {
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Transport: NewTransport()}
	}
	if c.MaxResponseBody == 0 {
		c.MaxResponseBody = DefaultMaxResponseBody
	}
	if c.TokenRefreshSkew == 0 {
		c.TokenRefreshSkew = DefaultTokenRefreshSkew
	}
	if c.FetchTimeout == 0 {
		c.FetchTimeout = DefaultFetchTimeout
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports every invalid field of c at once.
func (c Config) Validate() error {
	var errs []error
	if c.TokenURL != "" {
		if u, err := url.Parse(c.TokenURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("token url %q is not an absolute http(s) url", c.TokenURL))
		}
		if !c.TokenAuth.Valid() {
			errs = append(errs, fmt.Errorf("token auth %q must be body, basic, basic-raw or auto", c.TokenAuth))
		}
		if c.ClientID == "" || c.ClientSecret == "" {
			errs = append(errs, errors.New("token url needs a client id and secret"))
		}
	}
	if c.ClientID == "" && c.ClientSecret != "" {
		errs = append(errs, errors.New("client secret without client id"))
	}
	if c.MaxResponseBody < 0 {
		errs = append(errs, fmt.Errorf("max response body %d is negative", c.MaxResponseBody))
	}
	if c.TokenRefreshSkew < 0 {
		errs = append(errs, fmt.Errorf("token refresh skew %s is negative", c.TokenRefreshSkew))
	}
	if c.FetchTimeout < 0 {
		errs = append(errs, fmt.Errorf("fetch timeout %s is negative", c.FetchTimeout))
	}
	for _, h := range c.AllowResponseHeaders {
		if !validHeaderName(h) {
			errs = append(errs, fmt.Errorf("allowed response header %q is not a header name", h))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return nil
}

// NewTransport returns the tuned transport of the default HTTP client: many
// idle connections per CPI host (calls are many and short), HTTP/2 when
// offered, bounded TLS handshakes, and no response-header timeout of its
// own (the flow timeout bounds the call).
func NewTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 512
	t.MaxIdleConnsPerHost = 128
	t.IdleConnTimeout = 90 * time.Second
	t.TLSHandshakeTimeout = 10 * time.Second
	t.ExpectContinueTimeout = time.Second
	t.ForceAttemptHTTP2 = true
	return t
}
