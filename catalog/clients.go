package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/nats-io/nats.go/jetstream"
)

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

// maxUpdateTries bounds the compare-and-set loop of UpdateClient.
const maxUpdateTries = 10

// UpdateClient reads client id from KV, applies fn and writes it back with
// compare-and-set, retrying when another writer came first. fn may be
// called more than once. The stored client is returned. An error of fn, or
// a client that does not validate, wraps ErrInvalid.
func (s *Store) UpdateClient(ctx context.Context, id string, fn func(*Client) error) (Client, error) {
	if !ValidID(id) {
		return Client{}, fmt.Errorf("client %q: %w", id, ErrNotFound)
	}
	for range maxUpdateTries {
		e, err := s.clientsKV.Get(ctx, id)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return Client{}, fmt.Errorf("client %s: %w", id, ErrNotFound)
		}
		if err != nil {
			return Client{}, fmt.Errorf("catalog: read client %s: %w", id, err)
		}
		var c Client
		if err := json.Unmarshal(e.Value(), &c); err != nil {
			return Client{}, fmt.Errorf("catalog: decode client %s: %w", id, err)
		}
		if err := fn(&c); err != nil {
			return Client{}, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		c.ID = id
		if err := c.Validate(); err != nil {
			return Client{}, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		b, err := json.Marshal(c)
		if err != nil {
			return Client{}, fmt.Errorf("catalog: encode client %s: %w", id, err)
		}
		if _, err := s.clientsKV.Update(ctx, id, b, e.Revision()); err != nil {
			if errors.Is(err, jetstream.ErrKeyExists) {
				continue // someone else wrote first: read again
			}
			return Client{}, fmt.Errorf("catalog: write client %s: %w", id, err)
		}
		s.mu.Lock()
		s.clients[id] = c
		s.bumpLocked()
		s.mu.Unlock()
		return c, nil
	}
	return Client{}, fmt.Errorf("catalog: client %s: too many concurrent updates", id)
}

// DeleteClient removes a client. Every process drops it from its view
// within moments (the watch), so its tokens stop working everywhere.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	if !ValidID(id) {
		return fmt.Errorf("client %q: %w", id, ErrNotFound)
	}
	e, err := s.clientsKV.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("client %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("catalog: read client %s: %w", id, err)
	}
	if err := s.clientsKV.Delete(ctx, id, jetstream.LastRevision(e.Revision())); err != nil {
		return fmt.Errorf("catalog: delete client %s: %w", id, err)
	}
	s.mu.Lock()
	delete(s.clients, id)
	s.bumpLocked()
	s.mu.Unlock()
	return nil
}
