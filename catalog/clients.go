package catalog

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Client identity (see README "Client identity and token retirement"):
//
//   - A deleted client leaves a tombstone under its ID (Client.RetiredUntil)
//     instead of a KV delete. The ingress sets RetiredUntil past the
//     retention of everything kept under a client ID (job records and
//     results, events, DLQ entries, idempotency keys, queued jobs), so a
//     client created later under the same ID never inherits the old one's
//     data. The tombstone lives in the same key as the client, so a
//     concurrent create and delete cannot both win: every write is a
//     create or a compare-and-set on that key.
//   - Each incarnation of a client has a random TokenGeneration, carried by
//     its tokens; a secret rotation without overlap replaces it, which
//     retires every token issued before at once.
//   - External IDs are claimed in an index key per external ID
//     ("extid.<sha256>") in the clients bucket, created with Create (or
//     taken over with compare-and-set from an owner that no longer lists
//     it), so two clients can never hold the same external ID.

// Client errors.
var (
	// ErrRetired: the ID belongs to a deleted client whose data may still
	// be retained; it can be created again after RetiredError.Until.
	ErrRetired = errors.New("client ID retired")
	// ErrExternalIDTaken: another client already has the external ID.
	ErrExternalIDTaken = errors.New("external ID belongs to another client")
)

// RetiredError says until when a deleted client's ID stays retired. It
// wraps ErrRetired.
type RetiredError struct {
	ID    string
	Until time.Time
}

func (e *RetiredError) Error() string {
	return fmt.Sprintf("client ID %s was deleted and is retired until %s", e.ID, e.Until.UTC().Format(time.RFC3339))
}

// Unwrap returns ErrRetired.
func (e *RetiredError) Unwrap() error { return ErrRetired }

// ExternalIDTakenError names the external ID and its owner. It wraps
// ErrExternalIDTaken.
type ExternalIDTakenError struct {
	ExternalID, Owner string
}

func (e *ExternalIDTakenError) Error() string {
	return fmt.Sprintf("external ID %q belongs to client %s", e.ExternalID, e.Owner)
}

// Unwrap returns ErrExternalIDTaken.
func (e *ExternalIDTakenError) Unwrap() error { return ErrExternalIDTaken }

const (
	// extIDPrefix starts the index keys of external IDs in the clients
	// bucket (client IDs never contain a dot).
	extIDPrefix = "extid."
	// claimGrace is how long a fresh external ID claim is respected even
	// though its owner does not list the ID (yet): the owner's record is
	// written right after the claim.
	claimGrace = time.Minute
)

// NewTokenGeneration returns a random token generation.
func NewTokenGeneration() string { return rand.Text() }

func extIDKey(x string) string {
	h := sha256.Sum256([]byte(x))
	return extIDPrefix + hex.EncodeToString(h[:])
}

