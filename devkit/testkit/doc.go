// Package testkit starts real systems for tests: an embedded JetStream
// server in a temporary directory, the CPI simulator on loopback, and the
// whole broker wired with demo flows and clients, plus a small partner
// HTTP client. Nothing in it is a mock.
package testkit
