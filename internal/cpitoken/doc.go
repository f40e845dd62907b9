// Package cpitoken fetches OAuth 2.0 client-credentials tokens from the
// XSUAA token endpoint of a CPI tenant. It is the one token source of
// everything that talks to a tenant: the dispatcher's iFlow calls, discovery
// and Test Connection.
//
// Requests are always POST with a form body (grant_type never travels in
// the query string). How the client credentials travel is the provider's
// token_auth setting (see [Auth]): in the form body by default, as SAP's own
// security library does; form-encoded HTTP Basic (RFC 6749 2.3.1); raw HTTP
// Basic; or auto, which tries these in that order once per token URL and
// remembers what worked.
package cpitoken
