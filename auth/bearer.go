package auth

import (
	"fmt"
	"strings"
)

// BearerToken extracts the token from an Authorization header value
// (RFC 6750 §2.1, RFC 9110 §11.4):
//
//   - leading and trailing spaces and tabs are ignored;
//   - an empty value, or a scheme other than "Bearer", yields [ErrNoToken];
//   - the scheme is case-insensitive and is followed by one or more spaces
//     (tabs are not separators);
//   - the token must be a non-empty token68 (letters, digits, "-._~+/",
//     then optional "=" padding), else the error wraps [ErrInvalidToken]
//     ("Bearer" alone, embedded spaces, commas, control characters, ...).
func BearerToken(authorizationHeader string) (string, error) {
	h := strings.Trim(authorizationHeader, " \t")
	if h == "" {
		return "", ErrNoToken
	}
	scheme, rest, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", ErrNoToken
	}
	tok := strings.TrimLeft(rest, " ")
	if tok == "" {
		return "", fmt.Errorf("%w: empty bearer token", ErrInvalidToken)
	}
	if !isToken68(tok) {
		return "", fmt.Errorf("%w: malformed bearer token", ErrInvalidToken)
	}
	return tok, nil
}

// isToken68 reports whether s matches RFC 9110 token68:
// 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isToken68(s string) bool {
	body := strings.TrimRight(s, "=")
	if body == "" {
		return false
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-', c == '.', c == '_', c == '~', c == '+', c == '/':
		default:
			return false
		}
	}
	return true
}
