package odata

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cpibroker/cpibroker/internal/cpitoken"
	"golang.org/x/time/rate"
)

// StatusError is a non-2xx answer of the API.
type StatusError struct {
	Status int
	URL    string
	// Message is the OData error message, or the start of the body.
	Message    string
	RetryAfter time.Duration
}

func (e *StatusError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("odata: %s answered %d %s", e.URL, e.Status, http.StatusText(e.Status))
	}
	return fmt.Sprintf("odata: %s answered %d %s: %s", e.URL, e.Status, http.StatusText(e.Status), e.Message)
}

// retryable reports the statuses answered with a backoff: 429 and 5xx
// other than 501.
func retryable(status int) bool {
	return status == http.StatusTooManyRequests || (status >= 500 && status != http.StatusNotImplemented)
}

// Client reads collections of the OData API v1.
type Client struct {
	// HTTP sends the requests and authenticates them (an oauth2 client).
	HTTP *http.Client
	// Root is the service root, "<api url>/api/v1".
	Root string
	// MaxAttempts bounds the tries of one request on 429, 5xx and network
	// errors. Default 6.
	MaxAttempts int
	// BackoffBase and BackoffCap bound the exponential backoff with full
	// jitter between tries; a Retry-After header wins when it is longer.
	// Defaults 500ms and 30s.
	BackoffBase, BackoffCap time.Duration
	// Sleep waits d or until ctx ends. Default: a timer. Tests inject one
	// that records the waits.
	Sleep func(ctx context.Context, d time.Duration) error
	// MaxPages guards against a tenant whose "__next" never ends. Default 10000.
	MaxPages int
	// Limiter paces the requests (each try takes one token); nil sends
	// them unpaced. Each 429 halves its rate, down to MinRate, so a client
	// that met the tenant's API limit keeps slower for the rest of its
	// reads.
	Limiter *rate.Limiter
	// MinRate is the floor of Limiter's rate after 429s. Default 0.1/s.
	MinRate rate.Limit
	// MaxRateLimited bounds the 429 answers one request waits through;
	// they do not count against MaxAttempts (the tenant said "later", not
	// "failed"). Default 30.
	MaxRateLimited int
	// Log receives retries and progress. Default: discard.
	Log *slog.Logger
	// Page, when set, is called by GetAll after each page it read with
	// the number of entities the page held (after each of them was
	// handled), so that a long read can report its progress.
	Page func(entities int)
}

