// Package metrics owns cpibroker's measurements (DESIGN 8): the OpenTelemetry
// instruments every component records into, the Prometheus exposition of
// them at /metrics (its own registry, never the global default), and the
// cached backlog sampler that turns JetStream consumer counts into a gauge
// without a JetStream request per consumer per scrape.
//
// Labels are bounded: client and flow IDs (bounded by the catalog), job
// statuses, HTTP status classes and fixed outcome names. Job IDs never
// become labels; follow a job by its trace instead.
package metrics
