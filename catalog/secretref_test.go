package catalog_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cpibroker/cpibroker/catalog"
)

func TestSecretRefs(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "api-key"), []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"CPIB_A": "alpha", "HOME": "/root", "PATH": "/bin"}
	refs := catalog.SecretRefs{Dir: dir, LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
	for in, want := range map[string]string{
		"plain":                    "plain",
		"${CPIB_A}":                "alpha",
		"x-${CPIB_A}-y":            "x-alpha-y",
		"${file:api-key}":          "from-file",
		"$CPIB_A":                  "$CPIB_A",
		"literal-${not a ref}":     "literal-${not a ref}",
		"abc$def=":                 "abc$def=",
		"${CPIB_A}${file:api-key}": "alphafrom-file",
	} {
		if err := refs.Check(in); err != nil {
			t.Errorf("Check(%q) = %v", in, err)
		}
		if got, err := refs.Resolve(in); err != nil || got != want {
			t.Errorf("Resolve(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"${HOME}", "${PATH}", "a${HOME}", "${CPIB_}"} {
		if err := refs.Check(in); !errors.Is(err, catalog.ErrSecretRef) {
			t.Errorf("Check(%q) = %v, want ErrSecretRef", in, err)
		}
		if got, err := refs.Resolve(in); err == nil || strings.Contains(got+err.Error(), "/root") || strings.Contains(err.Error(), "/bin") {
			t.Errorf("Resolve(%q) = %q, %v", in, got, err)
		}
	}
	noDir := catalog.SecretRefs{LookupEnv: refs.LookupEnv}
	if err := noDir.Check("${file:api-key}"); !errors.Is(err, catalog.ErrSecretRef) {
		t.Errorf("file reference without a secrets directory: %v", err)
	}
	if _, err := refs.Resolve("${CPIB_UNSET}"); err == nil || !strings.Contains(err.Error(), "CPIB_UNSET") {
		t.Errorf("unset variable: %v", err)
	}
	if _, err := refs.Resolve("${file:missing}"); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing file: %v", err)
	}
	custom := catalog.SecretRefs{EnvPrefix: "ACME_", LookupEnv: func(k string) (string, bool) { return "v", true }}
	if err := custom.Check("${ACME_X}"); err != nil {
		t.Errorf("custom prefix: %v", err)
	}
	if err := custom.Check("${CPIB_X}"); err == nil {
		t.Error("the default prefix passed a custom one")
	}
}

// FuzzSecretRefs: whatever the secret text, resolving never reads a
// variable without the prefix or a file outside the directory, and what
// Check accepts resolves without a reference error.
func FuzzSecretRefs(f *testing.F) {
	for _, s := range []string{"${HOME}", "${CPIB_A}", "${file:k}", "${file:../etc/passwd}", "x${", "${}", "$${CPIB_A}}"} {
		f.Add(s)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, s string) {
		refs := catalog.SecretRefs{
			Dir: dir,
			LookupEnv: func(k string) (string, bool) {
				if !strings.HasPrefix(k, "CPIB_") {
					t.Fatalf("%q read variable %q", s, k)
				}
				return "v", true
			},
			ReadFile: func(p string) ([]byte, error) {
				if filepath.Dir(p) != dir || strings.HasPrefix(filepath.Base(p), ".") {
					t.Fatalf("%q read file %q", s, p)
				}
				return []byte("f"), nil
			},
		}
		checkErr := refs.Check(s)
		_, err := refs.Resolve(s)
		if checkErr == nil && errors.Is(err, catalog.ErrSecretRef) {
			t.Fatalf("%q passed Check but Resolve refused it: %v", s, err)
		}
	})
}
