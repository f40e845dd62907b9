package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// PutFlow validates and stores a flow (create or replace).
func (s *Store) PutFlow(ctx context.Context, f Flow, createOnly bool) error {
	if err := f.Validate(); err != nil {
		return err
	}
	return put(ctx, s, s.catalogKV, flowPrefix+f.ID, f, createOnly, s.flows, f.ID)
}

// PutProvider validates and stores a provider (create or replace).
func (s *Store) PutProvider(ctx context.Context, p Provider, createOnly bool) error {
	if err := p.Validate(); err != nil {
		return err
	}
	return put(ctx, s, s.catalogKV, providerPrefix+p.ID, p, createOnly, s.providers, p.ID)
}

func put[T any](ctx context.Context, s *Store, kv jetstream.KeyValue, key string, v T, createOnly bool, m map[string]T, id string) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("catalog: encode %s: %w", key, err)
	}
	if err := checkRecordSize(b); err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	var rev uint64
	if createOnly {
		rev, err = kv.Create(ctx, key, b)
		if errors.Is(err, jetstream.ErrKeyExists) {
			return fmt.Errorf("%s: %w", key, ErrExists)
		}
	} else {
		rev, err = kv.Put(ctx, key, b)
	}
	if err != nil {
		return fmt.Errorf("catalog: write %s: %w", key, err)
	}
	s.mu.Lock()
	if s.newerLocked(kv.Bucket(), key, rev) {
		m[id] = v
		s.bumpLocked()
	}
	s.mu.Unlock()
	return nil
}
