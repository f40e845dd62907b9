package idp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

// ErrInvalidToken wraps every verification failure.
var ErrInvalidToken = errors.New("invalid external token")

// DefaultAlgorithms are the algorithms accepted when none are configured.
func DefaultAlgorithms() []string {
	return []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
}

// Config configures one external identity provider.
type Config struct {
	// Name identifies the provider in logs and audit (e.g. "xsuaa").
	Name string `json:"name"`
	// Issuer is the required iss, compared exactly. Required.
	Issuer string `json:"issuer"`
	// Audience is the required aud (one of the token's audiences). Required.
	Audience string `json:"audience"`
	// JWKSURL is where the provider publishes its keys. Required; https
	// except for loopback hosts.
	JWKSURL string `json:"jwks_url"`
	// ClientClaim names the claim holding the client's name at the
	// provider: "client_id" (XSUAA, Keycloak), "azp", "appid" or "azp"
	// (Entra v1/v2). Default "client_id".
	ClientClaim string `json:"client_claim"`
	// Algorithms are the accepted signature algorithms; asymmetric only.
	// Default DefaultAlgorithms().
	Algorithms []string `json:"algorithms,omitempty"`
	// Leeway is the clock skew tolerated on exp/nbf/iat. Default 30s.
	Leeway time.Duration `json:"-"`
	// RefreshInterval is the periodic JWKS refresh. Default 1h.
	RefreshInterval time.Duration `json:"-"`
	// RefreshUnknownKIDEvery is the least time between two refreshes
	// triggered by an unknown kid. Default 10s.
	RefreshUnknownKIDEvery time.Duration `json:"-"`
	// HTTPClient fetches the JWKS. Default: 10s timeout.
	HTTPClient *http.Client `json:"-"`
	// Now is the clock. Default time.Now.
	Now func() time.Time `json:"-"`
	// Logger; default discards.
	Logger *slog.Logger `json:"-"`
}

func (c *Config) setDefaults() {
	if c.ClientClaim == "" {
		c.ClientClaim = "client_id"
	}
	if len(c.Algorithms) == 0 {
		c.Algorithms = DefaultAlgorithms()
	}
	if c.Leeway == 0 {
		c.Leeway = 30 * time.Second
	}
	if c.RefreshInterval == 0 {
		c.RefreshInterval = time.Hour
	}
	if c.RefreshUnknownKIDEvery == 0 {
		c.RefreshUnknownKIDEvery = 10 * time.Second
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Name == "" {
		c.Name = c.Issuer
	}
}

// Validate reports every problem of the configuration, after defaults.
func (c Config) Validate() error {
	c.setDefaults()
	var errs []error
	if c.Issuer == "" {
		errs = append(errs, errors.New("idp issuer is required"))
	}
	if c.Audience == "" {
		errs = append(errs, errors.New("idp audience is required"))
	}
	if u, err := url.Parse(c.JWKSURL); err != nil || u.Host == "" ||
		(u.Scheme != "https" && !(u.Scheme == "http" && loopback(u.Hostname()))) {
		errs = append(errs, fmt.Errorf("idp jwks url %q must be https (http only for loopback)", c.JWKSURL))
	}
	for _, a := range c.Algorithms {
		if m := jwt.GetSigningMethod(a); m == nil || strings.HasPrefix(a, "HS") || a == "none" {
			errs = append(errs, fmt.Errorf("idp algorithm %q is not an asymmetric JWS algorithm", a))
		}
	}
	return errors.Join(errs...)
}

func loopback(h string) bool {
	return h == "localhost" || h == "127.0.0.1" || h == "::1"
}

// Provider verifies tokens of one external identity provider. Safe for
// concurrent use.
type Provider struct {
	cfg    Config
	keys   keyfunc.Keyfunc
	parser *jwt.Parser
}

// New returns a provider and starts the background JWKS refresh, which
// runs until ctx ends. The first fetch happens now; a failure is logged,
// not returned, so the broker starts while the IdP is down (its tokens are
// refused until the keys can be fetched).
func New(ctx context.Context, cfg Config) (*Provider, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger.With("idp", cfg.Name)
	kf, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{cfg.JWKSURL}, keyfunc.Override{
		Client:            cfg.HTTPClient,
		RefreshInterval:   cfg.RefreshInterval,
		RefreshUnknownKID: rate.NewLimiter(rate.Every(cfg.RefreshUnknownKIDEvery), 1),
		// Never queue behind the limiter: a burst of forged kids must not
		// hold requests; a refused token just fails.
		RateLimitWaitMax: time.Millisecond,
		RefreshErrorHandlerFunc: func(u string) func(context.Context, error) {
			return func(_ context.Context, err error) { log.Warn("idp: jwks refresh failed", "url", u, "err", err) }
		},
	})
	if err != nil {
		return nil, fmt.Errorf("idp %s: %w", cfg.Name, err)
	}
	return &Provider{
		cfg:  cfg,
		keys: kf,
		parser: jwt.NewParser(
			jwt.WithValidMethods(cfg.Algorithms),
			jwt.WithIssuer(cfg.Issuer),
			jwt.WithAudience(cfg.Audience),
			jwt.WithLeeway(cfg.Leeway),
			jwt.WithTimeFunc(cfg.Now),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
		),
	}, nil
}

// Name is the configured name.
func (p *Provider) Name() string { return p.cfg.Name }

// Issuer is the configured issuer.
func (p *Provider) Issuer() string { return p.cfg.Issuer }

// Identity is what a verified external token says.
type Identity struct {
	// Client is the value of the client claim.
	Client string
	// TokenID is the jti, when present.
	TokenID string
	// ExpiresAt is exp.
	ExpiresAt time.Time
}

// Verify checks token's signature (by its kid, against the provider's
// JWK Set), algorithm, iss, aud, exp, nbf and iat, and returns the client
// claim. Every error wraps ErrInvalidToken.
func (p *Provider) Verify(ctx context.Context, token string) (Identity, error) {
	claims := jwt.MapClaims{}
	kf := p.keys.KeyfuncCtx(ctx)
	t, err := p.parser.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		if kid, _ := t.Header["kid"].(string); kid == "" {
			return nil, errors.New("missing kid")
		}
		if _, ok := t.Header["crit"]; ok {
			return nil, errors.New("unsupported critical header")
		}
		return kf(t)
	})
	if err != nil || !t.Valid {
		return Identity{}, fmt.Errorf("%w: %s", ErrInvalidToken, reason(err))
	}
	client, _ := claims[p.cfg.ClientClaim].(string)
	if client == "" {
		return Identity{}, fmt.Errorf("%w: no %s claim", ErrInvalidToken, p.cfg.ClientClaim)
	}
	id := Identity{Client: client}
	id.TokenID, _ = claims["jti"].(string)
	if exp, err := claims.GetExpirationTime(); err == nil && exp != nil {
		id.ExpiresAt = exp.Time
	}
	return id, nil
}

func reason(err error) string {
	switch {
	case err == nil:
		return "invalid"
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "malformed token"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return "bad signature or algorithm"
	case errors.Is(err, jwt.ErrTokenExpired):
		return "token expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "token not valid yet"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "wrong issuer"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "wrong audience"
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return "unknown key"
	}
	return "unverifiable token"
}

// PeekIssuer reads the unverified iss claim of a compact JWT, for routing a
// token to its provider. It does not verify anything.
func PeekIssuer(token string) string {
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(token, claims); err != nil {
		return ""
	}
	iss, _ := claims["iss"].(string)
	return iss
}
