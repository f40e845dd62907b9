package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// dockerIgnored reports whether Docker's rules exclude rel (a slash path
// from the context root): a pattern matches the path or one of its parent
// directories; "**" matches any number of directories.
func dockerIgnored(patterns []string, rel string) bool {
	parts := strings.Split(rel, "/")
	ignored := false
	for _, p := range patterns {
		neg := strings.HasPrefix(p, "!")
		p = strings.TrimPrefix(strings.TrimPrefix(p, "!"), "/")
		re := regexp.MustCompile("^" + globRegexp(p) + "$")
		for i := 1; i <= len(parts); i++ {
			if re.MatchString(strings.Join(parts[:i], "/")) {
				ignored = !neg
				break
			}
		}
	}
	return ignored
}

func globRegexp(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case strings.HasPrefix(p[i:], "**/"):
			b.WriteString("(.*/)?")
			i += 2
		case strings.HasPrefix(p[i:], "**"):
			b.WriteString(".*")
			i++
		case c == '*':
			b.WriteString("[^/]*")
		case c == '?':
			b.WriteString("[^/]")
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	return b.String()
}

// The image build context leaves out the data dir (store, signing key,
// demo credentials) wherever it is, and keeps the sources.
func TestDockerignore(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for l := range strings.SplitSeq(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			patterns = append(patterns, l)
		}
	}
	for _, out := range []string{"data", "data/signing-key.pem", "data/demo-credentials.json", "data/jetstream/jetstream/$G/streams/JOBS/meta.inf",
		"tmp/data/signing-key.pem", "my-signing-key.pem", "deploy/demo-credentials.json", ".git/config", "bin/cpibroker", "cpibroker"} {
		if !dockerIgnored(patterns, out) {
			t.Errorf("%s would be sent to the image build", out)
		}
	}
	for _, in := range []string{"go.mod", "go.sum", "cmd/cpibroker/main.go", "catalog/openapi/testdata/partner.json", "deploy/Dockerfile", "devkit/cpisim/sim.go"} {
		if dockerIgnored(patterns, in) {
			t.Errorf("%s is left out of the image build", in)
		}
	}
}
