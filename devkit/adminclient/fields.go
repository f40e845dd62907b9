package adminclient

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// clientFields are the client flags of create and patch; only flags that
// were given go into the body.
type clientFields struct {
	fs                                *flag.FlagSet
	id, name, roles, grants, prefixes string
	externalIDs, raw                  string
	enabled, disabled                 bool
	weight, maxBacklog                int
}

func newClientFields(fs *flag.FlagSet, create bool) *clientFields {
	f := &clientFields{fs: fs}
	if create {
		fs.StringVar(&f.id, "id", "", "client ID (required)")
		fs.BoolVar(&f.disabled, "disabled", false, "create the client disabled")
	} else {
		fs.BoolVar(&f.enabled, "enabled", true, "enable (true) or disable (false) the client")
	}
	fs.StringVar(&f.name, "name", "", "display name")
	fs.StringVar(&f.roles, "roles", "", "comma-separated roles: partner, admin")
	fs.StringVar(&f.grants, "grants", "", "comma-separated flow IDs the client may call")
	fs.StringVar(&f.prefixes, "callback-prefixes", "", "comma-separated URL prefixes allowed as Callback-URL")
	fs.StringVar(&f.externalIDs, "external-ids", "", "comma-separated client names at external IdPs")
	fs.IntVar(&f.weight, "weight", 0, "fair-share weight")
	fs.IntVar(&f.maxBacklog, "max-backlog", 0, "queued jobs before 429 backlog_full")
	fs.StringVar(&f.raw, "json", "", "the whole JSON body, or @file; other field flags are merged over it")
	return f
}

func list(s string) []string {
	out := []string{}
	for v := range strings.SplitSeq(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// body merges the given flags over --json.
func (f *clientFields) body() ([]byte, error) {
	m := map[string]any{}
	if f.raw != "" {
		var err error
		if m, err = readJSONArg("json", f.raw); err != nil {
			return nil, err
		}
	}
	f.fs.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "id":
			m["id"] = f.id
		case "name":
			m["name"] = f.name
		case "roles":
			m["roles"] = list(f.roles)
		case "grants":
			m["grants"] = list(f.grants)
		case "callback-prefixes":
			m["callback_prefixes"] = list(f.prefixes)
		case "external-ids":
			m["external_ids"] = list(f.externalIDs)
		case "weight":
			m["weight"] = f.weight
		case "max-backlog":
			m["max_backlog"] = f.maxBacklog
		case "enabled":
			m["enabled"] = f.enabled
		case "disabled":
			m["enabled"] = !f.disabled
		}
	})
	if len(m) == 0 {
		return nil, errors.New("nothing to send: give field flags or --json")
	}
	return json.Marshal(m)
}

func createClient(fs *flag.FlagSet) request {
	f := newClientFields(fs, true)
	return func(pos []string) (string, string, []byte, error) {
		if len(pos) > 0 {
			return "", "", nil, fmt.Errorf("unexpected argument %q (use --id)", pos[0])
		}
		b, err := f.body()
		return "POST", "/admin/v1/clients", b, err
	}
}

func patchClient(fs *flag.FlagSet) request {
	f := newClientFields(fs, false)
	return func(pos []string) (string, string, []byte, error) {
		id, err := oneID(pos)
		if err != nil {
			return "", "", nil, err
		}
		b, err := f.body()
		return "PATCH", "/admin/v1/clients/" + id, b, err
	}
}

func listClients(fs *flag.FlagSet) request {
	limit := fs.Int("limit", 0, "page size (1..1000)")
	cursor := fs.String("cursor", "", "next_cursor of the previous page")
	return func(pos []string) (string, string, []byte, error) {
		q := url.Values{}
		if *limit > 0 {
			q.Set("limit", strconv.Itoa(*limit))
		}
		if *cursor != "" {
			q.Set("cursor", *cursor)
		}
		return "GET", withQuery("/admin/v1/clients", q), nil, nil
	}
}

func listAudit(fs *flag.FlagSet) request {
	names := []string{"actor", "action", "since", "until", "limit", "cursor"}
	vals := map[string]*string{}
	for _, n := range names {
		vals[n] = fs.String(n, "", "filter: "+n)
	}
	return func(pos []string) (string, string, []byte, error) {
		q := url.Values{}
		for _, n := range names {
			if v := *vals[n]; v != "" {
				q.Set(n, v)
			}
		}
		return "GET", withQuery("/admin/v1/audit", q), nil, nil
	}
}

func withQuery(path string, q url.Values) string {
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}
