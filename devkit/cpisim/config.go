package cpisim

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Demo credentials used when a [Config] leaves them empty. They are shaped
// like real service-key client IDs: "|it-rt-" marks the integration-flow
// plan, "|it!" the api plan (cpi.md 1.2). The secrets contain '$' like real
// ones, which exercises form-encoding of credentials in HTTP Basic.
const (
	DefaultRuntimeClientID     = "sb-cpisim-runtime!b1|it-rt-cpisim!b1"
	DefaultRuntimeClientSecret = "cpisim-runtime$secret="
	DefaultAPIClientID         = "sb-cpisim-api!b1|it!b1"
	DefaultAPIClientSecret     = "cpisim-api$secret="
)

// Defaults of the [Config] fields.
const (
	DefaultRuntimeTokenTTL  = 3600 * time.Second  // integration-flow plan (cpi.md 1.2)
	DefaultAPITokenTTL      = 43200 * time.Second // api plan (cpi.md 1.2)
	DefaultMaxBodySize      = 40 << 20            // 40 MiB (cpi.md 1.4)
	DefaultSessionTTL       = 30 * time.Minute    // Tomcat's default session idle timeout
	DefaultMaxRecordedCalls = 10000
	// DefaultMaxRecordedSpans is Config.MaxRecordedSpans's default.
	DefaultMaxRecordedSpans = 100000
	DefaultBodyReadGap      = 20 * time.Second // cpi.md 1.4
	DefaultODataPageSize    = 1000             // cpi.md 2.1
)

// Config configures a [Sim]. The zero value is usable: every field has a
// documented default, applied by [New].
type Config struct {
	// RuntimeClientID and RuntimeClientSecret are the credentials of the
	// integration-flow plan service key. They are accepted on /oauth/token
	// (issuing runtime tokens) and directly as HTTP Basic on /http/*.
	// Default DefaultRuntimeClientID / DefaultRuntimeClientSecret.
	RuntimeClientID, RuntimeClientSecret string

	// APIClientID and APIClientSecret are the credentials of the api plan
	// service key, for the OData API (/api/v1). Their tokens are a different
	// audience: presented on /http/* they are refused with 403. Must differ
	// from the runtime client ID. Default DefaultAPIClientID /
	// DefaultAPIClientSecret.
	APIClientID, APIClientSecret string

	// RuntimeTokenTTL is the validity of runtime tokens; expires_in is
	// answered as RuntimeTokenTTL-1s (UAA convention). Default 3600s.
	RuntimeTokenTTL time.Duration

	// APITokenTTL is the validity of API tokens. Default 43200s.
	APITokenTTL time.Duration

	// MaxBodySize is the default request body limit of an iFlow's sender
	// adapter, in bytes; larger bodies are answered 413. An [IFlow] may set
	// its own. Default 40 MiB.
	MaxBodySize int64

	// SessionTTL is the idle timeout of the HTTP sessions that carry CSRF
	// tokens. A POST with the cookie of an expired session gets 403.
	// Default 30m.
	SessionTTL time.Duration

	// MaxRecordedCalls bounds the calls kept per iFlow for [Sim.Calls]; the
	// oldest are dropped first; -1 keeps none (benchmarks). [Sim.CallCount]
	// still counts every call. Default 10000.
	MaxRecordedCalls int

	// MaxRecordedSpans bounds the spans kept per iFlow for [Sim.Spans]
	// (the job, start and end of each call that ran the flow, a few dozen
	// bytes each); the oldest are dropped first; -1 keeps none. Default
	// 100000.
	MaxRecordedSpans int

	// BodyReadGap is the longest pause allowed while reading a request
	// body; a longer one is answered 408. CPI's web server cancels such
	// requests after 20s (cpi.md 1.4); the status is UNCONFIRMED.
	// Default 20s.
	BodyReadGap time.Duration

	// Seed seeds the per-iFlow random sources that decide which calls fail
	// under Faults.ErrorRate. The same seed and the same sequence of calls
	// to an iFlow give the same outcomes. 0 means time-based.
	Seed int64

	// AdminAllowRemote lets non-loopback clients use the unauthenticated
	// admin API (/sim/v1). Default false: only loopback callers.
	AdminAllowRemote bool

	// ODataPageSize is the most entities one OData API answer holds; more
	// are paged with "__next" links. Default 1000, the tenant's server-side
	// maximum (cpi.md 2.1).
	ODataPageSize int
	// PublicURL is the base URL the tenant announces (entry points in the
	// OData API, URL()) when callers reach it by another name than its
	// listen address, as in a container network. Default
	// http://<listen address>.
	PublicURL string

	// ODataISODates writes OData dates as "2021-02-18T11:57:02.885" (the
	// form SAP's own Go mocks use) instead of the spec's "/Date(ms)/".
	ODataISODates bool

	// ODataRelativeNext writes "__next" links relative to the service root
	// ("ServiceEndpoints?$skiptoken=1000"), as some tenants reportedly do
	// (cpi.md 2.1, UNCONFIRMED), instead of absolute URLs.
	ODataRelativeNext bool

	// XSUAA makes the token endpoint as strict as some real tenants are.
	// The zero value is lenient.
	XSUAA XSUAAMode

	// Now is the clock used for token and session expiry. Default time.Now.
	// Tests inject a fake clock to expire tokens without waiting.
	Now func() time.Time

	// Logger receives one debug record per request. Default: discard.
	Logger *slog.Logger
}

