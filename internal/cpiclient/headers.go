package cpiclient

import (
	"net/http"
	"net/textproto"
	"strings"
)

// Header names set by the client. SAP_ApplicationID is sent with SAP's
// spelling; header names are case-insensitive, Go would send
// "Sap_applicationid".
const (
	headerApplicationID  = "SAP_ApplicationID"
	headerIdempotencyKey = "Idempotency-Key"
	headerCSRF           = "X-CSRF-Token"
	headerMPLID          = "SAP_MessageProcessingLogID"
)

// DefaultResponseHeaders returns the default allow-list of response headers
// kept in [Response.Header]: the content description (Content-Type,
// Content-Language, Content-Disposition), caching and versioning (ETag,
// Last-Modified, Cache-Control, Expires), Location, Retry-After, and CPI's
// SAP_MessageProcessingLogID and SAP_MplCorrelationId. Config.AllowResponseHeaders
// extends it; the deny-list ([deniedResponseHeader]) always wins.
func DefaultResponseHeaders() []string {
	return []string{
		"Content-Type", "Content-Language", "Content-Disposition",
		"ETag", "Last-Modified", "Cache-Control", "Expires",
		"Location", "Retry-After",
		headerMPLID, "SAP_MplCorrelationId",
	}
}

// deniedResponseHeader reports whether a response header must never be
// returned, whatever the allow-list says: session and credential headers
// (Set-Cookie, WWW-Authenticate, X-CSRF-Token...), hop-by-hop headers,
// framing headers that no longer describe the read body (Content-Length,
// Content-Encoding), and Camel's internal headers.
func deniedResponseHeader(canonical string) bool {
	switch canonical {
	case "Set-Cookie", "Set-Cookie2", "Cookie", "Authorization", "Proxy-Authorization",
		"Www-Authenticate", "Proxy-Authenticate", "X-Csrf-Token",
		"Connection", "Keep-Alive", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
		"Content-Length", "Content-Encoding":
		return true
	}
	return strings.HasPrefix(canonical, "Camel")
}

// deniedRequestHeader reports whether a forwarded request header is dropped
// because the client owns it (credentials, session, CSRF, framing) or it is
// hop-by-hop.
func deniedRequestHeader(canonical string) bool {
	switch canonical {
	case "Authorization", "Proxy-Authorization", "Cookie", "X-Csrf-Token", "Host",
		"Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive", "Proxy-Connection",
		"Te", "Trailer", "Upgrade", "Sap_applicationid", "Idempotency-Key":
		return true
	}
	return false
}

// headerFilter keeps allowed response headers.
type headerFilter map[string]bool // canonical names

func newHeaderFilter(extra []string) headerFilter {
	f := make(headerFilter)
	for _, h := range append(DefaultResponseHeaders(), extra...) {
		if c := textproto.CanonicalMIMEHeaderKey(h); !deniedResponseHeader(c) {
			f[c] = true
		}
	}
	return f
}

// filter returns the allowed headers of h with canonical names.
func (f headerFilter) filter(h http.Header) http.Header {
	out := make(http.Header)
	for k, v := range h {
		if c := textproto.CanonicalMIMEHeaderKey(k); f[c] {
			out[c] = append(out[c], v...)
		}
	}
	return out
}

// forwardHeaders copies the caller's headers minus the denied ones.
func forwardHeaders(h http.Header) http.Header {
	out := make(http.Header, len(h)+6)
	for k, v := range h {
		if !deniedRequestHeader(textproto.CanonicalMIMEHeaderKey(k)) {
			out[k] = append([]string(nil), v...)
		}
	}
	return out
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
