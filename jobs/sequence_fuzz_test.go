package jobs_test

import (
	"strings"
	"testing"

	"github.com/cpibroker/cpibroker/internal/natsx"
	"github.com/cpibroker/cpibroker/jobs"
)

// FuzzOrderingKey: a valid key is 1-128 visible ASCII; every key maps to
// a sequence ID that ValidSequenceID accepts and that is a safe subject
// token string (no spaces, wildcards or empty tokens).
func FuzzOrderingKey(f *testing.F) {
	for _, s := range []string{"PO-1", "", " ", "é", strings.Repeat("k", 129), "a.b", "*", ">"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		ok := jobs.ValidOrderingKey(key)
		want := len(key) >= 1 && len(key) <= 128
		for i := 0; i < len(key); i++ {
			if key[i] < 0x21 || key[i] > 0x7e {
				want = false
			}
		}
		if ok != want {
			t.Fatalf("ValidOrderingKey(%q) = %v", key, ok)
		}
		id := natsx.SequenceID("acme", "orders", key)
		if !jobs.ValidSequenceID(id) || strings.ContainsAny(natsx.SequenceSubject(id), " *>\t") || strings.Contains(id, "..") {
			t.Fatalf("key %q: sequence ID %q", key, id)
		}
		if jobs.ValidSequenceID(key) && strings.Count(key, ".") != 2 {
			t.Fatalf("ValidSequenceID(%q)", key)
		}
	})
}
