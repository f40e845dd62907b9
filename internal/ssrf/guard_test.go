package ssrf_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/cpibroker/cpibroker/internal/ssrf"
)

// hosts is a resolver over a fixed table; unknown names do not resolve.
// No test here asks real DNS.
type hosts map[string][]string

func (h hosts) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	ips, ok := h[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	out := make([]netip.Addr, len(ips))
	for i, s := range ips {
		out[i] = netip.MustParseAddr(s)
	}
	return out, nil
}

// Expected treatment of an address family.
const (
	public    = "public"    // allowed always
	private   = "private"   // allowed only with AllowPrivate
	forbidden = "forbidden" // refused always
)

// families is the SSRF table: every address family of DESIGN 7.2, each
// with its expected treatment.
var families = []struct {
	name, addr, want string
}{
	{"public IPv4", "93.184.216.34", public},
	{"public IPv6", "2606:2800:220:1:248:1893:25c8:1946", public},
	{"loopback IPv4", "127.0.0.1", private},
	{"loopback IPv4 elsewhere in 127/8", "127.1.2.3", private},
	{"loopback IPv6", "::1", private},
	{"RFC 1918 10/8", "10.1.2.3", private},
	{"RFC 1918 172.16/12", "172.31.255.1", private},
	{"RFC 1918 192.168/16", "192.168.0.10", private},
	{"CGNAT 100.64/10", "100.64.0.1", private},
	{"CGNAT upper end", "100.127.255.254", private},
	{"unique local fc00::/7", "fd12:3456:789a::1", private},
	{"unique local fc00::", "fc00::1", private},
	{"IPv4-mapped public", "::ffff:93.184.216.34", private},
	{"IPv4-mapped loopback", "::ffff:127.0.0.1", private},
	{"IPv4-mapped private", "::ffff:10.0.0.1", private},
	{"IPv4-mapped metadata", "::ffff:169.254.169.254", forbidden},
	{"NAT64 of a private address", "64:ff9b::a00:1", private},
	{"NAT64 of metadata", "64:ff9b::a9fe:a9fe", forbidden},
	{"local-use NAT64", "64:ff9b:1::1", private},
	{"6to4 of loopback", "2002:7f00:1::1", private},
	{"6to4 of metadata", "2002:a9fe:a9fe::1", forbidden},
	{"Teredo", "2001:0:4136:e378:8000:63bf:3fff:fdd2", private},
	{"link-local IPv4", "169.254.1.1", forbidden},
	{"link-local IPv6", "fe80::1", forbidden},
	{"link-local IPv6 with zone", "fe80::1%eth0", forbidden},
	{"metadata IPv4", "169.254.169.254", forbidden},
	{"metadata IPv6 (AWS)", "fd00:ec2::254", forbidden},
	{"metadata ECS", "169.254.170.2", forbidden},
	{"metadata Alibaba", "100.100.100.200", forbidden},
	{"this network 0.0.0.0", "0.0.0.0", forbidden},
	{"this network 0/8", "0.1.2.3", forbidden},
	{"unspecified IPv6", "::", forbidden},
	{"multicast IPv4", "224.0.0.1", forbidden},
	{"multicast IPv6", "ff02::1", forbidden},
	{"broadcast", "255.255.255.255", forbidden},
	{"reserved 240/4", "240.0.0.1", forbidden},
	{"IPv4-compatible loopback", "::127.0.0.1", private},
	{"IPv4-compatible public", "::93.184.216.34", private},
	{"IPv4-compatible metadata", "::169.254.169.254", forbidden},
	{"IPv4-compatible Azure WireServer", "::168.63.129.16", forbidden},
	{"SIIT loopback", "::ffff:0:127.0.0.1", private},
	{"SIIT private", "::ffff:0:10.0.0.1", private},
	{"SIIT metadata", "::ffff:0:169.254.169.254", forbidden},
	{"site-local fec0::/10", "fec0::1", forbidden},
	{"site-local upper end", "feff:ffff::1", forbidden},
	{"metadata Azure WireServer", "168.63.129.16", forbidden},
	{"metadata Oracle", "192.0.0.192", forbidden},
	{"metadata GCP IPv6", "fd20:ce::254", forbidden},
	{"metadata EKS Pod Identity IPv6", "fd00:ec2::23", forbidden},
	{"metadata Tencent", "169.254.0.23", forbidden},
	{"NAT64 of Azure WireServer", "64:ff9b::a83f:8110", forbidden},
}

func allowedWith(want string, allowPrivate bool) bool {
	return want == public || (want == private && allowPrivate)
}

