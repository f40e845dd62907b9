package catalog

import (
	"context"
	"sort"
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

// UpdateClient reads client id from KV, applies fn and writes it back with
// compare-and-set, retrying when another writer came first. fn may be
// called more than once. The stored client is returned. An error of fn, or
// a client that does not validate, wraps ErrInvalid.
func (s *Store) UpdateClient(ctx context.Context, id string, fn func(*Client) error) (Client, error) {
	return casUpdate(ctx, s, s.clientsKV, "client", id, id, s.clients, fn, func(c *Client) { c.ID = id })
}

// DeleteClient removes a client. Every process drops it from its view
// within moments (the watch), so its tokens stop working everywhere.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	return casDelete(ctx, s, s.clientsKV, "client", id, id, s.clients)
}
