package catalog

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Errors of callback prefixes and Callback-URLs.
var (
	// ErrCallbackPrefix marks a callback prefix that cannot be stored.
	ErrCallbackPrefix = errors.New("invalid callback prefix")
	// ErrCallbackURL marks a Callback-URL that is not an acceptable target.
	ErrCallbackURL = errors.New("invalid Callback-URL")
)

// maxCallbackURL bounds a callback prefix and a Callback-URL.
const maxCallbackURL = 2048

// callbackTarget is a parsed callback prefix or Callback-URL: what the
// matcher compares.
type callbackTarget struct {
	scheme string // "http" or "https"
	host   string // lower case, IPv6 literals in canonical form, no brackets
	port   int    // explicit or the scheme's default
	path   string // escaped path, at least "/"
}

// origin is the scheme://host[:port] of t with the default port left out.
func (t callbackTarget) origin() string {
	host := t.host
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if t.port != defaultPort(t.scheme) {
		host += ":" + strconv.Itoa(t.port)
	}
	return t.scheme + "://" + host
}

func defaultPort(scheme string) int {
	if scheme == "https" {
		return 443
	}
	return 80
}

// parseCallbackTarget parses an absolute http(s) URL for the callback
// matcher. User info is refused (http://allowed.host:@evil/ is a request
// to evil), an explicit port must be a number 1-65535 (an empty one,
// "host:", is refused), and the path must not have dot segments, which a
// receiver would resolve to a path outside the prefix.
func parseCallbackTarget(raw string, sentinel error) (callbackTarget, *url.URL, error) {
	bad := func(why string) (callbackTarget, *url.URL, error) {
		return callbackTarget{}, nil, fmt.Errorf("%w: %s", sentinel, why)
	}
	if len(raw) > maxCallbackURL {
		return bad(fmt.Sprintf("longer than %d bytes", maxCallbackURL))
	}
	if strings.ContainsAny(raw, "\\\x00\t\r\n ") {
		return bad("must not contain backslashes, spaces or control characters")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return bad("not a URL")
	}
	scheme := strings.ToLower(u.Scheme)
	if (scheme != "http" && scheme != "https") || u.Opaque != "" || u.Host == "" {
		return bad("must be an absolute http:// or https:// URL")
	}
	if u.User != nil || strings.Contains(u.Host, "@") {
		return bad("must not carry user info (user@host)")
	}
	host := strings.ToLower(u.Hostname())
	if host == "" {
		return bad("has no host")
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if a.Zone() != "" {
			return bad("must not name an IPv6 zone")
		}
		host = a.String()
	} else if strings.ContainsAny(host, "[]%:") {
		return bad("has an invalid host")
	}
	port := defaultPort(scheme)
	if strings.HasSuffix(u.Host, ":") {
		return bad("has an empty port")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 || p[0] == '0' {
			return bad("has an invalid port")
		}
		port = n
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	if !strings.HasPrefix(path, "/") {
		return bad("has an invalid path")
	}
	for seg := range strings.SplitSeq(path, "/") {
		if dec, err := url.PathUnescape(seg); err != nil || dec == "." || dec == ".." || strings.ContainsAny(dec, "/\\") {
			return bad("path must not contain dot segments or encoded slashes")
		}
	}
	return callbackTarget{scheme: scheme, host: host, port: port, path: path}, u, nil
}

// NormalizeCallbackPrefix checks a callback prefix and returns the form it
// is stored in. A prefix names a scheme, a host and a path
// ("https://hooks.example.com/cpib/"): no user info, query or fragment;
// scheme and host lower case, the default port left out, IPv6 literals
// canonical. Errors wrap ErrCallbackPrefix.
func NormalizeCallbackPrefix(raw string) (string, error) {
	t, u, err := parseCallbackTarget(raw, ErrCallbackPrefix)
	if err != nil {
		return "", err
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(raw, "#") {
		return "", fmt.Errorf("%w: must not have a query or fragment", ErrCallbackPrefix)
	}
	if u.EscapedPath() == "" {
		return "", fmt.Errorf("%w: must name a path (at least \"/\"), e.g. https://hooks.example.com/cpib/", ErrCallbackPrefix)
	}
	return t.origin() + t.path, nil
}

// CheckCallbackURL reports why u is not an acceptable Callback-URL (errors
// wrap ErrCallbackURL), or nil. It does not look at any prefix.
func CheckCallbackURL(u string) error {
	_, pu, err := parseCallbackTarget(u, ErrCallbackURL)
	if err != nil {
		return err
	}
	if pu.Fragment != "" || strings.Contains(u, "#") {
		return fmt.Errorf("%w: must not have a fragment", ErrCallbackURL)
	}
	return nil
}

// CallbackAllowed reports whether Callback-URL u is within one of the
// prefixes, compared as URLs: the same scheme, host and port (default
// ports normalised), and a path equal to the prefix's path or below it on
// a segment boundary ("/cb" admits "/cb" and "/cb/x", never "/cbx").
// A prefix that does not parse admits nothing.
func CallbackAllowed(u string, prefixes []string) bool {
	if CheckCallbackURL(u) != nil {
		return false
	}
	t, _, _ := parseCallbackTarget(u, ErrCallbackURL)
	for _, raw := range prefixes {
		p, pu, err := parseCallbackTarget(raw, ErrCallbackPrefix)
		if err != nil || pu.RawQuery != "" || pu.Fragment != "" {
			continue // (a stored prefix without a path means "/")
		}
		if p.scheme == t.scheme && p.host == t.host && p.port == t.port && underPath(t.path, p.path) {
			return true
		}
	}
	return false
}

// underPath reports whether path is prefix or below it on a segment
// boundary.
func underPath(path, prefix string) bool {
	if strings.HasSuffix(prefix, "/") {
		return strings.HasPrefix(path, prefix)
	}
	return path == prefix || strings.HasPrefix(path, prefix+"/")
}

// normalizePrefixes rewrites every callback prefix that parses into its
// stored form; one that does not is left for Validate to report.
func (c *Client) normalizePrefixes() {
	c.CallbackPrefixes = slices.Clone(c.CallbackPrefixes)
	for i, p := range c.CallbackPrefixes {
		if n, err := NormalizeCallbackPrefix(p); err == nil {
			c.CallbackPrefixes[i] = n
		}
	}
}
