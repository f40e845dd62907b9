package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Credential sets of a provider whose health is kept.
const (
	// CredentialsRuntime: the integration-flow plan key the dispatcher
	// calls iFlows with.
	CredentialsRuntime = "runtime"
	// CredentialsAPI: the api plan key discovery reads the OData API with.
	CredentialsAPI = "api"
)

// Health states of a credential set.
const (
	// HealthOK: CPI accepted the credentials at the last call.
	HealthOK = "ok"
	// HealthProviderAuth: CPI refused them (token endpoint refusal, or
	// 401/403 after a new token); jobs wait with waiting.reason
	// provider_auth.
	HealthProviderAuth = "provider_auth"
)

// CredentialHealth is the state of one credential set of a provider:
// since when, and why when it is failing. It is written only when the
// state changes, never per call.
type CredentialHealth struct {
	Status string    `json:"status"`
	Since  time.Time `json:"since"`
	Reason string    `json:"reason,omitempty"`
}

// ProviderHealth is what GET /admin/v1/providers/{id} shows as "health".
type ProviderHealth struct {
	Runtime *CredentialHealth `json:"runtime,omitempty"`
	API     *CredentialHealth `json:"api,omitempty"`
}

func healthKey(provider, set string) string { return healthPrefix + provider + "." + set }

// ProviderHealth returns the provider's credential health from memory;
// nil when nothing was recorded yet.
func (s *Store) ProviderHealth(provider string) *ProviderHealth {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var h ProviderHealth
	if v, ok := s.health[provider+"."+CredentialsRuntime]; ok {
		h.Runtime = &v
	}
	if v, ok := s.health[provider+"."+CredentialsAPI]; ok {
		h.API = &v
	}
	if h.Runtime == nil && h.API == nil {
		return nil
	}
	return &h
}

// ReportCredentials records whether CPI accepted a provider's credential
// set (CredentialsRuntime or CredentialsAPI) at now. It writes only when
// the state changes: the in-memory view answers the common case without
// touching KV, and a compare-and-set makes exactly one process write each
// change. changed is true for the writer, which logs the change, and prev
// is the status it replaced ("" when none was recorded); reason should say
// why in plain words and never carry a secret.
func (s *Store) ReportCredentials(ctx context.Context, provider, set string, accepted bool, reason string, now time.Time) (prev string, changed bool, err error) {
	want := HealthProviderAuth
	if accepted {
		want, reason = HealthOK, ""
	}
	s.mu.RLock()
	cur, known := s.health[provider+"."+set]
	s.mu.RUnlock()
	if known && cur.Status == want {
		return "", false, nil
	}
	key := healthKey(provider, set)
	next := CredentialHealth{Status: want, Since: now.UTC(), Reason: reason}
	b, _ := json.Marshal(next)
	var rev uint64
	e, err := s.catalogKV.Get(ctx, key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		rev, err = s.catalogKV.Create(ctx, key, b)
	case err != nil:
		return "", false, fmt.Errorf("provider health: %w", err)
	default:
		var old CredentialHealth
		_ = json.Unmarshal(e.Value(), &old)
		prev = old.Status
		if old.Status == want {
			s.mu.Lock()
			if s.newerLocked(s.catalogKV.Bucket(), key, e.Revision()) {
				s.health[provider+"."+set] = old
			}
			s.mu.Unlock()
			return "", false, nil
		}
		rev, err = s.catalogKV.Update(ctx, key, b, e.Revision())
	}
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return "", false, nil // another process recorded a change first
	}
	if err != nil {
		return "", false, fmt.Errorf("provider health: %w", err)
	}
	s.mu.Lock()
	if s.newerLocked(s.catalogKV.Bucket(), key, rev) {
		s.health[provider+"."+set] = next
	}
	s.mu.Unlock()
	return prev, true, nil
}
