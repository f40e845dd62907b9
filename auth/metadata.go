package auth

import "encoding/json"

// Paths of the endpoints named in the metadata, relative to the issuer.
const (
	// TokenPath is the token endpoint.
	TokenPath = "/oauth/token"
	// JWKSPath is the JWK Set document.
	JWKSPath = "/.well-known/jwks.json"
	// MetadataPath is the RFC 8414 metadata document.
	MetadataPath = "/.well-known/oauth-authorization-server"
)

// metadata is the RFC 8414 §2 document.
type metadata struct {
	Issuer                            string   `json:"issuer"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	JWKSURI                           string   `json:"jwks_uri"`
	ScopesSupported                   []string `json:"scopes_supported,omitempty"`
	GrantTypesSupported               []string `json:"grant_types_supported"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported"`
}

// MetadataJSON returns the RFC 8414 authorization server metadata for
// issuer (validated like [IssuerConfig.Issuer]).
//
// It names issuer, token_endpoint and jwks_uri, the client_credentials grant,
// the client_secret_basic and client_secret_post authentication methods, and
// the scope "flow:*" (RECOMMENDED scopes_supported; per-flow scopes and
// "admin" exist but are not advertised, which §2 allows). There is no
// authorization endpoint, so authorization_endpoint is omitted (§2), and so
// is response_types_supported: §2 marks it REQUIRED, but this server
// supports no response type and §3.2 requires claims with zero elements to
// be omitted (see RFC errata 7793).
func MetadataJSON(issuer string) ([]byte, error) {
	if err := validateIssuerURL(issuer); err != nil {
		return nil, configError([]error{err})
	}
	return json.Marshal(metadata{
		Issuer:                            issuer,
		TokenEndpoint:                     issuer + TokenPath,
		JWKSURI:                           issuer + JWKSPath,
		ScopesSupported:                   []string{ScopeAllFlows},
		GrantTypesSupported:               []string{"client_credentials"},
		TokenEndpointAuthMethodsSupported: []string{"client_secret_basic", "client_secret_post"},
	})
}
