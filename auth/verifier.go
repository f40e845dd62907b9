package auth

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	// DefaultLeeway is the clock skew tolerated on exp, nbf and iat.
	DefaultLeeway = 30 * time.Second
	// DefaultCacheSize is the default number of cached verifications.
	DefaultCacheSize = 100_000
	// MaxTokenBytes is the longest bearer token Verify looks at; longer ones
	// are refused before any decoding.
	MaxTokenBytes = 8 << 10
)

// VerifierConfig configures a [Verifier].
type VerifierConfig struct {
	// Issuer is the required iss, compared exactly. Required.
	Issuer string
	// Audience is the required aud (a token may list several). Default
	// "cpibroker".
	Audience string
	// Keys resolves the kid header to a public key. Required.
	Keys KeyResolver
	// Leeway is the clock skew tolerated on exp, nbf and iat. Default 30s;
	// must not be negative.
	Leeway time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// CacheSize bounds the cache of successful verifications, keyed by the
	// SHA-256 of the token and kept until the token's exp (plus Leeway).
	// 0 means DefaultCacheSize; a negative value disables the cache. Each
	// entry costs roughly 300–400 bytes.
	CacheSize int
}

func (c *VerifierConfig) setDefaults() {
	if c.Audience == "" {
		c.Audience = DefaultAudience
	}
	if c.Leeway == 0 {
		c.Leeway = DefaultLeeway
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.CacheSize == 0 {
		c.CacheSize = DefaultCacheSize
	}
}

// Validate reports every problem with the configuration, after defaults.
func (c VerifierConfig) Validate() error {
	c.setDefaults()
	var errs []error
	if c.Issuer == "" {
		errs = append(errs, errors.New("verifier issuer is required"))
	}
	if c.Keys == nil {
		errs = append(errs, errors.New("verifier key resolver is required"))
	}
	if c.Leeway < 0 {
		errs = append(errs, fmt.Errorf("leeway %s is negative", c.Leeway))
	}
	return configError(errs)
}

// Verifier checks bearer tokens issued by the broker. It is safe for
// concurrent use.
//
// A token is accepted only if: it is a compact JWS of at most MaxTokenBytes;
// alg is EdDSA (so "none" and HS256/RS256 algorithm confusion are refused);
// typ is "at+jwt"; there is no crit header; kid is present and resolves to a
// key that verifies the signature; iss and aud match; exp is present and not
// passed, nbf and iat are not in the future (each with Leeway); sub is a
// valid client ID.
type Verifier struct {
	cfg    VerifierConfig
	parser *jwt.Parser
	cache  *tokenCache // nil when disabled
}

// NewVerifier returns a Verifier for cfg, after defaults and validation.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	v := &Verifier{
		cfg: cfg,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
			jwt.WithIssuer(cfg.Issuer),
			jwt.WithAudience(cfg.Audience),
			jwt.WithLeeway(cfg.Leeway),
			jwt.WithTimeFunc(cfg.Now),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithStrictDecoding(),
		),
	}
	if cfg.CacheSize > 0 {
		v.cache = newTokenCache(cfg.CacheSize)
	}
	return v, nil
}

// accessClaims are the claims Verify reads.
type accessClaims struct {
	jwt.RegisteredClaims
	Scope string `json:"scope,omitempty"`
	// Generation is the client's token generation (claim "cgen").
	Generation string `json:"cgen,omitempty"`
}

// reason is a short, caller-safe explanation of a refusal.
type reason string

func (r reason) Error() string { return string(r) }

func invalid(r string) error { return fmt.Errorf("%w: %s", ErrInvalidToken, r) }

// Verify checks token and returns its principal. Every failure wraps
// [ErrInvalidToken]. Successful results are cached (see
// [VerifierConfig.CacheSize]); a cached result is returned only while the
// token is unexpired and its key is still resolvable.
func (v *Verifier) Verify(token string) (Principal, error) {
	if token == "" {
		return Principal{}, invalid("empty token")
	}
	if len(token) > MaxTokenBytes {
		return Principal{}, invalid("token too long")
	}
	var key cacheKey
	if v.cache != nil {
		// Hashing through a stack buffer avoids a heap copy of the token.
		var buf [2048]byte
		key = sha256.Sum256(append(buf[:0], token...))
		if e, ok := v.cache.get(&key, v.cfg.Now()); ok {
			if pub, ok := v.cfg.Keys.PublicKey(e.kid); ok && pub.Equal(e.key) {
				return clonePrincipal(e.principal), nil
			}
		}
	}
	e, err := v.verify(token)
	if err != nil {
		return Principal{}, err
	}
	if v.cache != nil {
		v.cache.put(&key, e)
	}
	return clonePrincipal(e.principal), nil
}

