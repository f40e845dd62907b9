package adminclient

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"strings"
)

// Commands for providers and flows.

// readJSONArg reads an inline JSON value or @file.
func readJSONArg(name, v string) (map[string]any, error) {
	raw := []byte(v)
	if file, ok := strings.CutPrefix(v, "@"); ok {
		var err error
		if raw, err = os.ReadFile(file); err != nil {
			return nil, fmt.Errorf("--%s: %w", name, err)
		}
	}
	m := map[string]any{}
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("--%s: %w", name, err)
	}
	return m, nil
}

// serviceKey turns an SAP service key (as downloaded, with or without its
// "oauth" wrapper) into an endpoint: url, tokenurl, clientid, clientsecret.
// With secretRef set, the secret is stored as the reference ${secretRef}
// instead (the broker's processes read it from their environment).
func serviceKey(name, v, secretRef string) (map[string]any, error) {
	m, err := readJSONArg(name, v)
	if err != nil {
		return nil, err
	}
	if inner, ok := m["oauth"].(map[string]any); ok {
		m = inner
	}
	out := map[string]any{}
	for _, k := range []string{"url", "tokenurl", "clientid", "clientsecret"} {
		if s, ok := m[k].(string); ok && s != "" {
			out[k] = s
		}
	}
	if out["url"] == nil {
		return nil, fmt.Errorf("--%s: the service key has no \"url\"", name)
	}
	if secretRef != "" {
		out["clientsecret"] = "${" + secretRef + "}"
	}
	return out, nil
}

// providerFields are the flags of providers create and patch.
type providerFields struct {
	fs                                     *flag.FlagSet
	id, typ, title, interval, raw          string
	runtimeKey, apiKey, runtimeRef, apiRef string
	runtimeURL                             string
	csrf, autoEnable                       bool
}

func newProviderFields(fs *flag.FlagSet, create bool) *providerFields {
	f := &providerFields{fs: fs}
	if create {
		fs.StringVar(&f.id, "id", "", "provider ID (required)")
		fs.StringVar(&f.typ, "type", "cpi", "cpi (a CPI tenant) or http (a plain HTTPS backend with declared flows)")
	}
	fs.StringVar(&f.title, "title", "", "display title")
	fs.StringVar(&f.runtimeKey, "runtime-key", "", "the integration-flow plan service key (JSON or @file): runtime url and OAuth credentials")
	fs.StringVar(&f.apiKey, "api-key", "", "the api plan service key (JSON or @file): OData API url and OAuth credentials, for discovery")
	fs.StringVar(&f.runtimeRef, "runtime-secret-env", "", "store the runtime secret as ${NAME} (read from each process's environment) instead of its value")
	fs.StringVar(&f.apiRef, "api-secret-env", "", "store the api secret as ${NAME} instead of its value")
	fs.StringVar(&f.runtimeURL, "runtime-url", "", "runtime base URL (type http, or instead of --runtime-key)")
	fs.BoolVar(&f.csrf, "csrf", true, "the iFlows are CSRF protected")
	fs.BoolVar(&f.autoEnable, "auto-enable", false, "discovered flows start enabled")
	fs.StringVar(&f.interval, "discovery-interval", "", "how often to discover (e.g. 5m)")
	fs.StringVar(&f.raw, "json", "", "the whole JSON body, or @file; other flags are merged over it")
	return f
}

