package cpiclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"
)

// Request is one call of an iFlow.
type Request struct {
	// URL is the flow's endpoint, e.g. "https://<tenant>-rt.../http/orders"
	// (plus the Flow-Path for wildcard addresses). It may carry a query.
	URL string
	// Query is a raw query string appended to URL's query.
	Query string
	// ContentType is sent as Content-Type (none when empty).
	ContentType string
	// Body is the request body; it is never modified, so a Request can be
	// replayed.
	Body []byte
	// Header holds already-filtered headers to forward. Headers the client
	// owns are dropped from it: Authorization, Cookie, X-CSRF-Token, Host,
	// SAP_ApplicationID, Idempotency-Key and hop-by-hop headers.
	Header http.Header
	// ApplicationID is sent as SAP_ApplicationID (the job ID).
	ApplicationID string
	// IdempotencyKey is sent as Idempotency-Key ("<job id>.<run>").
	IdempotencyKey string
	// Timeout bounds the whole call including token and CSRF fetches and
	// retries; 0 leaves only the context's deadline.
	Timeout time.Duration
	// Stream, when set, streams the request body and large responses
	// instead of holding them in memory; see [Stream].
	Stream *Stream
}

// Response is CPI's answer, whatever its status.
type Response struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// ContentType is the response's Content-Type.
	ContentType string
	// Body is the whole response body (at most Config.MaxResponseBody).
	Body []byte
	// Header holds the allowed response headers only, with canonical names:
	// see [DefaultResponseHeaders] and Config.AllowResponseHeaders. Set-Cookie,
	// credentials, CSRF and hop-by-hop headers are never included.
	Header http.Header
	// MessageID is CPI's SAP_MessageProcessingLogID, if answered.
	MessageID string
	// Duration is the time Invoke took, token and CSRF fetches and
	// retries included.
	Duration time.Duration
	// BodyRef is set when the body was handed to Request.Stream.Spill:
	// what Spill returned. Body is nil then.
	BodyRef string
	// Size is the body's length in bytes, spilled or not.
	Size int64
}

// clone copies r so that concurrent callers sharing a fetch own their copy.
func (r *Response) clone() *Response {
	if r == nil {
		return nil
	}
	c := *r
	c.Header = r.Header.Clone()
	c.Body = bytes.Clone(r.Body)
	return &c
}

// Client invokes the iFlows of one CPI provider. Create it with [New].
type Client struct {
	cfg     Config
	http    *http.Client
	tokens  *tokenCache // nil without TokenURL
	basic   string      // "Basic ..." when authenticating with the key directly
	csrf    csrfStore
	headers headerFilter
	log     *slog.Logger
}

// New validates cfg, applies its defaults and returns a Client. It does no
// I/O: the first Invoke fetches the token and the CSRF token.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	hc := *cfg.HTTPClient // shallow copy: same transport, our own policies
	hc.Jar = nil
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c := &Client{cfg: cfg, http: &hc, headers: newHeaderFilter(cfg.AllowResponseHeaders), log: cfg.Logger}
	switch {
	case cfg.TokenURL != "":
		c.tokens = newTokenCache(cfg, &hc)
	case cfg.ClientID != "":
		req := &http.Request{Header: make(http.Header)}
		req.SetBasicAuth(cfg.ClientID, cfg.ClientSecret)
		c.basic = req.Header.Get("Authorization")
	}
	return c, nil
}

// CloseIdleConnections closes the idle connections of the client's
// transport.
func (c *Client) CloseIdleConnections() { c.http.CloseIdleConnections() }

// Invoke POSTs r to its flow and returns CPI's answer. The token and the
// CSRF token are fetched when needed; a 401 drops the token and the call is
// retried once with a new one; with CSRF, a 403 drops the CSRF token and
// session and the call is retried once after a new fetch. So one Invoke
// sends at most three POSTs. A non-2xx answer (including a 401 or 403 that
// survived its retry, or a non-2xx answer to the CSRF fetch) is a Response,
// not an error. Errors wrap [ErrTimeout], [ErrResponseTooLarge],
// [ErrTokenFetch], [ErrInvalidRequest] or the transport's error.
func (c *Client) Invoke(ctx context.Context, r Request) (*Response, error) {
	start := time.Now()
	target, flowURL, err := requestURLs(r)
	if err != nil {
		return nil, err
	}
	if r.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.Timeout)
		defer cancel()
	}
	var sess *csrfSession
	if c.cfg.CSRF {
		sess = c.csrf.session(flowURL)
	}
	authRetried, csrfRetried := false, false
	for {
		auth, tok, err := c.authorization(ctx)
		if err != nil {
			return nil, c.callError(ctx, target, err)
		}
		var csrfTok string
		if sess != nil {
			var fetched *Response
			csrfTok, fetched, err = c.csrfToken(ctx, sess, auth)
			if err != nil {
				return nil, c.callError(ctx, flowURL.String(), err)
			}
			if fetched != nil {
				if fetched.StatusCode == http.StatusUnauthorized && c.tokens != nil && !authRetried {
					c.log.Debug("cpi csrf fetch answered 401, refetching the token", "url", flowURL.String())
					c.tokens.invalidate(tok)
					authRetried = true
					continue
				}
				fetched.Duration = time.Since(start)
				return fetched, nil
			}
		}
		resp, err := c.post(ctx, target, r, auth, sess, csrfTok)
		if err != nil {
			return nil, c.callError(ctx, target, err)
		}
		switch {
		case resp.StatusCode == http.StatusUnauthorized && c.tokens != nil && !authRetried:
			c.log.Debug("cpi answered 401, refetching the token", "url", target)
			c.tokens.invalidate(tok)
			authRetried = true
			continue
		case resp.StatusCode == http.StatusForbidden && sess != nil && !csrfRetried:
			c.log.Debug("cpi answered 403, refetching the csrf token", "url", target)
			sess.invalidate(csrfTok)
			csrfRetried = true
			continue
		}
		resp.Duration = time.Since(start)
		return resp, nil
	}
}

