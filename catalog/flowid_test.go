package catalog

import (
	"strings"
	"testing"
)

func TestSlug(t *testing.T) {
	for in, want := range map[string]string{
		"Orders_Create": "orders-create", "__A..b//C__": "a-b-c", "/orders/*": "orders", "ÄÖ": "", "x": "x",
	} {
		if got := Slug(in); got != want {
			t.Errorf("Slug(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNewFlowID(t *testing.T) {
	none := func(string) bool { return false }
	if got := NewFlowID("acme-prod", "Orders_Create", "/orders/create", false, none); got != "acme-prod-orders-create" {
		t.Fatalf("plain: %q", got)
	}
	if got := NewFlowID("acme-prod", "Orders", "/orders/create", true, none); got != "acme-prod-orders-orders-create" {
		t.Fatalf("with address: %q", got)
	}
	// "Orders_Create" and "Orders-Create" slug the same: the second gets a hash.
	taken := map[string]bool{"acme-prod-orders-create": true}
	got := NewFlowID("acme-prod", "Orders-Create", "/oc", false, func(id string) bool { return taken[id] })
	if !strings.HasPrefix(got, "acme-prod-orders-create-") || len(got) != len("acme-prod-orders-create-")+6 || !ValidID(got) {
		t.Fatalf("collision: %q", got)
	}
	// Deterministic: the same inputs give the same ID.
	if again := NewFlowID("acme-prod", "Orders-Create", "/oc", false, func(id string) bool { return taken[id] }); again != got {
		t.Fatalf("not deterministic: %q then %q", got, again)
	}
	long := NewFlowID("acme-prod", strings.Repeat("VeryLongArtifactName_", 5), "/x", false, none)
	if len(long) > 63 || !ValidID(long) || !strings.HasPrefix(long, "acme-prod-verylongartifactname-") {
		t.Fatalf("long: %q (%d)", long, len(long))
	}
	// Everything taken but hashes: still valid.
	all := NewFlowID("p", "a", "/", false, func(id string) bool { return len(id) < 20 })
	if !ValidID(all) || len(all) < 20 {
		t.Fatalf("crowded: %q", all)
	}
}

func FuzzNewFlowID(f *testing.F) {
	f.Add("acme", "Orders_Create", "/orders/*", true)
	f.Fuzz(func(t *testing.T, provider, artifact, address string, withAddr bool) {
		id := NewFlowID(provider, artifact, address, withAddr, func(id string) bool { return len(id)%3 == 0 })
		if !ValidID(id) {
			t.Fatalf("NewFlowID(%q,%q,%q) = %q, not a valid ID", provider, artifact, address, id)
		}
	})
}
