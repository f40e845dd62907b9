package auth

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	// DefaultAudience is the aud of broker-issued tokens.
	DefaultAudience = "cpibroker"
	// DefaultTokenTTL is the lifetime of broker-issued tokens.
	DefaultTokenTTL = time.Hour
	// tokenType is the JWT typ header of access tokens (RFC 9068 §2.1).
	tokenType = "at+jwt"
	// generationClaim carries the client's token generation.
	generationClaim = "cgen"
)

// IssuerConfig configures an [Issuer].
type IssuerConfig struct {
	// Issuer is the iss claim: the broker's public URL (--public-url), without
	// a trailing slash, query or fragment. It must be https, except for
	// loopback hosts (local development and demo mode).
	Issuer string
	// Audience is the aud claim. Default "cpibroker".
	Audience string
	// TTL is the token lifetime, at least one second. Default 1h.
	TTL time.Duration
	// Key signs the tokens. Required unless Signer is set.
	Key *SigningKey
	// Signer, when set, returns the key to sign each token with, so the
	// signing key can be rotated while the issuer runs. It takes precedence
	// over Key and must never return nil.
	Signer func() *SigningKey
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

func (c *IssuerConfig) setDefaults() {
	if c.Audience == "" {
		c.Audience = DefaultAudience
	}
	if c.TTL == 0 {
		c.TTL = DefaultTokenTTL
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate reports every problem with the configuration, after defaults.
func (c IssuerConfig) Validate() error {
	c.setDefaults()
	var errs []error
	if err := validateIssuerURL(c.Issuer); err != nil {
		errs = append(errs, err)
	}
	if c.TTL < time.Second {
		errs = append(errs, fmt.Errorf("token TTL %s is below 1s", c.TTL))
	}
	if c.Key == nil && c.Signer == nil {
		errs = append(errs, errors.New("signing key is required"))
	}
	return configError(errs)
}

func configError(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(errs...))
}

// validateIssuerURL checks an issuer identifier against RFC 8414 §2: https,
// no query or fragment. Plain http is accepted for loopback hosts only.
func validateIssuerURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || s == "" {
		return fmt.Errorf("issuer %q is not a URL", s)
	}
	switch {
	case u.Host == "" || u.Opaque != "":
		return fmt.Errorf("issuer %q must be an absolute URL", s)
	case u.User != nil:
		return fmt.Errorf("issuer %q must not contain user info", s)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.ContainsAny(s, "?#"):
		return fmt.Errorf("issuer %q must not have a query or fragment", s)
	case strings.HasSuffix(s, "/"):
		return fmt.Errorf("issuer %q must not end with a slash", s)
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return nil
	default:
		return fmt.Errorf("issuer %q must use https (http only for loopback hosts)", s)
	}
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Token is an issued access token.
type Token struct {
	// Value is the compact JWT. It is a credential: never log it.
	Value string
	// IssuedAt is the iat claim.
	IssuedAt time.Time
	// ExpiresAt is the exp claim.
	ExpiresAt time.Time
	// JTI is the token ID (jti claim), safe to log and audit.
	JTI string
	// Scope is the granted scope.
	Scope []string
}

// Issuer signs access tokens. It is safe for concurrent use.
type Issuer struct {
	cfg IssuerConfig
}

// NewIssuer returns an Issuer for cfg, after defaults and validation.
func NewIssuer(cfg IssuerConfig) (*Issuer, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Issuer{cfg: cfg}, nil
}

// TTL returns the lifetime of the tokens this issuer signs.
func (i *Issuer) TTL() time.Duration { return i.cfg.TTL }

// Issue signs a token for clientID with the given scope tokens. The scope is
// taken as is: deciding what a client may get is the token endpoint's job.
// Times are whole seconds (JWT NumericDate), so ExpiresAt-IssuedAt is the TTL
// truncated to seconds.
func (i *Issuer) Issue(clientID string, scope []string) (Token, error) {
	return i.IssueBound(clientID, "", scope)
}

// IssueBound is Issue for a token bound to one generation of the client:
// a non-empty generation is carried as the "cgen" claim, and the ingress
// accepts the token only while it is the client's current one (it changes
// when the client is re-created or its secret is rotated without overlap).
func (i *Issuer) IssueBound(clientID, generation string, scope []string) (Token, error) {
	if !validID(clientID) {
		return Token{}, fmt.Errorf("issuing token: invalid client ID %q", clientID)
	}
	for _, s := range scope {
		if !validScopeToken(s) {
			return Token{}, fmt.Errorf("issuing token: invalid scope token %q", s)
		}
	}
	iat := time.Unix(i.cfg.Now().Unix(), 0)
	exp := iat.Add(i.cfg.TTL.Truncate(time.Second))
	jti := rand.Text()
	claims := jwt.MapClaims{
		"iss":       i.cfg.Issuer,
		"aud":       i.cfg.Audience,
		"sub":       clientID,
		"client_id": clientID,
		"iat":       iat.Unix(),
		"nbf":       iat.Unix(),
		"exp":       exp.Unix(),
		"jti":       jti,
	}
	if len(scope) > 0 {
		claims["scope"] = strings.Join(scope, " ")
	}
	if generation != "" {
		claims[generationClaim] = generation
	}
	key := i.cfg.Key
	if i.cfg.Signer != nil {
		key = i.cfg.Signer()
	}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	t.Header["typ"] = tokenType
	t.Header["kid"] = key.KID()
	value, err := t.SignedString(key.priv)
	if err != nil {
		return Token{}, fmt.Errorf("signing token: %w", err)
	}
	return Token{
		Value:     value,
		IssuedAt:  iat,
		ExpiresAt: exp,
		JTI:       jti,
		Scope:     append([]string(nil), scope...),
	}, nil
}
