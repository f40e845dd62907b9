package main

import (
	"fmt"
	"strings"

	"github.com/cpibroker/cpibroker/auth/idp"
)

// idpFlags is the repeatable --idp flag: one external identity provider per
// use, as comma-separated key=value pairs.
type idpFlags []idp.Config

func (f *idpFlags) String() string {
	names := make([]string, 0, len(*f))
	for _, c := range *f {
		names = append(names, c.Issuer)
	}
	return strings.Join(names, " ")
}

// Set parses issuer=…,audience=…,jwks_url=…[,client_claim=…][,name=…].
func (f *idpFlags) Set(v string) error {
	var c idp.Config
	for kv := range strings.SplitSeq(v, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			return fmt.Errorf("--idp: %q is not key=value", kv)
		}
		switch k {
		case "issuer":
			c.Issuer = val
		case "audience":
			c.Audience = val
		case "jwks_url":
			c.JWKSURL = val
		case "client_claim":
			c.ClientClaim = val
		case "name":
			c.Name = val
		default:
			return fmt.Errorf("--idp: unknown key %q (issuer, audience, jwks_url, client_claim, name)", k)
		}
	}
	if err := c.Validate(); err != nil {
		return fmt.Errorf("--idp: %w", err)
	}
	*f = append(*f, c)
	return nil
}