func guard(t *testing.T, allowPrivate bool, r ssrf.Resolver) *ssrf.Guard {
	t.Helper()
	g, err := ssrf.New(ssrf.Config{AllowPrivate: allowPrivate, Resolver: r})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestAddressFamilies checks every family as a literal address, as a URL
// host, as the address of a socket being connected (the dial-time hook),
// and behind a DNS name that resolves to it.
func TestAddressFamilies(t *testing.T) {
	names := hosts{}
	for i, f := range families {
		names[hostName(i)] = []string{f.addr}
	}
	for _, allowPrivate := range []bool{false, true} {
		g := guard(t, allowPrivate, names)
		for i, f := range families {
			t.Run(f.name+map[bool]string{false: "", true: " allow_private"}[allowPrivate], func(t *testing.T) {
				want := allowedWith(f.want, allowPrivate)
				check := func(what string, err error) {
					t.Helper()
					if (err == nil) != want {
						t.Fatalf("%s: err %v, want allowed=%v", what, err, want)
					}
					if err != nil && !errors.Is(err, ssrf.ErrRefused) {
						t.Fatalf("%s: %v does not wrap ErrRefused", what, err)
					}
				}
				a := netip.MustParseAddr(f.addr)
				check("CheckAddr", g.CheckAddr(a))
				check("Control", g.Control("tcp", netip.AddrPortFrom(a, 443).String(), nil))
				if a.Zone() == "" {
					host := f.addr
					if a.Is6() && !a.Is4In6() || strings.Contains(host, ":") {
						host = "[" + host + "]"
					}
					check("CheckURL literal", g.CheckURL(t.Context(), "https://"+host+"/hook"))
				}
				check("CheckURL DNS name", g.CheckURL(t.Context(), "https://"+hostName(i)+":8443/hook"))
				check("CheckURL prefix", g.CheckURL(t.Context(), "https://"+hostName(i)+"/cpib/"))
			})
		}
	}
}

func hostName(i int) string { return "h" + string(rune('a'+i/26)) + string(rune('a'+i%26)) + ".test" }

// TestNameWithOneBadAddress: a name is refused when any of its addresses
// is (at registration); a name that does not resolve is left to the dial.
func TestNameWithOneBadAddress(t *testing.T) {
	g := guard(t, false, hosts{
		"mixed.test": {"93.184.216.34", "10.0.0.1"},
		"good.test":  {"93.184.216.34", "2606:2800:220:1::1"},
		"meta.test":  {"169.254.169.254"},
	})
	for url, want := range map[string]bool{
		"https://mixed.test/x":     false,
		"https://good.test/x":      true,
		"https://meta.test/x":      false,
		"https://unknown.test/x":   true,
		"https://good.test./x":     true,
		"https://meta.test./x":     false,
		"ftp://good.test/x":        false,
		"https:///nohost":          false,
		"https://[fd00:ec2::254]/": false,
	} {
		if err := g.CheckURL(t.Context(), url); (err == nil) != want {
			t.Errorf("CheckURL(%s) = %v, want allowed=%v", url, err, want)
		}
	}
}

// TestDialRefusesWhatTheNameResolvesToNow: the dial resolves again and
// connects only to allowed addresses, so a name that was public at
// registration and now points at an internal address (DNS rebinding) is
// not reached.
func TestDialRefusesWhatTheNameResolvesToNow(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	names := hosts{"rebind.test": {"127.0.0.1"}, "loop.test": {"127.0.0.1"}, "meta.test": {"169.254.169.254"}}
	client := func(g *ssrf.Guard) *http.Client {
		return &http.Client{Transport: &http.Transport{DialContext: g.DialContext}}
	}
	strict, lax := guard(t, false, names), guard(t, true, names)
	for _, tc := range []struct {
		name string
		g    *ssrf.Guard
		host string
		ok   bool
	}{
		{"loopback name refused", strict, "rebind.test", false},
		{"loopback literal refused", strict, "127.0.0.1", false},
		{"loopback allowed with allow_private", lax, "loop.test", true},
		{"metadata never, even with allow_private", lax, "meta.test", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := client(tc.g).Get("http://" + net.JoinHostPort(tc.host, port) + "/")
			if tc.ok {
				if err != nil {
					t.Fatalf("GET: %v", err)
				}
				resp.Body.Close()
				return
			}
			if err == nil {
				resp.Body.Close()
				t.Fatal("the request reached the server")
			}
			if !errors.Is(err, ssrf.ErrRefused) {
				t.Fatalf("GET: %v, want ErrRefused", err)
			}
		})
	}
}

// TestControlHookAlone: even a dialer that resolved by itself (here: a
// plain net.Dialer with only the hook) cannot connect to a refused address.
func TestControlHookAlone(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	g := guard(t, false, hosts{})
	d := net.Dialer{Control: g.Control}
	if c, err := d.DialContext(t.Context(), "tcp", ln.Addr().String()); err == nil {
		c.Close()
		t.Fatal("connected to loopback through the hook")
	} else if !errors.Is(err, ssrf.ErrRefused) {
		t.Fatalf("dial: %v", err)
	}
}
