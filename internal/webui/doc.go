// Package webui holds what the operator console (package console) and the
// partner portal (package portal) share: sessions and their cookie, CSRF
// tokens, security headers (a CSP without inline scripts), in-process calls
// to the broker's own HTTP API, template helpers, inline-SVG charts and the
// embedded stylesheet and script.
//
// The pages never re-implement the API: every read and every change is a
// request to the same http.Handler that serves /v1 and /admin/v1, made in
// process with the signed-in client's access token. Validation, grants,
// roles, audit and the submit path are therefore exactly the API's.
// Sign-in is POST /oauth/token with the client's credentials; the session
// holds the token server-side (memory, bounded) and ends with it.
package webui
