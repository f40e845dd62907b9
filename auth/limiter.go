package auth

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"
)

// FailureLimiterConfig configures a [FailureLimiter]. Zero fields take the
// defaults.
type FailureLimiterConfig struct {
	// MaxFailures is how many failed authentications within Window lock a
	// key (one client ID, or one source address). Default 10.
	MaxFailures int
	// Window is the counting window, starting at a key's first failure.
	// Default 1m.
	Window time.Duration
	// Lockout is how long a locked key is refused. Default 1m.
	Lockout time.Duration
	// TrustFor is how long a successful login from an address exempts that
	// address from its client ID's lockout, so an attack on a client ID from
	// elsewhere does not lock out the partner's known addresses. Default 24h.
	TrustFor time.Duration
	// MaxKeys bounds each of the three tables (client IDs, addresses,
	// trusted pairs). When a table is full, a stale entry is evicted, or
	// else an arbitrary one. Default 100000.
	MaxKeys int
}

func (c *FailureLimiterConfig) setDefaults() {
	if c.MaxFailures == 0 {
		c.MaxFailures = 10
	}
	if c.Window == 0 {
		c.Window = time.Minute
	}
	if c.Lockout == 0 {
		c.Lockout = time.Minute
	}
	if c.TrustFor == 0 {
		c.TrustFor = 24 * time.Hour
	}
	if c.MaxKeys == 0 {
		c.MaxKeys = 100_000
	}
}

// Validate reports every problem with the configuration, after defaults.
func (c FailureLimiterConfig) Validate() error {
	c.setDefaults()
	var errs []error
	if c.MaxFailures < 1 {
		errs = append(errs, fmt.Errorf("max failures %d is below 1", c.MaxFailures))
	}
	if c.Window < 0 || c.Lockout < 0 || c.TrustFor < 0 {
		errs = append(errs, fmt.Errorf("window %s, lockout %s and trust period %s must not be negative",
			c.Window, c.Lockout, c.TrustFor))
	}
	if c.MaxKeys < 1 {
		errs = append(errs, fmt.Errorf("max keys %d is below 1", c.MaxKeys))
	}
	return configError(errs)
}

// FailureLimiter throttles credential guessing at the token endpoint. It
// counts failed authentications per client ID and per source address, in
// memory, and locks a key for Lockout once it reaches MaxFailures within
// Window. A locked address is refused for every client; a locked client ID
// is refused from every address except those it recently logged in from
// successfully, so valid logins from elsewhere are not slowed.
//
// Addresses are grouped: IPv4 by address, IPv6 by /64 (one subscriber).
// Time is passed in by the caller. It is safe for concurrent use.
type FailureLimiter struct {
	cfg FailureLimiterConfig

	mu      sync.Mutex
	clients map[string]failureRecord
	addrs   map[string]failureRecord
	trusted map[trustKey]trustRecord
}

type failureRecord struct {
	count        int
	windowEnd    time.Time
	blockedUntil time.Time
}

func (r failureRecord) stale(now time.Time) bool {
	return !now.Before(r.windowEnd) && !now.Before(r.blockedUntil)
}

type trustKey struct{ clientID, addr string }

type trustRecord struct{ until time.Time }

func (r trustRecord) stale(now time.Time) bool { return !now.Before(r.until) }

// NewFailureLimiter returns a limiter for cfg, after defaults and validation.
func NewFailureLimiter(cfg FailureLimiterConfig) (*FailureLimiter, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &FailureLimiter{
		cfg:     cfg,
		clients: make(map[string]failureRecord),
		addrs:   make(map[string]failureRecord),
		trusted: make(map[trustKey]trustRecord),
	}, nil
}

// Allow reports whether an authentication attempt for clientID from
// remoteAddr (host or host:port, as in http.Request.RemoteAddr) may proceed
// at now. When it may not, retryAfter is the remaining lockout. clientID may
// be empty when unknown.
func (l *FailureLimiter) Allow(clientID, remoteAddr string, now time.Time) (retryAfter time.Duration, ok bool) {
	addr := addrKey(remoteAddr)
	l.mu.Lock()
	defer l.mu.Unlock()
	if r, ok := l.addrs[addr]; ok && now.Before(r.blockedUntil) {
		retryAfter = r.blockedUntil.Sub(now)
	}
	if r, ok := l.clients[clientID]; ok && clientID != "" && now.Before(r.blockedUntil) &&
		!l.isTrusted(clientID, addr, now) {
		retryAfter = max(retryAfter, r.blockedUntil.Sub(now))
	}
	return retryAfter, retryAfter == 0
}

// Failure records a failed authentication for clientID (may be empty) from
// remoteAddr at now.
func (l *FailureLimiter) Failure(clientID, remoteAddr string, now time.Time) {
	addr := addrKey(remoteAddr)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.record(l.addrs, addr, now)
	if clientID != "" {
		l.record(l.clients, clientID, now)
	}
}

// Success records a successful authentication, which makes remoteAddr a
// trusted address of clientID for TrustFor. It does not reset any failure
// count, so a valid credential cannot be used to buy more guesses.
func (l *FailureLimiter) Success(clientID, remoteAddr string, now time.Time) {
	k := trustKey{clientID: clientID, addr: addrKey(remoteAddr)}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.trusted[k]; !ok && len(l.trusted) >= l.cfg.MaxKeys {
		evictOne(l.trusted, now)
	}
	l.trusted[k] = trustRecord{until: now.Add(l.cfg.TrustFor)}
}

func (l *FailureLimiter) isTrusted(clientID, addr string, now time.Time) bool {
	t, ok := l.trusted[trustKey{clientID: clientID, addr: addr}]
	return ok && now.Before(t.until)
}

func (l *FailureLimiter) record(m map[string]failureRecord, key string, now time.Time) {
	r, ok := m[key]
	if !ok && len(m) >= l.cfg.MaxKeys {
		evictOne(m, now)
	}
	if !now.Before(r.windowEnd) {
		r.count, r.windowEnd = 0, now.Add(l.cfg.Window)
	}
	r.count++
	if r.count >= l.cfg.MaxFailures {
		r.count, r.windowEnd = 0, now
		r.blockedUntil = now.Add(l.cfg.Lockout)
	}
	m[key] = r
}

// evictScan is how many entries evictOne looks at.
const evictScan = 64

// evictOne deletes the stale entries among the first evictScan entries of m
// (Go map iteration starts at a random place), or, when none is stale, the
// first one seen. It costs O(evictScan), independent of the size of m.
func evictOne[K comparable, V interface{ stale(time.Time) bool }](m map[K]V, now time.Time) {
	var (
		first    K
		seen     int
		released bool
	)
	for k, v := range m {
		if seen == 0 {
			first = k
		}
		if v.stale(now) {
			delete(m, k)
			released = true
		}
		if seen++; seen == evictScan {
			break
		}
	}
	if !released && seen > 0 {
		delete(m, first)
	}
}

// addrKey normalizes a remote address to the key it is counted under: the IP
// without port and zone, IPv4-mapped IPv6 unmapped, IPv6 reduced to its /64.
// Anything unparseable is used as is.
func addrKey(remoteAddr string) string {
	host := remoteAddr
	if h, _, err := net.SplitHostPort(remoteAddr); err == nil {
		host = h
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.WithZone("").Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}
