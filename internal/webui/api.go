package webui

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// ErrSignIn is returned by SignIn for refused credentials.
var ErrSignIn = errors.New("webui: the client ID or secret was refused")

// API calls the broker's HTTP API in process.
type API struct {
	// H serves /oauth/token, /v1 and, on the console's listener, /admin/v1.
	H http.Handler
}

// Response is an API answer.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// OK reports a 2xx status.
func (r Response) OK() bool { return r.Status >= 200 && r.Status < 300 }

// Decode reads the JSON body into v.
func (r Response) Decode(v any) error {
	if err := json.Unmarshal(r.Body, v); err != nil {
		return fmt.Errorf("webui: decode %d answer: %w", r.Status, err)
	}
	return nil
}

// Problem is the API's explanation of a failed call, for the page: the
// problem+json detail and code, or the status text.
func (r Response) Problem() string {
	var p struct {
		Detail, Code, Error string
		Desc                string `json:"error_description"`
	}
	if json.Unmarshal(r.Body, &p) == nil {
		switch {
		case p.Detail != "":
			return fmt.Sprintf("%s (%d %s)", p.Detail, r.Status, p.Code)
		case p.Error != "":
			return strings.TrimSpace(p.Error + ": " + p.Desc)
		}
	}
	return fmt.Sprintf("%d %s", r.Status, http.StatusText(r.Status))
}

// recorder is a minimal in-memory http.ResponseWriter.
type recorder struct {
	h      http.Header
	status int
	body   bytes.Buffer
}

func (w *recorder) Header() http.Header { return w.h }
func (w *recorder) WriteHeader(s int) {
	if w.status == 0 {
		w.status = s
	}
}
func (w *recorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.body.Write(b)
}

// maxAnswer bounds how much of an API answer a page reads.
const maxAnswer = 8 << 20

// Do sends one request. from is the browser's request: its context, source
// address and host go with the call, so rate limits and the audit see the
// real caller. token is the session's access token ("" for none).
func (a API) Do(from *http.Request, token, method, path string, body io.Reader, contentType string) Response {
	return a.do(from.Context(), from, token, method, path, body, contentType, nil)
}

// JSON sends v as a JSON body (nil sends none).
func (a API) JSON(from *http.Request, token, method, path string, v any) Response {
	var body io.Reader
	ct := ""
	if v != nil {
		b, err := json.Marshal(v)
		if err != nil {
			return Response{Status: http.StatusBadRequest, Body: []byte(`{"detail":"cannot encode the request"}`)}
		}
		body, ct = bytes.NewReader(b), "application/json"
	}
	return a.Do(from, token, method, path, body, ct)
}

func (a API) do(ctx context.Context, from *http.Request, token, method, path string, body io.Reader, contentType string, extra http.Header) Response {
	req, err := http.NewRequestWithContext(ctx, method, path, body)
	if err != nil {
		return Response{Status: http.StatusBadRequest, Body: []byte(`{"detail":"bad request path"}`)}
	}
	req.RemoteAddr, req.Host = from.RemoteAddr, from.Host
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range extra {
		req.Header[k] = v
	}
	rec := &recorder{h: http.Header{}}
	a.H.ServeHTTP(rec, req)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	b := rec.body.Bytes()
	if len(b) > maxAnswer {
		b = b[:maxAnswer]
	}
	return Response{Status: rec.status, Header: rec.h, Body: b}
}

// Token is an access token and when it ends.
type Token struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
	Scope       string `json:"scope"`
}

// SignIn asks the token endpoint for a token with the client's
// credentials (the same endpoint, limiter and audit as partners use).
func (a API) SignIn(from *http.Request, clientID, secret string) (Token, error) {
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {secret}}
	r := a.Do(from, "", http.MethodPost, "/oauth/token", strings.NewReader(form.Encode()), "application/x-www-form-urlencoded")
	if r.Status == http.StatusUnauthorized || r.Status == http.StatusBadRequest {
		return Token{}, ErrSignIn
	}
	if !r.OK() {
		return Token{}, fmt.Errorf("webui: sign-in: %s", r.Problem())
	}
	var t Token
	if err := r.Decode(&t); err != nil || t.AccessToken == "" {
		return Token{}, fmt.Errorf("webui: sign-in: no token in the answer")
	}
	return t, nil
}
