// Package discovery keeps the flows of every provider in step with what the
// provider serves (DESIGN 4): for a "cpi" provider it reads the tenant's
// OData API (ServiceEndpoints with EntryPoints, IntegrationRuntimeArtifacts)
// and turns every HTTP-callable entry point of a started artifact into a
// flow; for a "http" provider the declared flows play that part. It names
// new flows (catalog.NewFlowID), keeps their IDs stable (the flow record
// is the persisted (provider, artifact, address) → ID mapping), starts
// them disabled unless the provider auto-enables, marks flows that are no
// longer deployed unavailable and brings them back with their old status
// and policy. Flows without an artifact_id (written by hand, e.g. in a
// --config seed) are not managed by discovery. It also answers Test
// Connection.
//
// One discovery per provider runs at a time across every process: each run
// holds the KV lease "discovery.<provider>". The outcome of the last run is
// kept in the catalog bucket under "discovery.<provider>", which also tells
// every process when the next periodic run is due.
package discovery
