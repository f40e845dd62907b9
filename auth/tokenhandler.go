package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultMaxTokenRequestBytes is the default body limit of token requests.
const DefaultMaxTokenRequestBytes = 64 << 10

// RFC 6749 §5.2 error codes, plus the broker's too_many_attempts (DESIGN §2.6).
const (
	codeInvalidRequest       = "invalid_request"
	codeInvalidClient        = "invalid_client"
	codeUnsupportedGrantType = "unsupported_grant_type"
	codeInvalidScope         = "invalid_scope"
	codeTooManyAttempts      = "too_many_attempts"
	codeServerError          = "server_error"
)

// TokenHandlerConfig configures the token endpoint.
type TokenHandlerConfig struct {
	// Issuer signs the tokens. Required.
	Issuer *Issuer
	// Clients checks client credentials. Required.
	Clients ClientAuthenticator
	// Limiter throttles repeated authentication failures. Optional: nil
	// means no throttling.
	Limiter *FailureLimiter
	// Now is the clock of the limiter. Default time.Now.
	Now func() time.Time
	// MaxBodyBytes limits the request body. Default 64 KiB.
	MaxBodyBytes int64
	// OnIssued, if set, is called after a token is issued (for audit). It
	// must not log tok.Value.
	OnIssued func(r *http.Request, clientID string, tok Token)
	// OnRefused, if set, is called for every refused request with the
	// claimed client ID (empty when there is none or it is not a valid
	// client ID) and the error code sent.
	OnRefused func(r *http.Request, clientID string, code string)
}

func (c *TokenHandlerConfig) setDefaults() {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxTokenRequestBytes
	}
}

// Validate reports every problem with the configuration, after defaults.
func (c TokenHandlerConfig) Validate() error {
	c.setDefaults()
	var errs []error
	if c.Issuer == nil {
		errs = append(errs, errors.New("token handler issuer is required"))
	}
	if c.Clients == nil {
		errs = append(errs, errors.New("token handler client authenticator is required"))
	}
	if c.MaxBodyBytes < 1 {
		errs = append(errs, fmt.Errorf("max body bytes %d is below 1", c.MaxBodyBytes))
	}
	return configError(errs)
}

// tokenHandler serves POST /oauth/token.
type tokenHandler struct {
	cfg TokenHandlerConfig
}

var _ http.Handler = (*tokenHandler)(nil)

// NewTokenHandler returns the RFC 6749 §4.4 client-credentials token
// endpoint, to be mounted at /oauth/token.
//
// Requests: POST (else 405 with Allow: POST and invalid_request), body
// application/x-www-form-urlencoded up to MaxBodyBytes (else 400
// invalid_request), no repeated parameters, grant_type=client_credentials
// (missing: invalid_request; other: unsupported_grant_type). Query
// parameters are ignored. Client credentials come either by HTTP Basic, with
// ID and secret form-urlencoded (RFC 6749 §2.3.1), or by the form fields
// client_id and client_secret; sending a secret both ways, or two different
// IDs, is invalid_request. A form client_id equal to the Basic user is
// tolerated. No credentials, malformed or wrong ones: 401 invalid_client
// with WWW-Authenticate: Basic realm="cpibroker".
//
// Throttling: only wrong credentials for a well-formed client ID (or a
// malformed client ID, counted against the address only) are counted as
// failures; missing credentials are not, so challenge-response clients are
// not penalised. A locked key answers 429 too_many_attempts with
// Retry-After, before the secret is checked.
//
// The optional scope narrows the token (see the package doc). Responses are
// JSON with Cache-Control: no-store and Pragma: no-cache. Neither secrets
// nor tokens are ever echoed or passed to the hooks.
func NewTokenHandler(cfg TokenHandlerConfig) (http.Handler, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &tokenHandler{cfg: cfg}, nil
}

// tokenResponse is the RFC 6749 §5.1 success body.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope"`
}

// errorResponse is the RFC 6749 §5.2 error body.
type errorResponse struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description,omitempty"`
}

// refusal is a refused token request.
type refusal struct {
	status     int
	code       string
	desc       string
	retryAfter time.Duration
}

// ServeHTTP answers one token request.
func (h *tokenHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	clientID, tok, ref := h.handle(w, r)
	if ref != nil {
		h.refuse(w, r, clientID, ref)
		return
	}
	if h.cfg.OnIssued != nil {
		h.cfg.OnIssued(r, clientID, tok)
	}
	writeJSON(w, http.StatusOK, tokenResponse{
		AccessToken: tok.Value,
		TokenType:   "Bearer",
		ExpiresIn:   int64(tok.ExpiresAt.Sub(tok.IssuedAt) / time.Second),
		Scope:       strings.Join(tok.Scope, " "),
	})
}

