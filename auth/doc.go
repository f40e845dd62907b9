// Package auth owns identity: the tokens the broker issues to its
// partners, and (in its subpackages) the signing keys every process shares
// (auth/keyring) and the tokens of external identity providers it accepts
// (auth/idp).
//
// It holds the Ed25519 signing keys ([SigningKey]), issues access tokens
// ([Issuer]), verifies them on every request ([Verifier], [BearerToken]),
// publishes the public keys as a JWK Set ([JWKSJSON]) and the RFC 8414
// authorization server metadata ([MetadataJSON]), and serves the RFC 6749
// client-credentials token endpoint ([NewTokenHandler]) with brute-force
// throttling ([FailureLimiter]).
//
// The package is framework-free: the token endpoint is a plain
// [net/http.Handler] that the ingress mounts at POST /oauth/token.
//
// # Tokens
//
// Access tokens are JWTs (RFC 9068 profile, header typ "at+jwt") signed with
// EdDSA (Ed25519). The header carries the key's kid, its RFC 7638 thumbprint.
// Claims: iss (the public URL), aud ("cpibroker"), sub and client_id (the
// client ID), iat, nbf, exp, jti and scope (space separated).
//
// # Scopes
//
// A token's scope is a set of scope tokens:
//
//   - "flow:*" allows every flow the client is granted. Grants are evaluated
//     by the caller at request time, so a grant removed after issuance takes
//     effect at once.
//   - "flow:<id>" allows only flow <id>; the caller must still check that the
//     client holds the grant at request time.
//   - "admin" marks a token usable on the admin API; the caller must still
//     check that the client has the admin role at request time.
//
// A token request without scope receives "flow:*" (plus "admin" for clients
// with the admin role). A requested scope narrows this set; anything outside
// it is refused with invalid_scope. [Principal.AllowsFlow] evaluates only the
// scope, never the grants.
//
// # Lifecycle
//
// Configs are plain structs: zero fields take the documented defaults and
// NewXxx validates them, reporting every problem at once. Nothing in this
// package starts goroutines or does I/O, except [LoadSigningKey] and
// [LoadOrCreateSigningKey], which read and write the key file. All time is
// read through injectable Now functions.
package auth
