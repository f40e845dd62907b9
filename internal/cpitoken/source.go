package cpitoken

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// Auth says how the client credentials travel to the token endpoint.
type Auth string

// The token_auth values of a provider.
const (
	// AuthBody sends client_id and client_secret in the POST form body, as
	// SAP's security library does. The default.
	AuthBody Auth = "body"
	// AuthBasic sends HTTP Basic with the ID and secret form-encoded first
	// (RFC 6749 2.3.1), as golang.org/x/oauth2 does; a token endpoint that
	// does not decode them refuses IDs with "!" or "|" and secrets with "$".
	AuthBasic Auth = "basic"
	// AuthBasicRaw sends HTTP Basic with the ID and secret as they are; a
	// strictly decoding endpoint refuses secrets with "+" or "%".
	AuthBasicRaw Auth = "basic-raw"
	// AuthAuto tries body, basic and basic-raw in that order, once per
	// token URL, and then keeps what worked.
	AuthAuto Auth = "auto"
)

// DefaultAuth is the token_auth of a provider that sets none.
const DefaultAuth = AuthBody

// autoOrder is the order AuthAuto tries.
var autoOrder = [...]Auth{AuthBody, AuthBasic, AuthBasicRaw}

// Valid reports a known token_auth value; "" is valid and means DefaultAuth.
func (a Auth) Valid() bool {
	switch a {
	case "", AuthBody, AuthBasic, AuthBasicRaw, AuthAuto:
		return true
	}
	return false
}

// OrDefault returns a, or DefaultAuth when a is "".
func (a Auth) OrDefault() Auth {
	if a == "" {
		return DefaultAuth
	}
	return a
}

// ErrRefused matches (errors.Is) an [*Error] whose token endpoint refused
// the request with a 4xx other than 408 and 429: wrong credentials, a wrong
// token_auth, or a wrong token URL. Asking again will not help; it is the
// provider's configuration that must change.
var ErrRefused = errors.New("token endpoint refused the credentials")

// Error is a failed token request.
type Error struct {
	// TokenURL is the endpoint asked (without query).
	TokenURL string
	// Auth is the way the credentials were sent.
	Auth Auth
	// Status is the endpoint's HTTP status; 0 when it did not answer.
	Status int
	// Code and Description are the OAuth error of the answer, if any.
	Code, Description string
	// Err is the transport error when the endpoint did not answer.
	Err error
}

func (e *Error) Error() string {
	if e.Status == 0 {
		return fmt.Sprintf("token endpoint %s: %v", e.TokenURL, e.Err)
	}
	s := fmt.Sprintf("token endpoint %s answered %d", e.TokenURL, e.Status)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Description != "" {
		s += " (" + e.Description + ")"
	}
	if e.Auth != "" && e.Refused() {
		s += "; credentials sent as token_auth " + string(e.Auth)
	}
	return s
}

// Unwrap returns the transport error.
func (e *Error) Unwrap() error { return e.Err }

// Is matches ErrRefused for a refusal.
func (e *Error) Is(target error) bool { return target == ErrRefused && e.Refused() }

// Refused reports a 4xx answer other than 408 and 429.
func (e *Error) Refused() bool {
	return e.Status >= 400 && e.Status < 500 && e.Status != http.StatusRequestTimeout && e.Status != http.StatusTooManyRequests
}

// Memory keeps, per token URL and client ID, the way of sending
// credentials that worked in auto mode. Share one per process role; safe
// for concurrent use. The zero value is ready.
type Memory struct {
	mu sync.Mutex
	m  map[string]Auth
}

func memKey(tokenURL, clientID string) string { return tokenURL + "\x00" + clientID }

func (m *Memory) get(k string) Auth {
	if m == nil {
		return ""
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.m[k]
}

func (m *Memory) set(k string, a Auth) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = map[string]Auth{}
	}
	m.m[k] = a
}

func (m *Memory) forget(k string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.m, k)
}

// Config describes one set of client credentials.
type Config struct {
	TokenURL, ClientID, ClientSecret string
	// Auth is the provider's token_auth; "" means DefaultAuth.
	Auth Auth
	// HTTP sends the requests. Default http.DefaultClient.
	HTTP *http.Client
	// Memory keeps what auto mode found; nil remembers per Source only.
	Memory *Memory
	// Log receives auto mode's choice (Info). Default: discard.
	Log *slog.Logger
}

// Source fetches tokens for one set of credentials. Create it with [New].
// It does not cache tokens; wrap it (oauth2.ReuseTokenSource, or the CPI
// client's own cache).
type Source struct {
	cfg Config
	key string
}