// authorization returns the Authorization header value and the bare token
// (for invalidation).
func (c *Client) authorization(ctx context.Context) (header, token string, err error) {
	switch {
	case c.tokens != nil:
		tok, err := c.tokens.get(ctx)
		if err != nil {
			return "", "", err
		}
		return "Bearer " + tok, tok, nil
	case c.basic != "":
		return c.basic, "", nil
	}
	return "", "", nil
}

// post sends the POST and reads the answer.
func (c *Client) post(ctx context.Context, target string, r Request, auth string, sess *csrfSession, csrfTok string) (*Response, error) {
	req, err := newPost(ctx, target, r)
	if err != nil {
		return nil, err
	}
	req.Header = forwardHeaders(r.Header)
	if r.ContentType != "" {
		req.Header.Set("Content-Type", r.ContentType)
	}
	if r.ApplicationID != "" {
		req.Header[headerApplicationID] = []string{r.ApplicationID}
	}
	if r.IdempotencyKey != "" {
		req.Header.Set(headerIdempotencyKey, r.IdempotencyKey)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if sess != nil {
		if csrfTok != "" {
			req.Header.Set(headerCSRF, csrfTok)
		}
		for _, ck := range sess.cookies() {
			req.AddCookie(ck)
		}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	if sess != nil {
		sess.keepCookies(resp)
	}
	if r.Stream != nil && r.Stream.Spill != nil && resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusForbidden {
		return c.readSpilling(ctx, resp, target, r.Stream)
	}
	return c.readResponse(resp, target)
}

// readResponse reads and closes resp, bounded by MaxResponseBody.
func (c *Client) readResponse(resp *http.Response, target string) (*Response, error) {
	defer resp.Body.Close()
	limit := c.cfg.MaxResponseBody
	if resp.ContentLength > limit {
		return nil, fmt.Errorf("%w: %s answered %d with %d bytes, limit %d", ErrResponseTooLarge, target, resp.StatusCode, resp.ContentLength, limit)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading the answer (%d): %w", resp.StatusCode, err)
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("%w: %s answered %d with more than %d bytes", ErrResponseTooLarge, target, resp.StatusCode, limit)
	}
	return &Response{
		StatusCode:  resp.StatusCode,
		ContentType: resp.Header.Get("Content-Type"),
		Body:        body,
		Size:        int64(len(body)),
		Header:      c.headers.filter(resp.Header),
		MessageID:   resp.Header.Get(headerMPLID),
	}, nil
}

// callError wraps err with the target, marking timeouts with ErrTimeout.
func (c *Client) callError(ctx context.Context, target string, err error) error {
	if errors.Is(err, ErrTokenFetch) || errors.Is(err, ErrResponseTooLarge) {
		return err
	}
	if isTimeout(err) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w: calling %s: %w", ErrTimeout, target, err)
	}
	return fmt.Errorf("calling %s: %w", target, err)
}

// isTimeout reports a context deadline or a network timeout.
func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// requestURLs returns the URL to POST to (URL plus Query) and the flow URL
// without query, which keys the CSRF session.
func requestURLs(r Request) (string, *url.URL, error) {
	u, err := url.Parse(r.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", nil, fmt.Errorf("%w: url %q is not an absolute http(s) url", ErrInvalidRequest, r.URL)
	}
	u.Fragment, u.RawFragment = "", ""
	switch q := r.Query; {
	case q == "":
	case u.RawQuery == "":
		u.RawQuery = q
	default:
		u.RawQuery += "&" + q
	}
	target := u.String()
	flow := *u
	flow.RawQuery, flow.ForceQuery = "", false
	return target, &flow, nil
}
