package cpisim

import (
	"errors"
	"fmt"
	"strings"
)

// address is a parsed sender-adapter address (cpi.md 1.1).
type address struct {
	raw      string // as configured, e.g. "/Orders/*"
	key      string // ASCII-lowercased, without a trailing "/*"
	wildcard bool   // the address ended in "/*"
}

// maxAddressLen bounds addresses; CPI documents no limit, this only keeps
// nonsense out of the routing table.
const maxAddressLen = 1024

// parseAddress validates s against the documented rules of the HTTPS sender
// adapter's Address field:
//   - it starts with '/';
//   - it contains only ASCII letters, digits and '_', '/', '~', '-', '.', '$';
//   - '$' is allowed only right after the leading '/';
//   - '*' is allowed only as a trailing "/*", which makes the address a
//     prefix: "/Customer/*" matches "/Customer/<anything>".
func parseAddress(s string) (address, error) {
	if s == "" {
		return address{}, errors.New("address is empty")
	}
	if len(s) > maxAddressLen {
		return address{}, fmt.Errorf("address longer than %d bytes", maxAddressLen)
	}
	if s[0] != '/' {
		return address{}, fmt.Errorf("address %q does not start with '/'", s)
	}
	base, wildcard := strings.CutSuffix(s, "/*")
	if wildcard && base == "" {
		return address{}, fmt.Errorf("address %q matches everything", s)
	}
	for i := 0; i < len(base); i++ {
		c := base[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '_' || c == '/' || c == '~' || c == '-' || c == '.':
		case c == '$':
			if i != 1 {
				return address{}, fmt.Errorf("address %q: '$' is allowed only right after the leading '/'", s)
			}
		case c == '*':
			return address{}, fmt.Errorf("address %q: '*' is allowed only as a trailing \"/*\"", s)
		default:
			return address{}, fmt.Errorf("address %q: character %q is not allowed", s, c)
		}
	}
	return address{raw: s, key: asciiLower(base), wildcard: wildcard}, nil
}

// match reports whether the request path p (the part after "/http") selects
// this address, comparing ASCII letters case-insensitively (cpi.md 1.1: "URIs
// are case-insensitive"). For a wildcard address it also returns the suffix
// after "<base>/", which CPI delivers in the CamelHttpPath header.
//
// UNCONFIRMED: a wildcard address "/orders/*" also matches the bare "/orders"
// (with an empty suffix), as Camel's prefix matching would; "/ordersX" does
// not match.
func (a address) match(p string) (suffix string, ok bool) {
	if !a.wildcard {
		return "", asciiEqualFold(p, a.key)
	}
	if len(p) < len(a.key) || !asciiEqualFold(p[:len(a.key)], a.key) {
		return "", false
	}
	rest := p[len(a.key):]
	if rest == "" {
		return "", true
	}
	if rest[0] != '/' {
		return "", false
	}
	return rest[1:], true
}

// asciiLower lowercases ASCII letters only, so that byte offsets survive.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// asciiEqualFold is strings.EqualFold restricted to ASCII letters: non-ASCII
// bytes must be equal. Unicode folding (e.g. the Kelvin sign and 'k') would
// otherwise let different byte lengths match.
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
