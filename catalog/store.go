package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cpibroker/cpibroker/internal/natsx"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/crypto/bcrypt"
)

// Expected outcomes.
var (
	// ErrNotFound: no such flow, provider or client.
	ErrNotFound = errors.New("not found")
	// ErrExists: Create of something that exists.
	ErrExists = errors.New("already exists")
	// ErrInvalid: a change that would make a resource invalid.
	ErrInvalid = errors.New("invalid")
	// ErrInvalidCredentials: unknown client, disabled client or wrong secret.
	ErrInvalidCredentials = errors.New("invalid client credentials")
)

const (
	flowPrefix     = "flows."
	providerPrefix = "providers."
	healthPrefix   = "health."
)

// Store is the watched, in-memory view of the catalog and client buckets.
// Reads never touch JetStream; writes go to KV and are applied locally at
// once, and every other process applies them from its watch.
type Store struct {
	catalogKV jetstream.KeyValue
	clientsKV jetstream.KeyValue
	log       *slog.Logger

	mu        sync.RWMutex
	flows     map[string]Flow
	providers map[string]Provider
	clients   map[string]Client
	// health is the credential health by "<provider>.<set>".
	health map[string]CredentialHealth
	// revs holds the KV revision behind each cached entry (by bucket and
	// key), so a watch that replays an older revision after a local write
	// cannot put the older value back.
	revs    map[string]uint64
	version uint64
	changed chan struct{}

	readyOnce sync.Once
	ready     chan struct{}
}

// NewStore returns a Store over the cpib-catalog and cpib-clients buckets.
// Call Run to fill and follow it.
func NewStore(catalogKV, clientsKV jetstream.KeyValue, log *slog.Logger) *Store {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Store{
		catalogKV: catalogKV, clientsKV: clientsKV, log: log,
		flows: map[string]Flow{}, providers: map[string]Provider{}, clients: map[string]Client{},
		health: map[string]CredentialHealth{}, revs: map[string]uint64{}, changed: make(chan struct{}), ready: make(chan struct{}),
	}
}

// Ready is closed once both buckets' current contents are loaded.
func (s *Store) Ready() <-chan struct{} { return s.ready }

// Run follows both buckets until ctx ends, re-creating a watch that closes.
func (s *Store) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	loaded := make(chan struct{}, 2)
	for _, kv := range []jetstream.KeyValue{s.catalogKV, s.clientsKV} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.follow(ctx, kv, loaded)
		}()
	}
	go func() {
		for range 2 {
			select {
			case <-loaded:
			case <-ctx.Done():
				return
			}
		}
		s.readyOnce.Do(func() { close(s.ready) })
	}()
	wg.Wait()
	return nil
}

func (s *Store) follow(ctx context.Context, kv jetstream.KeyValue, loaded chan<- struct{}) {
	signaled := false
	natsx.Follow(ctx, kv, natsx.Watcher{
		Apply: func(e jetstream.KeyValueEntry) { s.apply(kv.Bucket(), e) },
		Loaded: func() {
			if !signaled {
				signaled = true
				loaded <- struct{}{}
			}
		},
		Logger: s.log,
	})
}

func (s *Store) apply(bucket string, e jetstream.KeyValueEntry) {
	key, del := e.Key(), e.Operation() != jetstream.KeyValuePut
	var err error
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.newerLocked(bucket, key, e.Revision()) {
		return
	}
	switch {
	case bucket == s.clientsKV.Bucket():
		err = s.applyClientLocked(key, e.Value(), del)
	case strings.HasPrefix(key, flowPrefix):
		err = applyEntry(s.flows, strings.TrimPrefix(key, flowPrefix), e.Value(), del)
	case strings.HasPrefix(key, providerPrefix):
		err = applyEntry(s.providers, strings.TrimPrefix(key, providerPrefix), e.Value(), del)
	case strings.HasPrefix(key, healthPrefix):
		err = applyEntry(s.health, strings.TrimPrefix(key, healthPrefix), e.Value(), del)
	}
	if err != nil {
		s.log.Error("catalog entry skipped", "bucket", bucket, "key", key, "err", err)
		return
	}
	s.bumpLocked()
}

// newerLocked reports whether rev is newer than the revision the Store
// holds for key in bucket, and records it when it is.
func (s *Store) newerLocked(bucket, key string, rev uint64) bool {
	k := bucket + "/" + key
	if rev <= s.revs[k] {
		return false
	}
	s.revs[k] = rev
	return true
}

func (s *Store) bumpLocked() {
	s.version++
	close(s.changed)
	s.changed = make(chan struct{})
}

func applyEntry[T any](m map[string]T, id string, b []byte, del bool) error {
	if del {
		delete(m, id)
		return nil
	}
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	m[id] = v
	return nil
}

// Changed returns a channel closed at the next change of anything.
func (s *Store) Changed() <-chan struct{} {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.changed
}

// Flow returns a flow by ID.
func (s *Store) Flow(id string) (Flow, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	f, ok := s.flows[id]
	return f, ok
}

// Provider returns a provider by ID.
func (s *Store) Provider(id string) (Provider, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	p, ok := s.providers[id]
	return p, ok
}

// Client returns a client by ID.
func (s *Store) Client(id string) (Client, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, ok := s.clients[id]
	return c, ok
}

// Flows returns every flow sorted by ID.
func (s *Store) Flows() []Flow {
	s.mu.RLock()
	out := make([]Flow, 0, len(s.flows))
	for _, f := range s.flows {
		out = append(out, f)
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// VerifySecret checks a client's credentials against the cached hashes:
// the current ones and, until their expiry, those replaced by a rotation.
// Unknown, disabled and wrong-secret clients all give ErrInvalidCredentials.
func (s *Store) VerifySecret(id, secret string) (Client, error) {
	c, ok := s.Client(id)
	if !ok || !c.Enabled {
		// Spend the same time as a real comparison so IDs cannot be probed.
		_ = bcrypt.CompareHashAndPassword(dummyHash(), []byte(secret))
		return Client{}, ErrInvalidCredentials
	}
	for _, h := range c.SecretHashes {
		if bcrypt.CompareHashAndPassword([]byte(h), []byte(secret)) == nil {
			return c, nil
		}
	}
	now := time.Now()
	for _, p := range c.PreviousSecrets {
		if now.Before(p.ExpiresAt) && bcrypt.CompareHashAndPassword([]byte(p.Value), []byte(secret)) == nil {
			return c, nil
		}
	}
	return Client{}, ErrInvalidCredentials
}

// dummyHash is computed on first use, not at package init: every importer
// (and every test binary) would otherwise pay a bcrypt hash at start.
var dummyHash = sync.OnceValue(func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte("cpibroker-dummy"), bcrypt.DefaultCost)
	return h
})

// HashSecret returns the bcrypt hash stored for a client secret.
func HashSecret(secret string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(secret), bcrypt.DefaultCost)
	if err != nil {
		return "", fmt.Errorf("catalog: hash secret: %w", err)
	}
	return string(h), nil
}

// sortByID sorts resources by their ID.
func sortByID[T any](s []T, id func(T) string) {
	sort.Slice(s, func(i, j int) bool { return id(s[i]) < id(s[j]) })
}
