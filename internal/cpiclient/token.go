package cpiclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/cpibroker/cpibroker/internal/cpitoken"
	"golang.org/x/sync/singleflight"
)

// refusalHold is how long a refused token request is answered from
// memory: jobs arriving meanwhile fail the same way without asking the
// token endpoint again (a provider whose secret is wrong is not hammered).
const refusalHold = 5 * time.Second

// tokenCache holds one OAuth token, refreshes it skew before expiry (at
// the latest halfway through its life) and lets concurrent callers share one
// fetch.
type tokenCache struct {
	src     *cpitoken.Source
	url     string
	now     func() time.Time
	skew    time.Duration
	timeout time.Duration
	log     *slog.Logger

	mu        sync.Mutex
	token     string
	refreshAt time.Time // by now(); zero: expiry unknown, used until a 401
	refused   error     // the last fetch's refusal, answered until refusedAt+refusalHold
	refusedAt time.Time

	flight singleflight.Group
}

func newTokenCache(cfg Config, hc *http.Client) *tokenCache {
	return &tokenCache{
		src: cpitoken.New(cpitoken.Config{
			TokenURL: cfg.TokenURL, ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret,
			Auth: cfg.TokenAuth, HTTP: hc, Memory: cfg.TokenMemory, Log: cfg.Logger,
		}),
		url:     cfg.TokenURL,
		now:     cfg.Now,
		skew:    cfg.TokenRefreshSkew,
		timeout: cfg.FetchTimeout,
		log:     cfg.Logger,
	}
}

// get returns a token that is valid for at least skew, fetching one when
// needed. It waits no longer than ctx allows.
func (tc *tokenCache) get(ctx context.Context) (string, error) {
	tc.mu.Lock()
	tok, fresh := tc.token, tc.freshLocked()
	refused := tc.refused
	if refused != nil && !tc.now().Before(tc.refusedAt.Add(refusalHold)) {
		refused = nil
	}
	tc.mu.Unlock()
	if fresh {
		return tok, nil
	}
	if refused != nil {
		return "", refused
	}
	ch := tc.flight.DoChan("token", func() (any, error) { return tc.fetch(ctx, tok) })
	select {
	case <-ctx.Done():
		return "", ctx.Err()
	case res := <-ch:
		if res.Err != nil {
			return "", res.Err
		}
		return res.Val.(string), nil
	}
}

// freshLocked reports whether the cached token is usable for skew more.
func (tc *tokenCache) freshLocked() bool {
	if tc.token == "" {
		return false
	}
	return tc.refreshAt.IsZero() || tc.now().Before(tc.refreshAt)
}

// fetch gets a new token unless another flight replaced the stale one the
// caller saw in the meantime. It outlives the caller that started it
// (others may wait for it), bounded by the fetch timeout.
func (tc *tokenCache) fetch(ctx context.Context, stale string) (string, error) {
	tc.mu.Lock()
	if tc.token != stale && tc.freshLocked() {
		tok := tc.token
		tc.mu.Unlock()
		return tok, nil
	}
	tc.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), tc.timeout)
	defer cancel()
	t, err := tc.src.Token(ctx)
	if err != nil {
		err = tc.fetchError(err)
		if errors.Is(err, cpitoken.ErrRefused) {
			tc.mu.Lock()
			tc.refused, tc.refusedAt = err, tc.now()
			tc.mu.Unlock()
		}
		return "", err
	}
	var refreshAt time.Time
	if !t.Expiry.IsZero() {
		// Refresh skew before expiry, but use at least half of a token
		// that lives shorter than twice the skew.
		life := time.Until(t.Expiry)
		refreshAt = tc.now().Add(life - min(tc.skew, life/2))
	}
	tc.mu.Lock()
	tc.token, tc.refreshAt, tc.refused = t.AccessToken, refreshAt, nil
	tc.mu.Unlock()
	tc.log.Debug("cpi token fetched", "token_url", tc.url, "refresh_at", refreshAt)
	return t.AccessToken, nil
}

// invalidate drops tok if it is still the cached token (a 401 answered it).
func (tc *tokenCache) invalidate(tok string) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if tc.token == tok {
		tc.token, tc.refreshAt = "", time.Time{}
	}
}

// fetchError wraps a token endpoint failure in ErrTokenFetch; the
// cpitoken error inside names the endpoint's status and OAuth error.
func (tc *tokenCache) fetchError(err error) error {
	if isTimeout(err) {
		return fmt.Errorf("%w: %w: %w", ErrTokenFetch, ErrTimeout, err)
	}
	return fmt.Errorf("%w: %w", ErrTokenFetch, err)
}
