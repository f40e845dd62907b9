// Package idp verifies access tokens issued by external identity providers
// (SAP XSUAA, Keycloak, Microsoft Entra ID) so partners can call the broker
// with the tokens they already have (DESIGN 2.1).
//
// A provider is configured with its issuer, the audience the broker
// requires, the URL of its JWK Set and the claim that names the client.
// The JWK Set is fetched, cached and refreshed periodically by
// github.com/MicahParks/keyfunc/v3; a token with an unknown kid triggers an
// immediate (rate-limited) refresh, which picks up a key rotation at the
// IdP without waiting for the next periodic refresh.
//
// Only asymmetric algorithms are accepted (RS256/384/512, PS256/384/512,
// ES256/384/512, EdDSA), so "none" and HS256 signed with a public key are
// refused whatever the JWK Set holds.
package idp
