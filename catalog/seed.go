package catalog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// Seed is the content of a --config file: providers, flows and clients in
// the shapes of the admin API (DESIGN 3.1). Secrets may be written as
// ${ENV} references; client secrets are stored only as hashes.
type Seed struct {
	Providers []Provider   `json:"providers"`
	Flows     []Flow       `json:"flows"`
	Clients   []SeedClient `json:"clients"`
}

// SeedClient is a client as written in a seed file: the client resource
// plus its secret in plain text (or as ${ENV}). It is hashed before it is
// stored. webhook_secret, when absent, is generated.
type SeedClient struct {
	Client
	ClientSecret string `json:"client_secret"`
}

// SeedResult counts what ApplySeed did.
type SeedResult struct {
	Created, Overwritten, Kept int
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// LoadSeed reads a YAML (or JSON) seed file. ${NAME} references are
// replaced by environment variables; an unset variable is an error. Unknown
// fields are errors, as in the admin API.
func LoadSeed(path string) (*Seed, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("catalog: seed: %w", err)
	}
	s, err := ParseSeed(b, os.LookupEnv)
	if err != nil {
		return nil, fmt.Errorf("catalog: seed %s: %w", path, err)
	}
	return s, nil
}

// ParseSeed decodes seed YAML, expanding ${NAME} with lookup.
func ParseSeed(b []byte, lookup func(string) (string, bool)) (*Seed, error) {
	var tree any
	if err := yaml.Unmarshal(b, &tree); err != nil {
		return nil, fmt.Errorf("yaml: %w", err)
	}
	if tree == nil {
		return &Seed{}, nil
	}
	var missing []string
	tree = expand(tree, lookup, &missing)
	if len(missing) > 0 {
		return nil, fmt.Errorf("environment variables not set: %s", strings.Join(missing, ", "))
	}
	j, err := json.Marshal(tree)
	if err != nil {
		return nil, fmt.Errorf("seed is not a JSON-compatible document: %w", err)
	}
	var doc struct {
		Providers []json.RawMessage `json:"providers"`
		Flows     []json.RawMessage `json:"flows"`
		Clients   []json.RawMessage `json:"clients"`
	}
	if err := DecodeStrict(j, &doc); err != nil {
		return nil, err
	}
	s := &Seed{}
	for i, raw := range doc.Providers {
		p := NewProvider()
		if err := DecodeStrict(raw, &p); err != nil {
			return nil, fmt.Errorf("providers[%d]: %w", i, err)
		}
		s.Providers = append(s.Providers, p)
	}
	for i, raw := range doc.Flows {
		f := Flow{Status: FlowDisabled, Policy: DefaultPolicy()}
		if err := DecodeStrict(raw, &f); err != nil {
			return nil, fmt.Errorf("flows[%d]: %w", i, err)
		}
		s.Flows = append(s.Flows, f)
	}
	for i, raw := range doc.Clients {
		c := SeedClient{Client: Client{Enabled: true}}
		if err := DecodeStrict(raw, &c); err != nil {
			return nil, fmt.Errorf("clients[%d]: %w", i, err)
		}
		// A webhook is enabled unless it says otherwise, as in the API.
		var hooks struct {
			Webhooks []struct {
				Enabled *bool `json:"enabled"`
			} `json:"webhooks"`
		}
		_ = json.Unmarshal(raw, &hooks)
		for k, w := range hooks.Webhooks {
			if k < len(c.Webhooks) && w.Enabled == nil {
				c.Webhooks[k].Enabled = true
			}
		}
		s.Clients = append(s.Clients, c)
	}
	return s, nil
}

// DecodeStrict decodes one JSON value into v, which may hold defaults:
// fields absent from b keep them. Unknown fields and trailing data are
// errors.
func DecodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("unexpected data after the JSON value")
	}
	return nil
}

// expand replaces ${NAME} in every string of a decoded YAML tree.
func expand(v any, lookup func(string) (string, bool), missing *[]string) any {
	switch t := v.(type) {
	case string:
		return envRef.ReplaceAllStringFunc(t, func(m string) string {
			name := envRef.FindStringSubmatch(m)[1]
			val, ok := lookup(name)
			if !ok {
				*missing = append(*missing, name)
			}
			return val
		})
	case map[string]any:
		for k, e := range t {
			t[k] = expand(e, lookup, missing)
		}
	case []any:
		for i, e := range t {
			t[i] = expand(e, lookup, missing)
		}
	}
	return v
}

