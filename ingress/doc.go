// Package ingress owns cpibroker's HTTP API: the OAuth 2.0 token endpoint,
// the partner API (submit, read, wait on, cancel jobs; results), the admin
// API, and the middleware around them (authentication, tracing, problem+json
// errors). It is the only package that imports Gin.
package ingress
