package testkit

import (
	"context"
	"net"
	"net/netip"
	"sync"
)

// Resolver stands in for DNS in tests: names map to fixed addresses that a
// test may change while the system runs (to rebind a name); unknown names
// do not resolve. It knows "localhost". No test asks real DNS.
type Resolver struct {
	mu sync.Mutex
	m  map[string][]netip.Addr
}

// NewResolver returns a Resolver that knows localhost.
func NewResolver() *Resolver {
	r := &Resolver{m: map[string][]netip.Addr{}}
	r.Set("localhost", "127.0.0.1", "::1")
	return r
}

// Set makes host resolve to addrs (none: not found).
func (r *Resolver) Set(host string, addrs ...string) {
	out := make([]netip.Addr, len(addrs))
	for i, a := range addrs {
		out[i] = netip.MustParseAddr(a)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(out) == 0 {
		delete(r.m, host)
		return
	}
	r.m[host] = out
}

// LookupNetIP implements ssrf.Resolver.
func (r *Resolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if a, ok := r.m[host]; ok {
		return append([]netip.Addr(nil), a...), nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}