// New returns a Source; it does no I/O.
func New(cfg Config) *Source {
	if cfg.HTTP == nil {
		cfg.HTTP = http.DefaultClient
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Memory == nil {
		cfg.Memory = &Memory{}
	}
	cfg.Auth = cfg.Auth.OrDefault()
	return &Source{cfg: cfg, key: memKey(cfg.TokenURL, cfg.ClientID)}
}

// Token fetches a new token. Errors are *Error (test refusals with
// errors.Is(err, ErrRefused)) or ctx's error.
func (s *Source) Token(ctx context.Context) (*oauth2.Token, error) {
	if s.cfg.Auth != AuthAuto {
		return s.fetch(ctx, s.cfg.Auth)
	}
	if a := s.cfg.Memory.get(s.key); a != "" {
		tok, err := s.fetch(ctx, a)
		if !errors.Is(err, ErrRefused) {
			return tok, err
		}
		// What worked stopped working (new secret, new tenant setup):
		// find out again.
		s.cfg.Memory.forget(s.key)
	}
	var first error
	for _, a := range autoOrder {
		tok, err := s.fetch(ctx, a)
		if err == nil {
			s.cfg.Memory.set(s.key, a)
			s.cfg.Log.Info("token_auth auto: credentials accepted", "token_url", s.cfg.TokenURL, "token_auth", string(a))
			return tok, nil
		}
		if first == nil {
			first = err
		}
		if !errors.Is(err, ErrRefused) {
			return nil, err // not a question of how to send them
		}
	}
	return nil, first
}

// TokenSource returns s as an oauth2.TokenSource bound to ctx.
func (s *Source) TokenSource(ctx context.Context) oauth2.TokenSource {
	return boundSource{ctx: ctx, s: s}
}

type boundSource struct {
	ctx context.Context
	s   *Source
}

func (b boundSource) Token() (*oauth2.Token, error) { return b.s.Token(b.ctx) }

// Client returns an HTTP client over base that sends a Bearer token of s,
// fetched once and reused until it expires.
func (s *Source) Client(ctx context.Context, base *http.Client) *http.Client {
	return oauth2.NewClient(context.WithValue(ctx, oauth2.HTTPClient, base), oauth2.ReuseTokenSource(nil, s.TokenSource(ctx)))
}

// fetch sends one token request the way a says.
func (s *Source) fetch(ctx context.Context, a Auth) (*oauth2.Token, error) {
	if a == AuthBasicRaw {
		return s.fetchRaw(ctx)
	}
	style := oauth2.AuthStyleInParams
	if a == AuthBasic {
		style = oauth2.AuthStyleInHeader
	}
	cc := clientcredentials.Config{ClientID: s.cfg.ClientID, ClientSecret: s.cfg.ClientSecret, TokenURL: s.cfg.TokenURL, AuthStyle: style}
	tok, err := cc.Token(context.WithValue(ctx, oauth2.HTTPClient, s.cfg.HTTP))
	if err == nil {
		return tok, nil
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	e := &Error{TokenURL: redact(s.cfg.TokenURL), Auth: a}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil {
		e.Status, e.Code, e.Description = re.Response.StatusCode, re.ErrorCode, re.ErrorDescription
		if e.Code == "" {
			e.Code, e.Description = oauthError(re.Body)
		}
		return nil, e
	}
	e.Err = err
	return nil, e
}

// maxBody bounds a token answer.
const maxBody = 1 << 20

// fetchRaw sends HTTP Basic with the credentials as they are, which
// golang.org/x/oauth2 cannot do.
func (s *Source) fetchRaw(ctx context.Context) (*oauth2.Token, error) {
	e := &Error{TokenURL: redact(s.cfg.TokenURL), Auth: AuthBasicRaw}
	form := url.Values{"grant_type": {"client_credentials"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		e.Err = err
		return nil, e
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(s.cfg.ClientID, s.cfg.ClientSecret)
	resp, err := s.cfg.HTTP.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		e.Err = err
		return nil, e
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		e.Err = fmt.Errorf("reading the answer: %w", err)
		return nil, e
	}
	if resp.StatusCode/100 != 2 {
		e.Status = resp.StatusCode
		e.Code, e.Description = oauthError(body)
		return nil, e
	}
	tok, err := parseToken(body, time.Now())
	if err != nil {
		e.Err = err
		return nil, e
	}
	return tok, nil
}

// parseToken reads a token answer: access_token, token_type and
// expires_in as a number or a string of seconds.
func parseToken(body []byte, now time.Time) (*oauth2.Token, error) {
	var tj struct {
		AccessToken string          `json:"access_token"`
		TokenType   string          `json:"token_type"`
		ExpiresIn   json.RawMessage `json:"expires_in"`
	}
	if err := json.Unmarshal(body, &tj); err != nil || tj.AccessToken == "" {
		return nil, errors.New("the answer is not a JSON token response")
	}
	tok := &oauth2.Token{AccessToken: tj.AccessToken, TokenType: tj.TokenType}
	if n, err := strconv.ParseInt(strings.Trim(string(tj.ExpiresIn), `"`), 10, 64); err == nil && n > 0 && n < maxExpiresIn {
		tok.Expiry = now.Add(time.Duration(n) * time.Second)
		tok.ExpiresIn = n
	}
	return tok, nil
}

// maxExpiresIn bounds a believed expires_in (a year): larger ones are
// ignored, and the token is used until a 401.
const maxExpiresIn = 366 * 24 * 3600

// oauthError reads the RFC 6749 error of a JSON answer; never the whole
// body, which might echo something it should not.
func oauthError(body []byte) (code, desc string) {
	var oe struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if json.Unmarshal(body, &oe) != nil {
		return "", ""
	}
	return clip(oe.Error, 64), clip(oe.Description, 200)
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// redact drops the query and user info of a URL for messages.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid token url)"
	}
	u.RawQuery, u.User, u.Fragment = "", nil, ""
	return u.String()
}
