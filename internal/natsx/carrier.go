package natsx

import "github.com/nats-io/nats.go"

// HeaderCarrier adapts NATS message headers to the OpenTelemetry
// TextMapCarrier interface, so traceparent travels with a job. NATS headers
// are case-sensitive and stored with the message, so the W3C lowercase keys
// survive redelivery unchanged.
type HeaderCarrier nats.Header

// Get returns the first value of key.
func (c HeaderCarrier) Get(key string) string { return nats.Header(c).Get(key) }

// Set replaces key's values with value.
func (c HeaderCarrier) Set(key, value string) { nats.Header(c).Set(key, value) }

// Keys lists the header names.
func (c HeaderCarrier) Keys() []string {
	ks := make([]string, 0, len(c))
	for k := range c {
		ks = append(ks, k)
	}
	return ks
}
