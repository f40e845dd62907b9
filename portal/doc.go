// Package portal is the partner portal at /portal: a partner signs in with
// its client credentials and finds its flows with their generated OpenAPI
// rendered as readable docs, a "try it" form that submits a job and shows
// it finish, its jobs and events, its webhooks with every delivery attempt
// and a resend button, and copy-paste snippets (curl, Python standard
// library, JavaScript) for tokens, submit, polling and verifying webhook
// signatures.
//
// Like the console it is server-rendered (html/template, embedded assets,
// no inline script) and calls the partner API in process with the
// partner's own token (internal/webui): "try it" goes through the same
// submit path, grants and quotas as any API call. The ingress mounts it
// on the partner listener.
package portal
