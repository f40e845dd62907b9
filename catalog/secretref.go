package catalog

import (
	"fmt"
	"strings"
)

// Redacted is what the API answers in place of a secret.
const Redacted = "***"

// ResolveSecret replaces ${NAME} references in s with environment values
// from lookup. A reference to an unset variable is an error that names it
// (never the value). Provider secrets may be stored as references, so
// that the secret itself lives only in the environment of the processes
// that use it (dispatchers and discovery).
func ResolveSecret(s string, lookup func(string) (string, bool)) (string, error) {
	var missing []string
	out := envRef.ReplaceAllStringFunc(s, func(m string) string {
		name := envRef.FindStringSubmatch(m)[1]
		v, ok := lookup(name)
		if !ok {
			missing = append(missing, name)
		}
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("environment variable %s is not set in this process", strings.Join(missing, ", "))
	}
	return out, nil
}

// Resolved returns e with its client secret's ${NAME} references replaced.
func (e Endpoint) Resolved(lookup func(string) (string, bool)) (Endpoint, error) {
	sec, err := ResolveSecret(e.ClientSecret, lookup)
	if err != nil {
		return e, fmt.Errorf("clientsecret: %w", err)
	}
	e.ClientSecret = sec
	return e, nil
}

// Redact returns p with every client secret replaced by "***", as the
// admin API shows a provider.
func (p Provider) Redact() Provider {
	if p.Runtime.ClientSecret != "" {
		p.Runtime.ClientSecret = Redacted
	}
	if p.API != nil {
		api := *p.API
		if api.ClientSecret != "" {
			api.ClientSecret = Redacted
		}
		p.API = &api
	}
	return p
}

// KeepSecrets returns p with every client secret that is "***" (a value
// read from the API and sent back) replaced by the one in cur.
func (p Provider) KeepSecrets(cur Provider) Provider {
	if p.Runtime.ClientSecret == Redacted {
		p.Runtime.ClientSecret = cur.Runtime.ClientSecret
	}
	if p.API != nil && p.API.ClientSecret == Redacted {
		api := *p.API
		api.ClientSecret = ""
		if cur.API != nil {
			api.ClientSecret = cur.API.ClientSecret
		}
		p.API = &api
	}
	return p
}
