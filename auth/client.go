package auth

import "context"

// ClientInfo is what the token endpoint needs to know about an authenticated
// client.
type ClientInfo struct {
	// ID is the client ID.
	ID string
	// Grants are the flow IDs the client may call.
	Grants []string
	// Roles are the client's roles; [RoleAdmin] allows the admin scope.
	Roles []string
	// Generation is the client's current token generation, carried by the
	// issued token (see [Issuer.IssueBound]); empty for none.
	Generation string
}

// ClientAuthenticator checks client credentials. It is implemented by the
// catalog (secrets are stored as slow hashes).
type ClientAuthenticator interface {
	// Authenticate returns the client, with ID equal to clientID, if secret
	// is its current secret (or a previous one still within its rotation
	// overlap). For an unknown or
	// disabled client or a wrong secret it returns an error wrapping
	// [ErrInvalidClient]; any other error is an internal failure (answered
	// 500 and not counted against the caller). It must take about the same
	// time for unknown clients as for wrong secrets.
	Authenticate(ctx context.Context, clientID, secret string) (ClientInfo, error)
}
