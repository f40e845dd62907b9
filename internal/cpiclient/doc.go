// Package cpiclient calls the integration flows of an SAP Cloud Integration
// (CPI) runtime exactly the way the dispatcher calls a real tenant (DESIGN 5,
// "Invocation"; wire facts in ../shared/reference/cpi.md):
//
//   - always POST to the flow URL (plus the query), with Content-Type,
//     SAP_ApplicationID and Idempotency-Key, the whole call bounded by the
//     flow's timeout;
//   - OAuth 2.0 client credentials against the provider's XSUAA token URL
//     (golang.org/x/oauth2/clientcredentials, credentials in HTTP Basic),
//     one token cached per Client, refreshed TokenRefreshSkew before expiry,
//     fetched once for all concurrent callers, and dropped and refetched once
//     when the flow answers 401; or HTTP Basic with the key's client ID and
//     secret when no token URL is configured; or no authentication;
//   - CSRF protection when the provider has it: per flow URL, a token and the
//     session cookies, fetched with GET and "X-CSRF-Token: Fetch" before the
//     first POST and refetched once when the flow answers 403.
//
// A CPI answer, whatever its status, is a [Response], not an error: the
// caller classifies it. Errors are transport failures, [ErrTimeout],
// [ErrResponseTooLarge] and [ErrTokenFetch].
//
// A [Client] serves one provider (one set of credentials); it is safe for
// concurrent use and holds no goroutines. Lifecycle: [New] → [Client.Invoke]
// any number of times → [Client.CloseIdleConnections] when the provider goes.
package cpiclient
