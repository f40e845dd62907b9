// Package console is the operator console at /console: overview with
// charts of the last hour, providers (health, Test Connection, Discover),
// flows (enable, disable, policy), clients (create, grants, quotas,
// webhooks, rotate, disable, delete), jobs (search, job page with its
// callback deliveries and trace link), DLQ (filter, inspect, replay with
// progress), breakers (state, reset) and audit.
//
// It is server-rendered HTML (html/template, assets embedded in the
// binary, no inline script) and signs in with an admin client's
// credentials. Every read and change is a call to the admin API in
// process (internal/webui), so the console validates, authorizes and
// audits exactly as the API does. The ingress mounts it on the admin
// listener when there is one, else on the partner listener.
package console
