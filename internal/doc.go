// Package internal is the basement: shared infrastructure that imports
// nothing outside internal/ and proto/. NATS and its layout (natsx), the
// work-queue engine under jobs and deliveries (workqueue), the DLQ format
// (dlq), the audit stream (audit), leases, the CPI client and its token
// source (cpiclient, cpitoken), telemetry, metrics, health, the SSRF guard,
// the clock, the data-dir lock and what the web UIs share (webui).
package internal
