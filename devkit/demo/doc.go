// Package demo owns `cpibroker serve --demo`: it starts the CPI tenant
// simulator, registers it as provider "demo" with the three demo flows of
// DESIGN 9, creates the demo partner and admin clients, and writes their
// credentials to <data-dir>/demo-credentials.json, reusing them on restart.
package demo