func (f *providerFields) body() ([]byte, error) {
	m := map[string]any{}
	if f.raw != "" {
		var err error
		if m, err = readJSONArg("json", f.raw); err != nil {
			return nil, err
		}
	}
	var errs []error
	f.fs.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "id":
			m["id"] = f.id
		case "type":
			m["type"] = f.typ
		case "title":
			m["title"] = f.title
		case "runtime-key":
			k, err := serviceKey("runtime-key", f.runtimeKey, f.runtimeRef)
			errs = append(errs, err)
			m["runtime"] = k
		case "api-key":
			k, err := serviceKey("api-key", f.apiKey, f.apiRef)
			errs = append(errs, err)
			m["api"] = k
		case "runtime-url":
			rt, _ := m["runtime"].(map[string]any)
			if rt == nil {
				rt = map[string]any{}
			}
			rt["url"] = f.runtimeURL
			m["runtime"] = rt
		case "csrf":
			m["csrf"] = f.csrf
		case "auto-enable":
			m["auto_enable"] = f.autoEnable
		case "discovery-interval":
			m["discovery_interval"] = f.interval
		}
	})
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if _, ok := m["type"]; !ok && f.typ != "" {
		m["type"] = f.typ // the default of create
	}
	if len(m) == 0 {
		return nil, errors.New("nothing to send: give field flags or --json")
	}
	return json.Marshal(m)
}

func createProvider(fs *flag.FlagSet) request {
	f := newProviderFields(fs, true)
	return func(pos []string) (string, string, []byte, error) {
		if len(pos) > 0 {
			return "", "", nil, fmt.Errorf("unexpected argument %q (use --id)", pos[0])
		}
		b, err := f.body()
		return "POST", "/admin/v1/providers", b, err
	}
}

func patchProvider(fs *flag.FlagSet) request {
	f := newProviderFields(fs, false)
	return func(pos []string) (string, string, []byte, error) {
		id, err := oneID(pos)
		if err != nil {
			return "", "", nil, err
		}
		b, err := f.body()
		return "PATCH", "/admin/v1/providers/" + id, b, err
	}
}

// listAt is `<resource> list` with --limit, --cursor and filters.
func listAt(resource string, filters ...string) func(*flag.FlagSet) request {
	return func(fs *flag.FlagSet) request {
		names := append([]string{"limit", "cursor"}, filters...)
		vals := map[string]*string{}
		for _, n := range names {
			vals[n] = fs.String(n, "", "filter: "+n)
		}
		return func(pos []string) (string, string, []byte, error) {
			if len(pos) > 0 {
				return "", "", nil, fmt.Errorf("unexpected argument %q", pos[0])
			}
			q := url.Values{}
			for _, n := range names {
				if v := *vals[n]; v != "" {
					q.Set(n, v)
				}
			}
			return "GET", withQuery("/admin/v1/"+resource, q), nil, nil
		}
	}
}

// patchFlow is `flows patch ID [--status S] [--title T] [--description D] [--policy JSON|@FILE]`.
func patchFlow(fs *flag.FlagSet) request {
	status := fs.String("status", "", "enabled or disabled")
	title := fs.String("title", "", "title partners see")
	desc := fs.String("description", "", "description partners see")
	policy := fs.String("policy", "", `policy fields to change, JSON or @file, e.g. {"max_attempts":3,"timeout":"30s"}`)
	return func(pos []string) (string, string, []byte, error) {
		id, err := oneID(pos)
		if err != nil {
			return "", "", nil, err
		}
		m := map[string]any{}
		fs.Visit(func(fl *flag.Flag) {
			switch fl.Name {
			case "status":
				m["status"] = *status
			case "title":
				m["title"] = *title
			case "description":
				m["description"] = *desc
			}
		})
		if *policy != "" {
			p, err := readJSONArg("policy", *policy)
			if err != nil {
				return "", "", nil, err
			}
			m["policy"] = p
		}
		if len(m) == 0 {
			return "", "", nil, errors.New("nothing to change: give --status, --title, --description or --policy")
		}
		b, err := json.Marshal(m)
		return "PATCH", "/admin/v1/flows/" + id, b, err
	}
}

// setFlowStatus is `flows enable ID` and `flows disable ID`.
func setFlowStatus(status string) func(*flag.FlagSet) request {
	return func(*flag.FlagSet) request {
		return func(pos []string) (string, string, []byte, error) {
			id, err := oneID(pos)
			b, _ := json.Marshal(map[string]string{"status": status})
			return "PATCH", "/admin/v1/flows/" + id, b, err
		}
	}
}