// handle runs the request through every check and issues the token. It
// returns the claimed client ID (valid IDs only) for the hooks.
func (h *tokenHandler) handle(w http.ResponseWriter, r *http.Request) (string, Token, *refusal) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return "", Token{}, &refusal{status: http.StatusMethodNotAllowed, code: codeInvalidRequest,
			desc: "the token endpoint accepts POST only"}
	}
	form, ref := h.readForm(w, r)
	if ref != nil {
		return "", Token{}, ref
	}
	switch form.Get("grant_type") {
	case "client_credentials":
	case "":
		return "", Token{}, badRequest(codeInvalidRequest, "grant_type is required")
	default:
		return "", Token{}, badRequest(codeUnsupportedGrantType, "only client_credentials is supported")
	}
	id, secret, ref := credentials(r, form)
	if ref != nil {
		return "", Token{}, ref
	}
	if !validID(id) {
		id = "" // counted per address only; never looked up or passed to hooks
	}
	now := h.cfg.Now()
	if h.cfg.Limiter != nil {
		if wait, ok := h.cfg.Limiter.Allow(id, r.RemoteAddr, now); !ok {
			return id, Token{}, &refusal{status: http.StatusTooManyRequests, code: codeTooManyAttempts,
				desc: "too many failed attempts, retry later", retryAfter: wait}
		}
	}
	if id == "" {
		h.failure("", r, now)
		return "", Token{}, unauthorized("client authentication failed")
	}
	info, err := h.authenticate(r, id, secret)
	switch {
	case errors.Is(err, ErrInvalidClient):
		h.failure(id, r, now)
		return id, Token{}, unauthorized("client authentication failed")
	case err != nil:
		return id, Token{}, serverError()
	}
	if h.cfg.Limiter != nil {
		h.cfg.Limiter.Success(id, r.RemoteAddr, now)
	}
	scope, err := grantScope(form.Get("scope"), info)
	if errors.Is(err, errNotAdmin) {
		return id, Token{}, badRequest(codeInvalidScope, "the admin scope needs a client with the admin role; this client lacks it")
	}
	if err != nil {
		return id, Token{}, badRequest(codeInvalidScope, "the requested scope is unknown or not granted")
	}
	tok, err := h.cfg.Issuer.IssueBound(id, info.Generation, scope)
	if err != nil {
		return id, Token{}, serverError()
	}
	return id, tok, nil
}

// readForm checks the content type, reads the body within the limit and
// parses it, refusing repeated parameters (RFC 6749 §3.2).
func (h *tokenHandler) readForm(w http.ResponseWriter, r *http.Request) (url.Values, *refusal) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, badRequest(codeInvalidRequest, "the body must be application/x-www-form-urlencoded")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, badRequest(codeInvalidRequest, "the request body is too large")
		}
		return nil, badRequest(codeInvalidRequest, "the request body could not be read")
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, badRequest(codeInvalidRequest, "the form body is malformed")
	}
	for _, v := range form {
		if len(v) > 1 {
			return nil, badRequest(codeInvalidRequest, "a parameter is repeated")
		}
	}
	return form, nil
}

// credentials extracts the client ID and secret from HTTP Basic or the form.
func credentials(r *http.Request, form url.Values) (id, secret string, ref *refusal) {
	formID, formSecret := form.Get("client_id"), form.Get("client_secret")
	if r.Header.Get("Authorization") == "" {
		if formID == "" && formSecret == "" {
			return "", "", unauthorized("client authentication is required")
		}
		return formID, formSecret, nil
	}
	if formSecret != "" {
		return "", "", badRequest(codeInvalidRequest, "use one client authentication method only")
	}
	user, pass, ok := r.BasicAuth()
	if !ok {
		return "", "", unauthorized("malformed client authentication")
	}
	id, err1 := url.QueryUnescape(user)
	secret, err2 := url.QueryUnescape(pass)
	if err1 != nil || err2 != nil {
		return "", "", unauthorized("malformed client authentication")
	}
	if formID != "" && formID != id {
		return "", "", badRequest(codeInvalidRequest, "use one client authentication method only")
	}
	return id, secret, nil
}

// authenticate checks the secret; an empty secret never reaches the
// authenticator.
func (h *tokenHandler) authenticate(r *http.Request, id, secret string) (ClientInfo, error) {
	if secret == "" {
		return ClientInfo{}, ErrInvalidClient
	}
	info, err := h.cfg.Clients.Authenticate(r.Context(), id, secret)
	if err != nil {
		return ClientInfo{}, err
	}
	if info.ID != id {
		return ClientInfo{}, fmt.Errorf("authenticator returned client %q for %q", info.ID, id)
	}
	return info, nil
}

func (h *tokenHandler) failure(clientID string, r *http.Request, now time.Time) {
	if h.cfg.Limiter != nil {
		h.cfg.Limiter.Failure(clientID, r.RemoteAddr, now)
	}
}

func (h *tokenHandler) refuse(w http.ResponseWriter, r *http.Request, clientID string, ref *refusal) {
	if h.cfg.OnRefused != nil {
		h.cfg.OnRefused(r, clientID, ref.code)
	}
	if ref.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="cpibroker"`)
	}
	if ref.retryAfter > 0 {
		secs := (ref.retryAfter + time.Second - 1) / time.Second
		w.Header().Set("Retry-After", strconv.FormatInt(int64(secs), 10))
	}
	writeJSON(w, ref.status, errorResponse{Error: ref.code, ErrorDescription: ref.desc})
}

func badRequest(code, desc string) *refusal {
	return &refusal{status: http.StatusBadRequest, code: code, desc: desc}
}

func unauthorized(desc string) *refusal {
	return &refusal{status: http.StatusUnauthorized, code: codeInvalidClient, desc: desc}
}

func serverError() *refusal {
	return &refusal{status: http.StatusInternalServerError, code: codeServerError,
		desc: "the token could not be issued"}
}

// writeJSON writes v with the no-store headers every token endpoint response
// carries (RFC 6749 §5.1).
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		body = []byte(`{"error":"server_error"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
