package catalog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// maxUpdateTries bounds the compare-and-set loops of the Update methods.
const maxUpdateTries = 10

// validating is a stored resource.
type validating interface{ Validate() error }

// casUpdate reads key from kv, applies fn and writes it back with
// compare-and-set, retrying when another writer came first. fn may be
// called more than once. An error of fn, or a value that does not
// validate, wraps ErrInvalid; fixID restores the ID fn must not change.
func casUpdate[T validating](ctx context.Context, s *Store, kv jetstream.KeyValue, kind, key, id string,
	m map[string]T, fn func(*T) error, fixID func(*T)) (T, error) {
	var zero T
	if !ValidID(id) {
		return zero, fmt.Errorf("%s %q: %w", kind, id, ErrNotFound)
	}
	for range maxUpdateTries {
		e, err := kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return zero, fmt.Errorf("%s %s: %w", kind, id, ErrNotFound)
		}
		if err != nil {
			return zero, fmt.Errorf("catalog: read %s %s: %w", kind, id, err)
		}
		var v T
		if err := json.Unmarshal(e.Value(), &v); err != nil {
			return zero, fmt.Errorf("catalog: decode %s %s: %w", kind, id, err)
		}
		if err := fn(&v); err != nil {
			if errors.Is(err, ErrNotFound) {
				return zero, err
			}
			return zero, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		fixID(&v)
		if err := v.Validate(); err != nil {
			return zero, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		b, err := json.Marshal(v)
		if err != nil {
			return zero, fmt.Errorf("catalog: encode %s %s: %w", kind, id, err)
		}
		if err := checkRecordSize(b); err != nil {
			return zero, fmt.Errorf("%s %s: %w", kind, id, err)
		}
		rev, err := kv.Update(ctx, key, b, e.Revision())
		if err != nil {
			if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
				continue // someone else wrote first: read again
			}
			return zero, fmt.Errorf("catalog: write %s %s: %w", kind, id, err)
		}
		s.mu.Lock()
		if s.newerLocked(kv.Bucket(), key, rev) {
			m[id] = v
			s.bumpLocked()
		}
		s.mu.Unlock()
		return v, nil
	}
	return zero, fmt.Errorf("catalog: %s %s: too many concurrent updates", kind, id)
}

// casDelete removes key from kv if it exists, bound to the revision read.
func casDelete[T any](ctx context.Context, s *Store, kv jetstream.KeyValue, kind, key, id string, m map[string]T) error {
	if !ValidID(id) {
		return fmt.Errorf("%s %q: %w", kind, id, ErrNotFound)
	}
	e, err := kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("%s %s: %w", kind, id, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("catalog: read %s %s: %w", kind, id, err)
	}
	if err := kv.Delete(ctx, key, jetstream.LastRevision(e.Revision())); err != nil {
		return fmt.Errorf("catalog: delete %s %s: %w", kind, id, err)
	}
	s.mu.Lock()
	// The delete marker's revision is not returned; recording the deleted
	// revision keeps a replay of it (or anything older) from reviving the
	// entry, and the marker itself arrives later with a higher revision.
	s.newerLocked(kv.Bucket(), key, e.Revision())
	delete(m, id)
	s.bumpLocked()
	s.mu.Unlock()
	return nil
}

// UpdateFlow reads flow id from KV, applies fn and writes it back with
// compare-and-set (see UpdateClient).
func (s *Store) UpdateFlow(ctx context.Context, id string, fn func(*Flow) error) (Flow, error) {
	return casUpdate(ctx, s, s.catalogKV, "flow", flowPrefix+id, id, s.flows, fn, func(f *Flow) { f.ID = id })
}

// UpdateProvider reads provider id from KV, applies fn and writes it back
// with compare-and-set (see UpdateClient).
func (s *Store) UpdateProvider(ctx context.Context, id string, fn func(*Provider) error) (Provider, error) {
	return casUpdate(ctx, s, s.catalogKV, "provider", providerPrefix+id, id, s.providers, fn, func(p *Provider) { p.ID = id })
}

// DeleteProvider removes a provider.
func (s *Store) DeleteProvider(ctx context.Context, id string) error {
	return casDelete(ctx, s, s.catalogKV, "provider", providerPrefix+id, id, s.providers)
}

// Providers returns every provider sorted by ID, from memory.
func (s *Store) Providers() []Provider {
	s.mu.RLock()
	out := make([]Provider, 0, len(s.providers))
	for _, p := range s.providers {
		out = append(out, p)
	}
	s.mu.RUnlock()
	sortByID(out, func(p Provider) string { return p.ID })
	return out
}

// ProviderFlows returns the flows of one provider sorted by ID, from memory.
func (s *Store) ProviderFlows(providerID string) []Flow {
	s.mu.RLock()
	var out []Flow
	for _, f := range s.flows {
		if f.Provider == providerID {
			out = append(out, f)
		}
	}
	s.mu.RUnlock()
	sortByID(out, func(f Flow) string { return f.ID })
	return out
}

// RetireProviderFlows marks the flows of a provider unavailable, keeping
// each one's status in AvailableStatus so that it comes back as it was
// once its iFlow is deployed again (or the provider is created again). A
// flow already unavailable, or one keep selects, is left alone; nil keeps
// none. It returns how many flows it marked; a flow that fails to update
// does not stop the others, and the errors are joined.
func (s *Store) RetireProviderFlows(ctx context.Context, provider string, keep func(Flow) bool) (int, error) {
	n := 0
	var errs []error
	for _, f := range s.ProviderFlows(provider) {
		if f.Status == FlowUnavailable || (keep != nil && keep(f)) {
			continue
		}
		if _, err := s.UpdateFlow(ctx, f.ID, func(g *Flow) error {
			if g.Status != FlowUnavailable {
				g.AvailableStatus, g.Status = g.Status, FlowUnavailable
			}
			return nil
		}); err != nil && !errors.Is(err, ErrNotFound) {
			errs = append(errs, err)
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// errFlowChanged: the stored flow is no longer the one the caller read.
var errFlowChanged = errors.New("flow changed since it was read")

// RetireFlowsUnchanged marks each of flows unavailable as
// RetireProviderFlows does, but only while its stored record is still the
// one given (as read from this store): a flow written since, by an admin,
// another process or a deployment, is left alone. Discovery retires with
// it the flows it read before listing the tenant, so a flow created or
// changed after the listing is not retired by a listing that predates it.
// It returns how many flows it marked.
func (s *Store) RetireFlowsUnchanged(ctx context.Context, flows []Flow) (int, error) {
	n := 0
	var errs []error
	for _, f := range flows {
		if f.Status == FlowUnavailable {
			continue
		}
		want, err := json.Marshal(f)
		if err != nil {
			return n, fmt.Errorf("catalog: encode flow %s: %w", f.ID, err)
		}
		_, err = s.UpdateFlow(ctx, f.ID, func(g *Flow) error {
			if got, err := json.Marshal(*g); err != nil || !bytes.Equal(got, want) {
				return errFlowChanged
			}
			g.AvailableStatus, g.Status = g.Status, FlowUnavailable
			return nil
		})
		switch {
		case errors.Is(err, errFlowChanged) || errors.Is(err, ErrNotFound):
			continue
		case err != nil:
			errs = append(errs, err)
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}
