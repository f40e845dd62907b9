package catalog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Redacted is what the API answers in place of a secret.
const Redacted = "***"

// DefaultSecretEnvPrefix is the prefix every environment variable named by
// a provider secret reference must have, unless configured otherwise.
const DefaultSecretEnvPrefix = "CPIB_"

// ErrSecretRef marks a provider secret reference that may not be used.
var ErrSecretRef = errors.New("secret reference not allowed")

// secretRef matches a reference in a provider secret: ${NAME} (an
// environment variable) or ${file:NAME} (a file in the secrets directory).
// Anything else, "${" included, is literal text.
var secretRef = regexp.MustCompile(`\$\{(file:[A-Za-z0-9_][A-Za-z0-9._-]{0,127}|[A-Za-z_][A-Za-z0-9_]{0,127})\}`)

// SecretRefs says which references a provider client secret may hold and
// resolves them. Provider secrets may be stored as references, so that the
// secret itself lives only where the processes that use it (dispatchers and
// discovery) run. An admin who may register providers must not be able to
// read the broker's environment through them: a reference names only an
// environment variable that starts with EnvPrefix, or a file directly in
// Dir.
type SecretRefs struct {
	// EnvPrefix is the prefix of the environment variables a reference
	// may name (--secret-env-prefix). Default DefaultSecretEnvPrefix.
	EnvPrefix string
	// Dir is the directory ${file:NAME} reads (--secrets-dir); empty
	// refuses file references.
	Dir string
	// LookupEnv reads the environment. Default os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// ReadFile reads a secret file. Default os.ReadFile.
	ReadFile func(string) ([]byte, error)
}

func (r SecretRefs) withDefaults() SecretRefs {
	if r.EnvPrefix == "" {
		r.EnvPrefix = DefaultSecretEnvPrefix
	}
	if r.LookupEnv == nil {
		r.LookupEnv = os.LookupEnv
	}
	if r.ReadFile == nil {
		r.ReadFile = os.ReadFile
	}
	return r
}

// Validate reports an unusable setting.
func (r SecretRefs) Validate() error {
	if r.EnvPrefix != "" && !regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`).MatchString(r.EnvPrefix) {
		return fmt.Errorf("secret env prefix %q must be letters, digits and _", r.EnvPrefix)
	}
	return nil
}

// allowed reports why the reference ref (what is between ${ and }) may not
// be used, or nil.
func (r SecretRefs) allowed(ref string) error {
	if name, ok := strings.CutPrefix(ref, "file:"); ok {
		if r.Dir == "" {
			return fmt.Errorf("%w: ${%s}: file references need a secrets directory (--secrets-dir)", ErrSecretRef, ref)
		}
		if name == "." || name == ".." || strings.HasPrefix(name, ".") {
			return fmt.Errorf("%w: ${%s}: not a file name", ErrSecretRef, ref)
		}
		return nil
	}
	if !strings.HasPrefix(ref, r.EnvPrefix) || ref == r.EnvPrefix {
		return fmt.Errorf("%w: ${%s}: environment references must name a variable starting with %s", ErrSecretRef, ref, r.EnvPrefix)
	}
	return nil
}

// Check reports every reference of s that may not be used (errors wrap
// ErrSecretRef). It does not read the environment or files: the secret
// lives where it is used, which need not be this process.
func (r SecretRefs) Check(s string) error {
	r = r.withDefaults()
	var errs []error
	for _, m := range secretRef.FindAllStringSubmatch(s, -1) {
		if err := r.allowed(m[1]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Resolve replaces the references in s. A reference that may not be used,
// an unset variable or an unreadable file is an error that names it
// (never a value). A file's trailing newline is dropped.
func (r SecretRefs) Resolve(s string) (string, error) {
	r = r.withDefaults()
	var errs []error
	out := secretRef.ReplaceAllStringFunc(s, func(m string) string {
		ref := secretRef.FindStringSubmatch(m)[1]
		if err := r.allowed(ref); err != nil {
			errs = append(errs, err)
			return ""
		}
		if name, ok := strings.CutPrefix(ref, "file:"); ok {
			b, err := r.ReadFile(filepath.Join(r.Dir, name))
			if err != nil {
				errs = append(errs, fmt.Errorf("secret file %s cannot be read in this process", name))
				return ""
			}
			return strings.TrimRight(string(b), "\r\n")
		}
		v, ok := r.LookupEnv(ref)
		if !ok {
			errs = append(errs, fmt.Errorf("environment variable %s is not set in this process", ref))
		}
		return v
	})
	if err := errors.Join(errs...); err != nil {
		return "", err
	}
	return out, nil
}

// Resolved returns e with its client secret's references resolved.
func (e Endpoint) Resolved(refs SecretRefs) (Endpoint, error) {
	sec, err := refs.Resolve(e.ClientSecret)
	if err != nil {
		return e, fmt.Errorf("clientsecret: %w", err)
	}
	e.ClientSecret = sec
	return e, nil
}

// CheckSecretRefs reports every reference in the provider's client
// secrets that refs does not allow, naming the field.
func (p Provider) CheckSecretRefs(refs SecretRefs) error {
	var errs []error
	if err := refs.Check(p.Runtime.ClientSecret); err != nil {
		errs = append(errs, fmt.Errorf("runtime.clientsecret: %w", err))
	}
	if p.API != nil {
		if err := refs.Check(p.API.ClientSecret); err != nil {
			errs = append(errs, fmt.Errorf("api.clientsecret: %w", err))
		}
	}
	return errors.Join(errs...)
}

// ErrSecretNotResupplied marks a provider change that points a stored
// secret at a new URL without the secret.
var ErrSecretNotResupplied = errors.New("secret must be re-supplied")

// CheckSecretTargets refuses a change from cur to p that sends a kept
// client secret to a URL it was not sent to before: when an endpoint's
// url or tokenurl changes, its clientsecret must be given again (not
// "***", not left out), or an admin could point a stored secret at a
// server of theirs and read it there (Test Connection, discovery and
// every job send it). supplied reports, per endpoint ("runtime", "api"),
// whether the change carries a new secret.
func CheckSecretTargets(cur, p Provider, supplied map[string]bool) error {
	var errs []error
	check := func(name string, old, now *Endpoint) {
		if old == nil || now == nil || old.ClientSecret == "" || supplied[name] {
			return
		}
		if old.URL != now.URL || old.TokenURL != now.TokenURL {
			errs = append(errs, fmt.Errorf("%w: %s.clientsecret must be given again when %s.url or %s.tokenurl changes", ErrSecretNotResupplied, name, name, name))
		}
	}
	check("runtime", &cur.Runtime, &p.Runtime)
	check("api", cur.API, p.API)
	return errors.Join(errs...)
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