// Clients returns every client sorted by ID, from memory.
func (s *Store) Clients() []Client {
	s.mu.RLock()
	out := make([]Client, 0, len(s.clients))
	for _, c := range s.clients {
		out = append(out, c)
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// ClientByExternalID returns the client whose ExternalIDs hold id (the
// client claim of an external identity provider's token).
func (s *Store) ClientByExternalID(id string) (Client, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, c := range s.clients {
		for _, x := range c.ExternalIDs {
			if x == id {
				return c, true
			}
		}
	}
	return Client{}, false
}

// applyClientLocked applies a watched entry of the clients bucket.
// Tombstones and index keys are not clients.
func (s *Store) applyClientLocked(key string, b []byte, del bool) error {
	if len(key) > len(extIDPrefix) && key[:len(extIDPrefix)] == extIDPrefix {
		return nil
	}
	if del {
		delete(s.clients, key)
		return nil
	}
	var c Client
	if err := json.Unmarshal(b, &c); err != nil {
		return err
	}
	if c.RetiredUntil != nil {
		delete(s.clients, key)
		return nil
	}
	s.clients[key] = c
	return nil
}

// readClient reads a client record from KV: nil when there is none, the
// record (possibly a tombstone) and its revision otherwise.
func (s *Store) readClient(ctx context.Context, id string) (*Client, uint64, error) {
	e, err := s.clientsKV.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("catalog: read client %s: %w", id, err)
	}
	var c Client
	if err := json.Unmarshal(e.Value(), &c); err != nil {
		return nil, 0, fmt.Errorf("catalog: decode client %s: %w", id, err)
	}
	return &c, e.Revision(), nil
}

// PutClient validates and stores a client (create or replace). A replace
// keeps the stored TokenGeneration unless c sets one; a create assigns a
// new one. An ID still retired by a delete gives a RetiredError, an
// external ID of another client an ExternalIDTakenError. Callback
// prefixes are stored in normal form.
func (s *Store) PutClient(ctx context.Context, c Client, createOnly bool) error {
	c.normalizePrefixes()
	if err := c.Validate(); err != nil {
		return err
	}
	for range maxUpdateTries {
		old, rev, err := s.readClient(ctx, c.ID)
		if err != nil {
			return err
		}
		var prev []string
		switch {
		case old == nil:
		case old.RetiredUntil != nil:
			if time.Now().Before(*old.RetiredUntil) {
				return &RetiredError{ID: c.ID, Until: *old.RetiredUntil}
			}
		case createOnly:
			return fmt.Errorf("%s: %w", c.ID, ErrExists)
		default:
			prev = old.ExternalIDs
			if c.TokenGeneration == "" {
				c.TokenGeneration = old.TokenGeneration
			}
		}
		if c.TokenGeneration == "" {
			c.TokenGeneration = NewTokenGeneration()
		}
		done, err := s.writeClient(ctx, c, rev, prev)
		if err != nil || done {
			return err
		}
	}
	return fmt.Errorf("catalog: client %s: too many concurrent updates", c.ID)
}

// writeClient claims c's new external IDs, writes c (create when rev is 0,
// else compare-and-set on rev) and releases the external IDs of prev that
// c no longer has. done is false when another writer came first.
func (s *Store) writeClient(ctx context.Context, c Client, rev uint64, prev []string) (done bool, err error) {
	b, err := json.Marshal(c)
	if err != nil {
		return false, fmt.Errorf("catalog: encode client %s: %w", c.ID, err)
	}
	if err := checkRecordSize(b); err != nil {
		return false, fmt.Errorf("client %s: %w", c.ID, err)
	}
	claimed, err := s.claimExternalIDs(ctx, c.ID, without(c.ExternalIDs, prev))
	if err != nil {
		return false, err
	}
	var newRev uint64
	if rev == 0 {
		newRev, err = s.clientsKV.Create(ctx, c.ID, b)
	} else {
		newRev, err = s.clientsKV.Update(ctx, c.ID, b, rev)
	}
	if err != nil {
		s.releaseExternalIDs(ctx, c.ID, claimed)
		if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return false, nil
		}
		return false, fmt.Errorf("catalog: write client %s: %w", c.ID, err)
	}
	s.releaseExternalIDs(ctx, c.ID, without(prev, c.ExternalIDs))
	s.mu.Lock()
	if s.newerLocked(s.clientsKV.Bucket(), c.ID, newRev) {
		s.clients[c.ID] = c
		s.bumpLocked()
	}
	s.mu.Unlock()
	return true, nil
}

// without returns the elements of a that are not in b.
func without(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// claimExternalIDs makes id the owner of each external ID in xs and returns
// those it claimed now. An ID owned by another client that still lists it
// (or claimed by it less than claimGrace ago) is an ExternalIDTakenError,
// after the claims made so far are released.
func (s *Store) claimExternalIDs(ctx context.Context, id string, xs []string) ([]string, error) {
	var claimed []string
	for _, x := range xs {
		ok, err := s.claimExternalID(ctx, id, x)
		if err != nil {
			s.releaseExternalIDs(ctx, id, claimed)
			return nil, err
		}
		if ok {
			claimed = append(claimed, x)
		}
	}
	return claimed, nil
}

// claimExternalID claims x for id; ok is false when id held it already.
func (s *Store) claimExternalID(ctx context.Context, id, x string) (ok bool, err error) {
	// A client written before the index existed holds no claim key: the
	// view still knows it.
	if c, found := s.ClientByExternalID(x); found && c.ID != id {
		return false, &ExternalIDTakenError{ExternalID: x, Owner: c.ID}
	}
	key := extIDKey(x)
	for range maxUpdateTries {
		if _, err := s.clientsKV.Create(ctx, key, []byte(id)); err == nil {
			return true, nil
		} else if !errors.Is(err, jetstream.ErrKeyExists) {
			return false, fmt.Errorf("catalog: claim external ID: %w", err)
		}
		e, err := s.clientsKV.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // released meanwhile
		}
		if err != nil {
			return false, fmt.Errorf("catalog: read external ID claim: %w", err)
		}
		owner := string(e.Value())
		if owner == id {
			return false, nil
		}
		if time.Since(e.Created()) < claimGrace {
			return false, &ExternalIDTakenError{ExternalID: x, Owner: owner}
		}
		oc, _, err := s.readClient(ctx, owner)
		if err != nil {
			return false, err
		}
		if oc != nil && oc.RetiredUntil == nil && slices.Contains(oc.ExternalIDs, x) {
			return false, &ExternalIDTakenError{ExternalID: x, Owner: owner}
		}
		// A stale claim (its writer failed, or an older version): take it over.
		if _, err := s.clientsKV.Update(ctx, key, []byte(id), e.Revision()); err == nil {
			return true, nil
		} else if !errors.Is(err, jetstream.ErrKeyExists) && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return false, fmt.Errorf("catalog: claim external ID: %w", err)
		}
	}
	return false, fmt.Errorf("catalog: external ID claim: too many concurrent updates")
}

