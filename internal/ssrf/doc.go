// Package ssrf keeps webhook and callback requests away from internal
// networks (DESIGN 7.2). A Guard decides which IP addresses may be dialled;
// it is applied twice:
//
//   - at registration, CheckURL resolves a webhook URL, callback prefix or
//     Callback-URL and refuses it when the host is, or resolves to, a
//     refused address (the API answers 400);
//   - at dial time, DialContext resolves the host again, connects only to
//     allowed addresses, and a net.Dialer Control hook checks the address
//     of the socket actually being connected, so DNS rebinding between the
//     two checks gains nothing.
//
// Always refused: cloud metadata and platform addresses (169.254.169.254,
// fd00:ec2::254, fd20:ce::254, 169.254.170.2, 169.254.170.23,
// fd00:ec2::23, 169.254.0.23, Azure 168.63.129.16, Alibaba
// 100.100.100.200, Oracle 192.0.0.192), link-local (169.254.0.0/16,
// fe80::/10), site-local (fec0::/10), "this network" (0.0.0.0/8),
// unspecified, multicast, broadcast and reserved (240.0.0.0/4) addresses. Refused unless
// Config.AllowPrivate: loopback (127.0.0.0/8, ::1), RFC 1918 private
// ranges, CGNAT (100.64.0.0/10), unique local (fc00::/7), and the forms
// that embed an IPv4 address in IPv6 (IPv4-mapped ::ffff:0:0/96,
// IPv4-compatible ::/96, SIIT ::ffff:0:0:0/96, NAT64 64:ff9b::/96 and
// 64:ff9b:1::/48, 6to4 2002::/16, Teredo 2001::/32); an
// embedded address that is always refused stays refused.
package ssrf