// URLChecker checks a webhook URL or callback prefix against the SSRF
// policy (ssrf.Guard).
type URLChecker interface {
	CheckURL(ctx context.Context, raw string) error
}

// CheckTargets refuses webhook URLs and callback prefixes whose host is,
// or resolves to, an address g refuses (DESIGN 7.2), naming the field: the
// admin API and a --config seed check them alike at registration.
func CheckTargets(ctx context.Context, g URLChecker, hooks []Webhook, prefixes []string) error {
	var errs []error
	for _, w := range hooks {
		if err := g.CheckURL(ctx, w.URL); err != nil {
			errs = append(errs, fmt.Errorf("webhook %s url: %w", w.ID, err))
		}
	}
	for _, p := range prefixes {
		if err := g.CheckURL(ctx, p); err != nil {
			errs = append(errs, fmt.Errorf("callback prefix %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

// Check validates the whole seed as the admin API validates each
// resource, before anything is written: IDs, every field (Validate), the
// provider secret references refs allows, and the SSRF check of webhook
// URLs and callback prefixes with g (nil skips it). Errors name the
// resource and the field.
func (seed *Seed) Check(ctx context.Context, g URLChecker, refs SecretRefs) error {
	var errs []error
	for i, p := range seed.Providers {
		if err := errors.Join(p.Validate(), p.CheckSecretRefs(refs)); err != nil {
			errs = append(errs, fmt.Errorf("providers[%d] %s: %w", i, p.ID, err))
		}
	}
	for i, f := range seed.Flows {
		if err := f.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("flows[%d] %s: %w", i, f.ID, err))
		}
	}
	for i, sc := range seed.Clients {
		c, err := sc.client()
		if err == nil {
			c.normalizePrefixes()
			err = c.Validate()
		}
		if err == nil && g != nil {
			err = CheckTargets(ctx, g, c.Webhooks, c.CallbackPrefixes)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("clients[%d] %s: %w", i, sc.ID, err))
		}
	}
	return errors.Join(errs...)
}

// ApplySeed creates every provider, flow and client of the seed that does
// not exist yet. Existing ones are kept as they are (live state wins),
// unless overwrite is set, which replaces them with the seed's version.
// (ParseSeed gives flows without a status the status disabled and the
// default policy for fields left out; clients are enabled unless the seed
// says otherwise and take the defaults of SetDefaults.)
func (s *Store) ApplySeed(ctx context.Context, seed *Seed, overwrite bool) (SeedResult, error) {
	var res SeedResult
	count := func(existed bool, err error) error {
		switch {
		case errors.Is(err, ErrExists):
			res.Kept++
			return nil
		case err != nil:
			return err
		case existed:
			res.Overwritten++
		default:
			res.Created++
		}
		return nil
	}
	for _, p := range seed.Providers {
		_, existed := s.Provider(p.ID)
		if err := count(existed, s.PutProvider(ctx, p, !overwrite)); err != nil {
			return res, fmt.Errorf("provider %s: %w", p.ID, err)
		}
	}
	for _, f := range seed.Flows {
		_, existed := s.Flow(f.ID)
		if err := count(existed, s.PutFlow(ctx, f, !overwrite)); err != nil {
			return res, fmt.Errorf("flow %s: %w", f.ID, err)
		}
	}
	for _, sc := range seed.Clients {
		c, err := sc.client()
		if err != nil {
			return res, fmt.Errorf("client %s: %w", sc.ID, err)
		}
		_, existed := s.Client(c.ID)
		if existed && !overwrite {
			res.Kept++
			continue
		}
		if err := count(existed, s.PutClient(ctx, c, !overwrite)); err != nil {
			return res, fmt.Errorf("client %s: %w", sc.ID, err)
		}
	}
	return res, nil
}

// client turns a seed entry into a stored client: secret hashed, webhook
// secret generated when absent, defaults filled.
func (sc SeedClient) client() (Client, error) {
	c := sc.Client
	if sc.ClientSecret == "" && len(c.SecretHashes) == 0 {
		return Client{}, errors.New("client_secret is required (plain text or ${ENV})")
	}
	if sc.ClientSecret != "" {
		h, err := HashSecret(sc.ClientSecret)
		if err != nil {
			return Client{}, err
		}
		c.SecretHashes = []string{h}
	}
	if c.WebhookSecret == "" {
		c.WebhookSecret = NewWebhookSecret()
	}
	c.SetDefaults()
	return c, nil
}
