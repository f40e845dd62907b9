package catalog

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// Slug lowercases s and turns every run of characters other than a-z and
// 0-9 into one '-', trimmed at both ends: "Orders_Create/v2" → "orders-create-v2".
func Slug(s string) string {
	var b strings.Builder
	dash := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if ('a' <= c && c <= 'z') || ('0' <= c && c <= '9') {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteByte(c)
			continue
		}
		dash = true
	}
	return b.String()
}

// NewFlowID names a newly discovered entry point (DESIGN 4):
// "<provider>-<artifact>" slugged, with the address appended when the
// artifact has several entry points, and a short hash of (provider,
// artifact, address) appended when that name is taken or longer than 63
// characters. taken reports IDs in use. The result is a ValidID. Once
// given, an ID is kept in the flow record, so it never changes.
func NewFlowID(provider, artifact, address string, withAddress bool, taken func(string) bool) string {
	base := Slug(provider + "-" + artifact)
	if a := Slug(address); withAddress && a != "" {
		base = strings.TrimPrefix(base+"-"+a, "-")
	}
	if base == "" {
		base = "flow"
	}
	if len(base) <= 63 && ValidID(base) && !taken(base) {
		return base
	}
	sum := sha256.Sum256([]byte(provider + "\x00" + artifact + "\x00" + address))
	h := hex.EncodeToString(sum[:])
	for n := 6; n <= len(h); n += 2 {
		head := strings.TrimRight(base[:min(len(base), 63-n-1)], "-")
		id := h[:n]
		if head != "" {
			id = head + "-" + id
		}
		if !taken(id) {
			return id
		}
	}
	return h[:63] // 2^-252: unreachable in practice
}
