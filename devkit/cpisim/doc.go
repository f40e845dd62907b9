// Package cpisim is an in-process simulator of one SAP Cloud Integration (CPI)
// tenant on Cloud Foundry. It owns everything a CPI tenant shows on the wire
// to a caller of integration flows, following ../shared/reference/cpi.md:
//
//   - the XSUAA token endpoint, POST /oauth/token (client credentials, two
//     service-key plans kept apart: "integration-flow" for the runtime and
//     "api" for the OData API);
//   - the runtime, /http/<address>: case-insensitive addresses with a trailing
//     "/*" wildcard, OAuth or Basic authentication, per-iFlow CSRF protection
//     with session cookies, the body-size limit, CPI's error bodies and the
//     SAP_MessageProcessingLogID response header;
//   - SOAP and OData sender endpoints under /cxf and /gw/odata ([IFlow].Protocol);
//   - the OData API v1, /api/v1 (see odata.go): ServiceEndpoints with
//     EntryPoints and IntegrationRuntimeArtifacts in V2 envelopes, "__next"
//     paging, both date forms, api-plan credentials only, injected 429s;
//   - a fault-injection and deployment admin API, /sim/v1 (see admin.go),
//     which is unauthenticated and therefore answers loopback callers only.
//
// Everything is served from one host and one [http.Handler]; a real tenant
// splits the token server, the runtime ("-rt") host and the API host, which
// callers only see as three base URLs.
//
// Lifecycle: [New] validates the [Config] and has no side effects;
// [Sim.Deploy] adds iFlows (before or while serving); [Sim.Start] listens
// and serves in the background, or [Sim.Handler] is mounted by the caller
// (httptest); [Sim.Close] stops serving and releases waiting requests.
// All methods are safe for concurrent use.
//
// Where cpi.md marks a fact UNCONFIRMED, the simulator picks the likely form
// and says so in the doc comment of the code that produces it.
package cpisim
