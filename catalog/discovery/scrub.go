package discovery

import (
	"encoding/base64"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/cpibroker/cpibroker/catalog"
)

// maxEcho bounds a report detail or discovery error, which may quote a
// remote server's answer.
const maxEcho = 1000

// jwtLike and bearerLike find access tokens a remote server echoes back.
var (
	jwtLike    = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*`)
	bearerLike = regexp.MustCompile(`(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}`)
)

// credentials are the strings of a resolved endpoint that must never
// appear in what the API shows: the client secret as sent (plain and
// form-encoded) and the HTTP Basic value built from it.
func credentials(e catalog.Endpoint) []string {
	if e.ClientSecret == "" {
		return nil
	}
	out := []string{e.ClientSecret, url.QueryEscape(e.ClientSecret), url.PathEscape(e.ClientSecret)}
	for _, id := range []string{e.ClientID, url.QueryEscape(e.ClientID)} {
		for _, sec := range []string{e.ClientSecret, url.QueryEscape(e.ClientSecret)} {
			out = append(out, base64.StdEncoding.EncodeToString([]byte(id+":"+sec)))
		}
	}
	return out
}

// scrub removes every credential, access token and Authorization value
// from s (a remote answer may echo the request) and bounds its length.
func scrub(s string, creds []string) string {
	// Longest first, so a secret inside a longer credential does not
	// leave the rest of it.
	creds = slices.Clone(creds)
	slices.SortFunc(creds, func(a, b string) int { return len(b) - len(a) })
	for _, c := range creds {
		if len(c) >= 6 { // shorter ones are no real secret, and would mangle words
			s = strings.ReplaceAll(s, c, catalog.Redacted)
		}
	}
	s = jwtLike.ReplaceAllString(s, catalog.Redacted)
	s = bearerLike.ReplaceAllString(s, "$1 "+catalog.Redacted)
	if len(s) > maxEcho {
		cut := maxEcho
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}