func clonePrincipal(p Principal) Principal {
	p.Scope = append([]string(nil), p.Scope...)
	return p
}

// verify does the full, uncached check.
func (v *Verifier) verify(token string) (cacheEntry, error) {
	var (
		claims accessClaims
		kid    string
		pub    ed25519.PublicKey
	)
	keyFunc := func(t *jwt.Token) (any, error) {
		if _, ok := t.Method.(*jwt.SigningMethodEd25519); !ok {
			return nil, reason("algorithm not allowed")
		}
		if typ, _ := t.Header["typ"].(string); !isAccessTokenType(typ) {
			return nil, reason("wrong token type")
		}
		if _, ok := t.Header["crit"]; ok {
			return nil, reason("unsupported critical header")
		}
		kid, _ = t.Header["kid"].(string)
		if kid == "" {
			return nil, reason("missing key ID")
		}
		var ok bool
		if pub, ok = v.cfg.Keys.PublicKey(kid); !ok {
			return nil, reason("unknown key ID")
		}
		return pub, nil
	}
	t, err := v.parser.ParseWithClaims(token, &claims, keyFunc)
	if err != nil {
		if onlyExpired(err) {
			return cacheEntry{}, fmt.Errorf("%w: %w", ErrInvalidToken, ErrTokenExpired)
		}
		return cacheEntry{}, invalid(classify(t, err))
	}
	if !validID(claims.Subject) {
		return cacheEntry{}, invalid("missing or invalid subject")
	}
	exp := claims.ExpiresAt.Time
	return cacheEntry{
		principal: Principal{
			ClientID:   claims.Subject,
			Scope:      splitScope(claims.Scope),
			ExpiresAt:  exp,
			TokenID:    claims.ID,
			Generation: claims.Generation,
		},
		until: exp.Add(v.cfg.Leeway),
		kid:   kid,
		key:   pub,
	}, nil
}

// isAccessTokenType accepts the RFC 9068 typ, with or without the
// "application/" prefix (RFC 7515 §4.1.9), case-insensitively.
func isAccessTokenType(typ string) bool {
	typ, _ = strings.CutPrefix(strings.ToLower(typ), "application/")
	return typ == tokenType
}

// onlyExpired is true when the signature held and the expiry is the one
// claim that failed (the parser checks claims after the signature).
func onlyExpired(err error) bool {
	if !errors.Is(err, jwt.ErrTokenExpired) {
		return false
	}
	for _, other := range []error{jwt.ErrTokenSignatureInvalid, jwt.ErrTokenUnverifiable, jwt.ErrTokenMalformed,
		jwt.ErrTokenInvalidIssuer, jwt.ErrTokenInvalidAudience, jwt.ErrTokenNotValidYet, jwt.ErrTokenUsedBeforeIssued,
		jwt.ErrTokenRequiredClaimMissing, jwt.ErrTokenInvalidSubject, jwt.ErrTokenInvalidId} {
		if errors.Is(err, other) {
			return false
		}
	}
	var r reason
	return !errors.As(err, &r)
}

// classify maps a parse error to a short reason.
func classify(t *jwt.Token, err error) string {
	var r reason
	switch {
	case errors.As(err, &r):
		return string(r)
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "malformed token"
	case t != nil && (t.Method == nil || t.Method.Alg() != jwt.SigningMethodEdDSA.Alg()):
		return "algorithm not allowed"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return "bad signature"
	case errors.Is(err, jwt.ErrTokenExpired):
		return "token expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "token not valid yet"
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "token issued in the future"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "wrong issuer"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "wrong audience"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "missing required claim"
	default:
		return "unverifiable token"
	}
}
