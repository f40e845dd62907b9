package ssrf

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// ErrRefused marks an address, host or URL the guard does not let through.
var ErrRefused = errors.New("address refused")

// Resolver looks up a host's addresses; *net.Resolver implements it.
// Tests inject a static one so no real DNS is queried.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Config configures a Guard.
type Config struct {
	// AllowPrivate lets loopback, private (RFC 1918, unique local), CGNAT
	// and IPv4-in-IPv6 addresses through (callbacks.allow_private; demo
	// mode and tests set it). Metadata, link-local and the other always
	// refused addresses stay refused.
	AllowPrivate bool
	// Resolver resolves host names. Default net.DefaultResolver.
	Resolver Resolver
	// LookupTimeout bounds a registration-time lookup. Default 2s.
	LookupTimeout time.Duration
	// DialTimeout bounds one TCP connect. Default 10s.
	DialTimeout time.Duration
}

func (c *Config) setDefaults() {
	if c.Resolver == nil {
		c.Resolver = net.DefaultResolver
	}
	if c.LookupTimeout == 0 {
		c.LookupTimeout = 2 * time.Second
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = 10 * time.Second
	}
}

// Validate reports impossible settings.
func (c *Config) Validate() error {
	if c.LookupTimeout < 0 || c.DialTimeout < 0 {
		return errors.New("ssrf: timeouts must not be negative")
	}
	return nil
}

// Guard decides which addresses outbound callback requests may reach.
// It is safe for concurrent use.
type Guard struct {
	cfg    Config
	dialer net.Dialer
}

// New returns a Guard.
func New(cfg Config) (*Guard, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	g := &Guard{cfg: cfg}
	g.dialer = net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second, Control: g.Control}
	return g, nil
}

// AllowPrivate reports whether private ranges are allowed.
func (g *Guard) AllowPrivate() bool { return g.cfg.AllowPrivate }

// CheckAddr returns nil when a may be dialled, else an error wrapping
// ErrRefused that says why.
func (g *Guard) CheckAddr(a netip.Addr) error {
	v, why := classify(a)
	if v == allowed || (v == private && g.cfg.AllowPrivate) {
		return nil
	}
	if v == private {
		why += " (private addresses need callbacks.allow_private)"
	}
	return fmt.Errorf("%w: %s is a %s", ErrRefused, a.WithZone(""), why)
}

// CheckURL refuses an http(s) URL, or a callback prefix, whose host is a
// refused address or resolves to one. A host that does not resolve now is
// accepted: it is checked again at every dial.
func (g *Guard) CheckURL(ctx context.Context, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%w: %q is not an absolute http(s) URL", ErrRefused, raw)
	}
	host := u.Hostname()
	if host == "" {
		return fmt.Errorf("%w: %q has no host", ErrRefused, raw)
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return g.CheckAddr(a)
	}
	if strings.HasSuffix(host, ".") && !strings.HasSuffix(host, "..") {
		host = strings.TrimSuffix(host, ".")
	}
	ctx, cancel := context.WithTimeout(ctx, g.cfg.LookupTimeout)
	defer cancel()
	addrs, err := g.cfg.Resolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		if err := g.CheckAddr(a); err != nil {
			return fmt.Errorf("%s resolves to a refused address: %w", host, err)
		}
	}
	return nil
}

// DialContext resolves the host of addr and connects to the first allowed
// address that answers; refused addresses are never dialled. Use it as an
// http.Transport's DialContext. The Control hook checks the connected
// address once more.
func (g *Guard) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("ssrf: dial %s: %w", addr, err)
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else if addrs, err = g.cfg.Resolver.LookupNetIP(ctx, "ip", host); err != nil {
		return nil, fmt.Errorf("ssrf: resolve %s: %w", host, err)
	}
	var errs []error
	for _, a := range addrs {
		if err := g.CheckAddr(a); err != nil {
			errs = append(errs, err)
			continue
		}
		conn, err := g.dialer.DialContext(ctx, network, net.JoinHostPort(a.WithZone("").String(), port))
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("ssrf: %s has no addresses", host)
	}
	return nil, fmt.Errorf("ssrf: dial %s: %w", host, errors.Join(errs...))
}

// Control is a net.Dialer Control hook: it refuses to connect a socket to
// a refused address, whatever resolved it.
func (g *Guard) Control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot parse dial address %q", ErrRefused, address)
	}
	return g.CheckAddr(ap.Addr())
}
