package ssrf

import "net/netip"

// verdict is how an address is treated.
type verdict int

const (
	// allowed: a public unicast address.
	allowed verdict = iota
	// private: refused unless Config.AllowPrivate.
	private
	// forbidden: refused always.
	forbidden
)

// metadata are the cloud instance metadata and platform endpoints: the
// IMDS of AWS, GCP, Azure, OpenStack, DigitalOcean and others
// (169.254.169.254) and its IPv6 forms on AWS (fd00:ec2::254) and GCP
// (fd20:ce::254); the AWS ECS task and EKS Pod Identity agents
// (169.254.170.2, 169.254.170.23, fd00:ec2::23); Tencent (169.254.0.23);
// Azure's WireServer (168.63.129.16); Alibaba (100.100.100.200); Oracle
// Cloud (192.0.0.192). The link-local ones are refused as link-local
// anyway; they are listed so the reason names them.
var metadata = []netip.Addr{
	netip.MustParseAddr("169.254.169.254"),
	netip.MustParseAddr("fd00:ec2::254"),
	netip.MustParseAddr("fd20:ce::254"),
	netip.MustParseAddr("169.254.170.2"),
	netip.MustParseAddr("169.254.170.23"),
	netip.MustParseAddr("fd00:ec2::23"),
	netip.MustParseAddr("169.254.0.23"),
	netip.MustParseAddr("168.63.129.16"),
	netip.MustParseAddr("100.100.100.200"),
	netip.MustParseAddr("192.0.0.192"),
}

// prefix is a range with the reason it is refused.
type prefix struct {
	p      netip.Prefix
	v      verdict
	reason string
}

var ranges = []prefix{
	{netip.MustParsePrefix("0.0.0.0/8"), forbidden, "this-network address (0.0.0.0/8)"},
	{netip.MustParsePrefix("255.255.255.255/32"), forbidden, "broadcast address"},
	{netip.MustParsePrefix("240.0.0.0/4"), forbidden, "reserved address (240.0.0.0/4)"},
	{netip.MustParsePrefix("100.64.0.0/10"), private, "shared address space (CGNAT, 100.64.0.0/10)"},
	{netip.MustParsePrefix("192.0.0.0/24"), private, "IETF protocol assignment (192.0.0.0/24)"},
	{netip.MustParsePrefix("198.18.0.0/15"), private, "benchmarking address (198.18.0.0/15)"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), private, "local-use NAT64 address (64:ff9b:1::/48)"},
	{netip.MustParsePrefix("fec0::/10"), forbidden, "site-local address (fec0::/10, deprecated)"},
	{netip.MustParsePrefix("2001::/32"), private, "Teredo address (2001::/32)"},
}

var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
	// compat is the deprecated IPv4-compatible form ::a.b.c.d (RFC 4291
	// 2.5.5.1); :: and ::1 inside it are handled before.
	compat = netip.MustParsePrefix("::/96")
	// siit is the IPv4-translated form ::ffff:0:a.b.c.d of SIIT (RFC 2765).
	siit = netip.MustParsePrefix("::ffff:0:0:0/96")
)

// classify decides how a is treated and why.
func classify(a netip.Addr) (verdict, string) {
	a = a.WithZone("")
	switch {
	case !a.IsValid():
		return forbidden, "invalid address"
	case a.Is4In6():
		return embedded(a.Unmap(), "IPv4-mapped IPv6 address (::ffff:0:0/96)")
	case a.IsUnspecified():
		return forbidden, "unspecified address"
	case a.IsLoopback():
		return private, "loopback address"
	case compat.Contains(a):
		b := a.As16()
		return embedded(netip.AddrFrom4([4]byte(b[12:16])), "IPv4-compatible IPv6 address (::a.b.c.d)")
	case siit.Contains(a):
		b := a.As16()
		return embedded(netip.AddrFrom4([4]byte(b[12:16])), "IPv4-translated IPv6 address (SIIT ::ffff:0:a.b.c.d)")
	case nat64.Contains(a):
		b := a.As16()
		return embedded(netip.AddrFrom4([4]byte(b[12:16])), "NAT64 address (64:ff9b::/96)")
	case sixToFour.Contains(a):
		b := a.As16()
		return embedded(netip.AddrFrom4([4]byte(b[2:6])), "6to4 address (2002::/16)")
	}
	for _, m := range metadata {
		if a == m {
			return forbidden, "cloud metadata address"
		}
	}
	switch {
	case a.IsUnspecified():
		return forbidden, "unspecified address"
	case a.IsLinkLocalUnicast():
		return forbidden, "link-local address"
	case a.IsMulticast():
		return forbidden, "multicast address"
	case a.IsLoopback():
		return private, "loopback address"
	case a.IsPrivate() && a.Is4():
		return private, "private address (RFC 1918)"
	case a.IsPrivate():
		return private, "unique local address (fc00::/7)"
	}
	for _, r := range ranges {
		if r.p.Contains(a) {
			return r.v, r.reason
		}
	}
	return allowed, ""
}

// embedded treats an IPv6 form that carries an IPv4 address: private at
// best, and forbidden when the carried address is.
func embedded(v4 netip.Addr, form string) (verdict, string) {
	if v, why := classify(v4); v == forbidden {
		return forbidden, form + " of a " + why
	}
	return private, form
}