// BasicMode says how the token endpoint reads HTTP Basic credentials.
type BasicMode string

// BasicMode values.
const (
	// BasicLenient compares the credentials as sent, then form-decoded.
	// The default.
	BasicLenient BasicMode = ""
	// BasicNoDecode compares them as sent only, like a UAA in its URI
	// encoding compatibility mode: form-encoded Basic (RFC 6749 2.3.1, as
	// golang.org/x/oauth2 sends it) of an ID with "!" or "|" or a secret
	// with "$" or "=" is refused.
	BasicNoDecode BasicMode = "no-decode"
	// BasicDecode always form-decodes them, like UAA since v74: raw Basic of
	// a secret with "+" or "%" is refused.
	BasicDecode BasicMode = "decode"
)

// XSUAAMode makes the token endpoint strict. cpi.md, addendum: XSUAA takes
// only POST with a form body from 2026-06-30; whether it decodes Basic
// credentials is documented nowhere.
type XSUAAMode struct {
	// RejectQuery answers 400 invalid_request to a token request that
	// carries a query string.
	RejectQuery bool
	// Basic is how HTTP Basic credentials are read.
	Basic BasicMode
	// RejectBodyCredentials answers 401 to client_id and client_secret in
	// the form body, as an endpoint that takes HTTP Basic only would.
	RejectBodyCredentials bool
}

// StrictMode is a named strict token endpoint for tests and demos: Apply
// edits a simulator configuration.
type StrictMode struct {
	Name  string
	Apply func(*Config)
}

// StrictModes are the token endpoints a client of real tenants must work
// against with its default settings (issue 13): no query strings, no
// decoding of Basic, strict decoding of Basic with secrets that contain
// "+" and "%", and tokens that live 2 seconds.
func StrictModes() []StrictMode {
	return []StrictMode{
		{"reject-query", func(c *Config) { c.XSUAA.RejectQuery = true }},
		{"basic-no-decode", func(c *Config) { c.XSUAA.Basic = BasicNoDecode }},
		{"basic-decode", func(c *Config) {
			c.XSUAA.Basic = BasicDecode
			if c.RuntimeClientID == "" {
				c.RuntimeClientID = DefaultRuntimeClientID
			}
			if c.APIClientID == "" {
				c.APIClientID = DefaultAPIClientID
			}
			c.RuntimeClientSecret = "rt+secret%2F$="
			c.APIClientSecret = "api+secret%41$="
		}},
		{"short-lived-tokens", func(c *Config) { c.RuntimeTokenTTL, c.APITokenTTL = 2*time.Second, 2*time.Second }},
	}
}

