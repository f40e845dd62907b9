package auth

import "errors"

var (
	// ErrInvalidToken reports a bearer token that is malformed, not signed by
	// a known key, expired, or not meant for this broker. Every error returned
	// by [Verifier.Verify] wraps it; the wrapped message gives a short reason
	// that is safe to show to the caller (it never contains the token).
	ErrInvalidToken = errors.New("invalid token")

	// ErrNoToken reports a request that carries no bearer token at all
	// (RFC 6750 §3.1: answer 401 without an error code).
	ErrNoToken = errors.New("no bearer token")

	// ErrTokenExpired reports a token of this broker, correctly signed,
	// whose only fault is its expiry; [Verifier.Verify] wraps it together
	// with [ErrInvalidToken]. A caller may be told: it discloses nothing
	// the token's holder does not know.
	ErrTokenExpired = errors.New("token expired")

	// ErrInvalidClient is returned by a [ClientAuthenticator] for an unknown
	// or disabled client or a wrong secret. The token endpoint answers it with
	// 401 invalid_client and counts it as a failed attempt.
	ErrInvalidClient = errors.New("invalid client")

	// ErrInvalidConfig wraps every configuration error reported by the
	// Validate methods and constructors of this package.
	ErrInvalidConfig = errors.New("invalid auth config")
)