func (c *Client) defaults() {
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 6
	}
	if c.BackoffBase == 0 {
		c.BackoffBase = 500 * time.Millisecond
	}
	if c.BackoffCap == 0 {
		c.BackoffCap = 30 * time.Second
	}
	if c.Sleep == nil {
		c.Sleep = sleep
	}
	if c.MaxPages == 0 {
		c.MaxPages = 10000
	}
	if c.MinRate == 0 {
		c.MinRate = 0.1
	}
	if c.MaxRateLimited == 0 {
		c.MaxRateLimited = 30
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// GetAll reads every page of a collection, pathAndQuery relative to Root
// (e.g. "ServiceEndpoints?$expand=EntryPoints"), following "__next" links
// (absolute, or relative to Root) on the same host only, and calls each
// with every entity in order.
func (c *Client) GetAll(ctx context.Context, pathAndQuery string, each func(json.RawMessage) error) error {
	c.defaults()
	root, err := url.Parse(strings.TrimSuffix(c.Root, "/") + "/")
	if err != nil {
		return fmt.Errorf("odata: service root %q: %w", c.Root, err)
	}
	u, err := root.Parse(withJSON(pathAndQuery))
	if err != nil {
		return fmt.Errorf("odata: %q: %w", pathAndQuery, err)
	}
	seen := map[string]bool{}
	total := 0
	for pages := 0; ; pages++ {
		if pages >= c.MaxPages || seen[u.String()] {
			return fmt.Errorf("odata: %s: paging does not end (page %d)", pathAndQuery, pages)
		}
		seen[u.String()] = true
		body, err := c.Get(ctx, u.String())
		if err != nil {
			return err
		}
		p, err := DecodePage(body)
		if err != nil {
			return fmt.Errorf("odata: %s: %w", u, err)
		}
		for _, r := range p.Results {
			if err := each(r); err != nil {
				return err
			}
		}
		total += len(p.Results)
		if c.Page != nil {
			c.Page(len(p.Results))
		}
		if p.Next == "" {
			return nil
		}
		next, err := root.Parse(p.Next)
		if err != nil {
			return fmt.Errorf("odata: __next %q: %w", p.Next, err)
		}
		if next.Host != root.Host || next.Scheme != root.Scheme {
			return fmt.Errorf("odata: __next %q leaves the tenant %s", p.Next, root.Host)
		}
		u = next
		if pages > 0 && pages%10 == 0 {
			c.Log.Info("discovery: reading a large collection", "collection", strings.SplitN(pathAndQuery, "?", 2)[0], "pages", pages+1, "entities", total)
		}
	}
}

// withJSON adds $format=json to a path-and-query.
func withJSON(pq string) string {
	if strings.Contains(pq, "$format=") {
		return pq
	}
	if strings.Contains(pq, "?") {
		return pq + "&$format=json"
	}
	return pq + "?$format=json"
}

// Get fetches one URL with Accept: application/json, paced by Limiter,
// retrying 429, 5xx and network errors with backoff (honouring
// Retry-After). 429s do not use up MaxAttempts (MaxRateLimited bounds
// them) and slow the Limiter down. A final failure is a *StatusError or
// the transport error.
func (c *Client) Get(ctx context.Context, rawURL string) ([]byte, error) {
	c.defaults()
	var last error
	for tries, failures, limited := 0, 0, 0; ; tries++ {
		if tries > 0 {
			wait := rand.N(min(c.BackoffCap, c.BackoffBase<<min(tries-1, 20)) + 1)
			var se *StatusError
			if errors.As(last, &se) && se.RetryAfter > wait {
				wait = min(se.RetryAfter, maxRetryAfter)
			}
			c.Log.Warn("discovery: API call failed; retrying", "url", redact(rawURL), "attempt", tries, "wait", wait, "err", last)
			if err := c.Sleep(ctx, wait); err != nil {
				return nil, err
			}
		}
		if c.Limiter != nil {
			if err := c.Limiter.Wait(ctx); err != nil {
				return nil, err
			}
		}
		body, err := c.once(ctx, rawURL)
		if err == nil {
			return body, nil
		}
		last = err
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var se *StatusError
		switch {
		case errors.As(err, &se) && se.Status == http.StatusTooManyRequests:
			c.slowDown()
			if limited++; limited > c.MaxRateLimited {
				return nil, err
			}
			continue
		case errors.As(err, &se) && !retryable(se.Status):
			return nil, err
		case errors.Is(err, cpitoken.ErrRefused):
			// A token endpoint that refused the credentials does not
			// change its mind; its 429 and 5xx are retried like the API's.
			return nil, err
		}
		if failures++; failures >= c.MaxAttempts {
			return nil, last
		}
	}
}

// slowDown halves the Limiter's rate after a 429, down to MinRate.
func (c *Client) slowDown() {
	if c.Limiter == nil {
		return
	}
	lim := max(c.Limiter.Limit()/2, c.MinRate)
	if lim < c.Limiter.Limit() {
		c.Limiter.SetLimit(lim)
		c.Log.Info("discovery: the tenant answered 429; pacing API calls slower", "requests_per_second", float64(lim))
	}
}

// maxRetryAfter bounds how long one Retry-After is honoured.
const maxRetryAfter = 5 * time.Minute

// maxBody bounds one API answer: a page of 1000 endpoints is well below.
const maxBody = 64 << 20

func (c *Client) once(ctx context.Context, rawURL string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("odata: reading %s: %w", rawURL, err)
	}
	if resp.StatusCode/100 != 2 {
		msg := ErrorMessage(body)
		if msg == "" {
			msg = strings.TrimSpace(string(body[:min(len(body), 300)]))
		}
		return nil, &StatusError{Status: resp.StatusCode, URL: redact(rawURL), Message: msg, RetryAfter: retryAfter(resp.Header.Get("Retry-After"))}
	}
	return body, nil
}

// redact drops the query of a URL for messages.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	u.RawQuery = ""
	return u.String()
}

// retryAfter parses delta-seconds or an HTTP date; 0 when absent or invalid.
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}