// setDefaults fills in the zero fields.
func (c *Config) setDefaults() {
	if c.RuntimeClientID == "" && c.RuntimeClientSecret == "" {
		c.RuntimeClientID, c.RuntimeClientSecret = DefaultRuntimeClientID, DefaultRuntimeClientSecret
	}
	if c.APIClientID == "" && c.APIClientSecret == "" {
		c.APIClientID, c.APIClientSecret = DefaultAPIClientID, DefaultAPIClientSecret
	}
	if c.RuntimeTokenTTL == 0 {
		c.RuntimeTokenTTL = DefaultRuntimeTokenTTL
	}
	if c.APITokenTTL == 0 {
		c.APITokenTTL = DefaultAPITokenTTL
	}
	if c.MaxBodySize == 0 {
		c.MaxBodySize = DefaultMaxBodySize
	}
	if c.SessionTTL == 0 {
		c.SessionTTL = DefaultSessionTTL
	}
	if c.MaxRecordedCalls == 0 {
		c.MaxRecordedCalls = DefaultMaxRecordedCalls
	}
	if c.MaxRecordedCalls < 0 {
		c.MaxRecordedCalls = 0
	}
	if c.MaxRecordedSpans == 0 {
		c.MaxRecordedSpans = DefaultMaxRecordedSpans
	}
	if c.MaxRecordedSpans < 0 {
		c.MaxRecordedSpans = 0
	}
	if c.BodyReadGap == 0 {
		c.BodyReadGap = DefaultBodyReadGap
	}
	if c.ODataPageSize == 0 {
		c.ODataPageSize = DefaultODataPageSize
	}
	if c.Seed == 0 {
		c.Seed = time.Now().UnixNano()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports every invalid field of c at once. Zero fields that have a
// default are valid.
func (c Config) Validate() error {
	var errs []error
	if (c.RuntimeClientID == "") != (c.RuntimeClientSecret == "") {
		errs = append(errs, errors.New("runtime client id and secret must be set together"))
	}
	if (c.APIClientID == "") != (c.APIClientSecret == "") {
		errs = append(errs, errors.New("api client id and secret must be set together"))
	}
	if c.RuntimeClientID != "" && c.RuntimeClientID == c.APIClientID {
		errs = append(errs, errors.New("runtime and api client ids must differ"))
	}
	if c.RuntimeTokenTTL != 0 && c.RuntimeTokenTTL < 2*time.Second {
		errs = append(errs, fmt.Errorf("runtime token ttl %s is below 2s", c.RuntimeTokenTTL))
	}
	if c.APITokenTTL != 0 && c.APITokenTTL < 2*time.Second {
		errs = append(errs, fmt.Errorf("api token ttl %s is below 2s", c.APITokenTTL))
	}
	if c.MaxBodySize < 0 {
		errs = append(errs, fmt.Errorf("max body size %d is negative", c.MaxBodySize))
	}
	if c.SessionTTL < 0 {
		errs = append(errs, fmt.Errorf("session ttl %s is negative", c.SessionTTL))
	}
	if c.MaxRecordedCalls < -1 {
		errs = append(errs, fmt.Errorf("max recorded calls %d is below -1", c.MaxRecordedCalls))
	}
	if c.ODataPageSize < 0 {
		errs = append(errs, fmt.Errorf("odata page size %d is negative", c.ODataPageSize))
	}
	switch c.XSUAA.Basic {
	case BasicLenient, BasicNoDecode, BasicDecode:
	default:
		errs = append(errs, fmt.Errorf("xsuaa basic mode %q must be empty, %q or %q", c.XSUAA.Basic, BasicNoDecode, BasicDecode))
	}
	if c.BodyReadGap < 0 {
		errs = append(errs, fmt.Errorf("body read gap %s is negative", c.BodyReadGap))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return nil
}
