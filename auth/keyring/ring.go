package keyring

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cpibroker/cpibroker/auth"
	"github.com/cpibroker/cpibroker/internal/natsx"
	"github.com/nats-io/nats.go/jetstream"
)

// keyPrefix is where public keys live in the catalog bucket.
const keyPrefix = "keys."

// Key states.
const (
	StateActive  = "active"
	StateRetired = "retired"
)

// Entry is a published public key.
type Entry struct {
	JWK       auth.JWK  `json:"jwk"`
	State     string    `json:"state"`
	CreatedAt time.Time `json:"created_at"`
	// RetiredAt and ExpiresAt are set once the key no longer signs; the key
	// verifies until ExpiresAt (the last token it signed has expired).
	RetiredAt time.Time `json:"retired_at,omitzero"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

func (e Entry) valid(now time.Time) bool {
	return e.State == StateActive || now.Before(e.ExpiresAt)
}

// Config configures a Ring.
type Config struct {
	// KV is the cpib-catalog bucket. Required.
	KV jetstream.KeyValue
	// SigningKeyPath is this process's private key file (created when
	// missing). Required.
	SigningKeyPath string
	// Retain is how long a retired key keeps verifying: the token lifetime
	// plus the verifier's leeway. Required.
	Retain time.Duration
	// JanitorInterval is how often expired entries are removed. Default 30s.
	JanitorInterval time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger; default discards.
	Logger *slog.Logger
}

// Ring holds this process's signing key and every published public key.
// It implements auth.KeyResolver. Safe for concurrent use.
type Ring struct {
	cfg    Config
	signer atomic.Pointer[auth.SigningKey]
	jwks   atomic.Pointer[[]byte]
	rotMu  sync.Mutex

	mu   sync.RWMutex
	keys map[string]Entry
	pubs map[string]ed25519.PublicKey
}

var _ auth.KeyResolver = (*Ring)(nil)

// New returns a Ring; Load reads the key file and publishes it.
func New(cfg Config) (*Ring, error) {
	if cfg.KV == nil || cfg.SigningKeyPath == "" || cfg.Retain <= 0 {
		return nil, errors.New("keyring: KV, signing key path and retain period are required")
	}
	if cfg.JanitorInterval <= 0 {
		cfg.JanitorInterval = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Ring{cfg: cfg, keys: map[string]Entry{}, pubs: map[string]ed25519.PublicKey{}}
	empty := []byte(`{"keys":[]}`)
	r.jwks.Store(&empty)
	return r, nil
}

// Load reads (or creates) the signing key file and publishes its public
// key as active. A key file whose key was retired is replaced by a new key.
func (r *Ring) Load(ctx context.Context) error {
	k, err := auth.LoadOrCreateSigningKey(r.cfg.SigningKeyPath)
	if err != nil {
		return fmt.Errorf("keyring: %w", err)
	}
	e, err := r.get(ctx, k.KID())
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		if err := r.publish(ctx, k); err != nil {
			return err
		}
	case err != nil:
		return err
	case e.State == StateRetired:
		// The file holds a key retired elsewhere: replace it. The old key's
		// retirement (and expiry) stay as they are.
		_, _, err := r.Rotate(ctx)
		return err
	default:
		r.apply(k.KID(), &e)
	}
	r.signer.Store(k)
	return nil
}

// SigningKey returns the key new tokens are signed with.
func (r *Ring) SigningKey() *auth.SigningKey { return r.signer.Load() }

// PublicKey implements auth.KeyResolver: a published key that is active or
// retired but not yet expired.
func (r *Ring) PublicKey(kid string) (ed25519.PublicKey, bool) {
	r.mu.RLock()
	e, ok := r.keys[kid]
	pub := r.pubs[kid]
	r.mu.RUnlock()
	if !ok || !e.valid(r.cfg.Now()) {
		return nil, false
	}
	return pub, true
}

// JWKS returns the JWK Set of every valid key.
func (r *Ring) JWKS() []byte { return *r.jwks.Load() }

// Keys returns the published keys sorted by creation time.
func (r *Ring) Keys() []Entry {
	r.mu.RLock()
	out := make([]Entry, 0, len(r.keys))
	for _, e := range r.keys {
		out = append(out, e)
	}
	r.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out
}

// Rotate makes a new signing key: it publishes the new public key, writes
// the new key file, switches signing to it and retires the old key, which
// keeps verifying for the Retain period. It returns both key IDs.
func (r *Ring) Rotate(ctx context.Context) (oldKID, newKID string, err error) {
	r.rotMu.Lock()
	defer r.rotMu.Unlock()
	old := r.signer.Load()
	k, err := auth.GenerateSigningKey()
	if err != nil {
		return "", "", fmt.Errorf("keyring: %w", err)
	}
	if err := r.publish(ctx, k); err != nil {
		return "", "", err
	}
	if err := k.WriteFile(r.cfg.SigningKeyPath); err != nil {
		_ = r.retire(ctx, k.KID(), 0)
		return "", "", fmt.Errorf("keyring: %w", err)
	}
	r.signer.Store(k)
	if old == nil {
		return "", k.KID(), nil
	}
	if err := r.retire(ctx, old.KID(), r.cfg.Retain); err != nil {
		return old.KID(), k.KID(), err
	}
	r.cfg.Logger.Info("signing key rotated", "old_kid", old.KID(), "new_kid", k.KID())
	return old.KID(), k.KID(), nil
}

func (r *Ring) publish(ctx context.Context, k *auth.SigningKey) error {
	e := Entry{JWK: k.PublicJWK(), State: StateActive, CreatedAt: r.cfg.Now().UTC()}
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("keyring: %w", err)
	}
	if _, err := r.cfg.KV.Create(ctx, keyPrefix+k.KID(), b); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("keyring: publish %s: %w", k.KID(), err)
	}
	r.apply(k.KID(), &e)
	return nil
}

// retire marks kid retired; it verifies for another keep.
func (r *Ring) retire(ctx context.Context, kid string, keep time.Duration) error {
	for range 10 {
		kve, err := r.cfg.KV.Get(ctx, keyPrefix+kid)
		if err != nil {
			return fmt.Errorf("keyring: retire %s: %w", kid, err)
		}
		var e Entry
		if err := json.Unmarshal(kve.Value(), &e); err != nil {
			return fmt.Errorf("keyring: retire %s: %w", kid, err)
		}
		now := r.cfg.Now().UTC()
		e.State, e.RetiredAt, e.ExpiresAt = StateRetired, now, now.Add(keep)
		b, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("keyring: %w", err)
		}
		if _, err := r.cfg.KV.Update(ctx, keyPrefix+kid, b, kve.Revision()); errors.Is(err, jetstream.ErrKeyExists) {
			continue
		} else if err != nil {
			return fmt.Errorf("keyring: retire %s: %w", kid, err)
		}
		r.apply(kid, &e)
		return nil
	}
	return fmt.Errorf("keyring: retire %s: too many concurrent updates", kid)
}

func (r *Ring) get(ctx context.Context, kid string) (Entry, error) {
	kve, err := r.cfg.KV.Get(ctx, keyPrefix+kid)
	if err != nil {
		return Entry{}, err
	}
	var e Entry
	if err := json.Unmarshal(kve.Value(), &e); err != nil {
		return Entry{}, fmt.Errorf("keyring: entry %s: %w", kid, err)
	}
	return e, nil
}

// apply sets (or, with e nil, removes) the entry for kid and rebuilds the
// JWKS.
func (r *Ring) apply(kid string, e *Entry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e == nil {
		delete(r.keys, kid)
		delete(r.pubs, kid)
	} else {
		pub, err := e.JWK.PublicKey()
		if err != nil || e.JWK.Kid != kid {
			r.cfg.Logger.Error("keyring: entry skipped", "kid", kid, "err", err)
			return
		}
		r.keys[kid], r.pubs[kid] = *e, pub
	}
	r.rebuildLocked()
}

func (r *Ring) rebuildLocked() {
	now := r.cfg.Now()
	var jwks []auth.JWK
	for _, e := range r.keys {
		if e.valid(now) {
			jwks = append(jwks, e.JWK)
		}
	}
	sort.Slice(jwks, func(i, j int) bool { return jwks[i].Kid < jwks[j].Kid })
	b, err := auth.JWKSJSON(jwks)
	if err != nil {
		r.cfg.Logger.Error("keyring: jwks", "err", err)
		return
	}
	r.jwks.Store(&b)
}

// Run follows the published keys until ctx ends and removes expired ones.
func (r *Ring) Run(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(r.cfg.JanitorInterval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				r.janitor(ctx)
			}
		}
	}()
	natsx.Follow(ctx, r.cfg.KV, natsx.Watcher{Keys: keyPrefix + "*", Apply: r.applyEntry, Logger: r.cfg.Logger})
	<-done
	return nil
}

// applyEntry follows one published key: a put adds or updates it, a delete
// or purge removes it.
func (r *Ring) applyEntry(kve jetstream.KeyValueEntry) {
	kid := strings.TrimPrefix(kve.Key(), keyPrefix)
	if kve.Operation() != jetstream.KeyValuePut {
		r.apply(kid, nil)
		return
	}
	var e Entry
	if err := json.Unmarshal(kve.Value(), &e); err != nil {
		r.cfg.Logger.Error("keyring: entry skipped", "kid", kid, "err", err)
		return
	}
	r.apply(kid, &e)
}

// janitor deletes entries whose retirement has expired and rebuilds the
// JWKS. Several processes may race; a lost compare-and-set is harmless.
func (r *Ring) janitor(ctx context.Context) {
	now := r.cfg.Now()
	r.mu.Lock()
	var expired []string
	for kid, e := range r.keys {
		if !e.valid(now) {
			expired = append(expired, kid)
		}
	}
	r.rebuildLocked()
	r.mu.Unlock()
	for _, kid := range expired {
		kve, err := r.cfg.KV.Get(ctx, keyPrefix+kid)
		if err != nil {
			continue
		}
		if err := r.cfg.KV.Delete(ctx, keyPrefix+kid, jetstream.LastRevision(kve.Revision())); err == nil {
			r.cfg.Logger.Info("retired signing key removed", "kid", kid)
		}
	}
}
