package cpiclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"golang.org/x/sync/singleflight"
)

// maxErrorBody bounds the token endpoint body quoted in an error.
const maxErrorBody = 512

// tokenCache holds one OAuth token, refreshes it skew before expiry (at
// the latest halfway through its life) and lets concurrent callers share one
// fetch.
type tokenCache struct {
	conf    clientcredentials.Config
	http    *http.Client
	now     func() time.Time
	skew    time.Duration
	timeout time.Duration
	log     *slog.Logger

	mu        sync.Mutex
	token     string
	refreshAt time.Time // by now(); zero: expiry unknown, used until a 401

	flight singleflight.Group
}

func newTokenCache(cfg Config, hc *http.Client) *tokenCache {
	return &tokenCache{
		conf: clientcredentials.Config{
			ClientID:     cfg.ClientID,
			ClientSecret: cfg.ClientSecret,
			TokenURL:     cfg.TokenURL,
			AuthStyle:    oauth2.AuthStyleInHeader, // XSUAA: HTTP Basic
		},
		http:    hc,
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
	tc.mu.Unlock()
	if fresh {
		return tok, nil
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
	ctx = context.WithValue(ctx, oauth2.HTTPClient, tc.http)
	t, err := tc.conf.Token(ctx)
	if err != nil {
		return "", tc.fetchError(err)
	}
	var refreshAt time.Time
	if !t.Expiry.IsZero() {
		// Refresh skew before expiry, but use at least half of a token
		// that lives shorter than twice the skew.
		life := time.Until(t.Expiry)
		refreshAt = tc.now().Add(life - min(tc.skew, life/2))
	}
	tc.mu.Lock()
	tc.token, tc.refreshAt = t.AccessToken, refreshAt
	tc.mu.Unlock()
	tc.log.Debug("cpi token fetched", "token_url", tc.conf.TokenURL, "refresh_at", refreshAt)
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

// fetchError wraps a token endpoint failure in ErrTokenFetch, naming the
// endpoint's status and body when it answered.
func (tc *tokenCache) fetchError(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil {
		body := re.Body
		if len(body) > maxErrorBody {
			body = body[:maxErrorBody]
		}
		return fmt.Errorf("%w: %s answered %d: %s", ErrTokenFetch, tc.conf.TokenURL, re.Response.StatusCode, body)
	}
	if isTimeout(err) {
		return fmt.Errorf("%w: %s: %w: %w", ErrTokenFetch, tc.conf.TokenURL, ErrTimeout, err)
	}
	return fmt.Errorf("%w: %s: %w", ErrTokenFetch, tc.conf.TokenURL, err)
}
