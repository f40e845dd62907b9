// Package odata reads the SAP Cloud Integration OData API v1 (OData V2,
// "verbose" JSON): it owns the decoding of its envelopes, entities, dates
// and error bodies (decode.go, pure and fuzzed) and a paging, retrying
// reader of collections over an authenticated HTTP client (client.go).
package odata
