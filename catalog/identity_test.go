package catalog_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/devkit/testkit"
)

// TestStore_client_tombstone: a deleted client leaves a tombstone that
// every process treats as absent and that refuses a create until its
// time has passed; the client created then has a new token generation.
func TestStore_client_tombstone(t *testing.T) {
	ctx := ctxT(t)
	ns, _, res := testkit.NATS(t)
	a := run(t, res.Catalog, res.Clients)
	other := otherProcess(t, ns)
	b := run(t, other.Catalog, other.Clients)

	c := validClient()
	c.SecretHashes = []string{hashed(t, "s3cret")}
	c.ExternalIDs = []string{"sb-1"}
	if err := a.PutClient(ctx, c, true); err != nil {
		t.Fatal(err)
	}
	first, _ := a.Client(c.ID)
	if first.TokenGeneration == "" {
		t.Fatal("a created client has no token generation")
	}
	eventually(t, b, "the other process sees the client", func() bool { _, ok := b.Client(c.ID); return ok })

	if err := a.DeleteClient(ctx, c.ID, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	eventually(t, b, "the other process drops the client", func() bool { _, ok := b.Client(c.ID); return !ok })
	for _, s := range []*catalog.Store{a, b} {
		if err := s.PutClient(ctx, c, true); !errors.Is(err, catalog.ErrRetired) {
			t.Fatalf("create of a retired ID: %v", err)
		}
		if err := s.PutClient(ctx, c, false); !errors.Is(err, catalog.ErrRetired) {
			t.Fatalf("replace of a retired ID: %v", err)
		}
		if _, err := s.UpdateClient(ctx, c.ID, func(*catalog.Client) error { return nil }); !errors.Is(err, catalog.ErrNotFound) {
			t.Fatalf("update of a deleted client: %v", err)
		}
		if _, err := s.VerifySecret(c.ID, "s3cret"); err == nil {
			t.Fatal("a deleted client authenticates")
		}
	}
	if err := a.DeleteClient(ctx, c.ID, time.Now()); !errors.Is(err, catalog.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}

	// A tombstone whose time has passed frees the ID.
	c2 := validClient()
	c2.ID = "shortlived"
	c2.SecretHashes = c.SecretHashes
	if err := a.PutClient(ctx, c2, true); err != nil {
		t.Fatal(err)
	}
	gen, _ := a.Client(c2.ID)
	if err := a.DeleteClient(ctx, c2.ID, time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := b.PutClient(ctx, c2, true); err != nil {
		t.Fatalf("create after the retirement: %v", err)
	}
	again, ok := b.Client(c2.ID)
	if !ok || again.TokenGeneration == "" || again.TokenGeneration == gen.TokenGeneration {
		t.Fatalf("re-created client %+v keeps generation %q", again, gen.TokenGeneration)
	}
	// The first client's external ID was released by its delete.
	c2.ExternalIDs = []string{"sb-1"}
	if err := b.PutClient(ctx, c2, false); err != nil {
		t.Fatalf("claim a released external ID: %v", err)
	}
	if got, _ := b.Client(c2.ID); got.TokenGeneration != again.TokenGeneration {
		t.Fatal("a replace changed the token generation")
	}
}

// TestStore_external_id_of_a_client_without_claim: a client stored before
// external IDs were indexed (no claim key) still keeps its external IDs
// from being given to another client.
func TestStore_external_id_of_a_client_without_claim(t *testing.T) {
	ctx := ctxT(t)
	_, _, res := testkit.NATS(t)
	old := validClient()
	old.ID, old.ExternalIDs = "legacy", []string{"sb-legacy"}
	old.SecretHashes = []string{hashed(t, "s3cret")}
	b, err := json.Marshal(old)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := res.Clients.Put(ctx, old.ID, b); err != nil { // as an older version wrote it
		t.Fatal(err)
	}
	s := run(t, res.Catalog, res.Clients)
	c := validClient()
	c.ID, c.ExternalIDs, c.SecretHashes = "newcomer", []string{"sb-legacy"}, old.SecretHashes
	if err := s.PutClient(ctx, c, true); !errors.Is(err, catalog.ErrExternalIDTaken) {
		t.Fatalf("create with a legacy client's external ID: %v", err)
	}
}