// releaseExternalIDs drops id's claims on xs, bound to the revision read
// so a claim another client took over meanwhile stays. Failures are
// logged only: a claim whose owner does not list the ID is taken over
// after claimGrace.
func (s *Store) releaseExternalIDs(ctx context.Context, id string, xs []string) {
	for _, x := range xs {
		key := extIDKey(x)
		e, err := s.clientsKV.Get(ctx, key)
		if err != nil || string(e.Value()) != id {
			continue
		}
		if err := s.clientsKV.Delete(ctx, key, jetstream.LastRevision(e.Revision())); err != nil {
			s.log.Warn("external ID claim not released", "client", id, "err", err)
		}
	}
}

// UpdateClient reads client id from KV, applies fn and writes it back with
// compare-and-set, retrying when another writer came first. fn may be
// called more than once. The stored client is returned. An error of fn, or
// a client that does not validate, wraps ErrInvalid; a deleted client
// (tombstone) is ErrNotFound; an external ID of another client is an
// ExternalIDTakenError. Callback prefixes are stored in normal form.
func (s *Store) UpdateClient(ctx context.Context, id string, fn func(*Client) error) (Client, error) {
	if !ValidID(id) {
		return Client{}, fmt.Errorf("client %q: %w", id, ErrNotFound)
	}
	for range maxUpdateTries {
		old, rev, err := s.readClient(ctx, id)
		if err != nil {
			return Client{}, err
		}
		if old == nil || old.RetiredUntil != nil {
			return Client{}, fmt.Errorf("client %s: %w", id, ErrNotFound)
		}
		c := *old
		c.ExternalIDs = slices.Clone(old.ExternalIDs)
		if err := fn(&c); err != nil {
			return Client{}, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		c.ID = id
		c.normalizePrefixes()
		if err := c.Validate(); err != nil {
			return Client{}, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		done, err := s.writeClient(ctx, c, rev, old.ExternalIDs)
		if err != nil {
			return Client{}, err
		}
		if done {
			return c, nil
		}
	}
	return Client{}, fmt.Errorf("catalog: client %s: too many concurrent updates", id)
}

// DeleteClient replaces a client by a tombstone that keeps its ID retired
// until retiredUntil (see RetiredError) and releases its external IDs.
// Every process drops the client from its view within moments (the
// watch), so its tokens stop working everywhere.
func (s *Store) DeleteClient(ctx context.Context, id string, retiredUntil time.Time) error {
	if !ValidID(id) {
		return fmt.Errorf("client %q: %w", id, ErrNotFound)
	}
	until := retiredUntil.UTC()
	b, err := json.Marshal(Client{ID: id, RetiredUntil: &until})
	if err != nil {
		return fmt.Errorf("catalog: encode client %s: %w", id, err)
	}
	for range maxUpdateTries {
		old, rev, err := s.readClient(ctx, id)
		if err != nil {
			return err
		}
		if old == nil || old.RetiredUntil != nil {
			return fmt.Errorf("client %s: %w", id, ErrNotFound)
		}
		newRev, err := s.clientsKV.Update(ctx, id, b, rev)
		if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			continue
		}
		if err != nil {
			return fmt.Errorf("catalog: delete client %s: %w", id, err)
		}
		s.releaseExternalIDs(ctx, id, old.ExternalIDs)
		s.mu.Lock()
		if s.newerLocked(s.clientsKV.Bucket(), id, newRev) {
			delete(s.clients, id)
			s.bumpLocked()
		}
		s.mu.Unlock()
		return nil
	}
	return fmt.Errorf("catalog: client %s: too many concurrent updates", id)
}

// ClientExists reads the clients bucket, not the watched view: false for a
// client never created or deleted (a tombstone).
func (s *Store) ClientExists(ctx context.Context, id string) (bool, error) {
	c, _, err := s.readClient(ctx, id)
	if err != nil {
		return false, err
	}
	return c != nil && c.RetiredUntil == nil, nil
}
