package adminclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// Client calls the admin API with an admin client's credentials.
type Client struct {
	// BaseURL is the broker's URL, e.g. http://127.0.0.1:8080.
	BaseURL string
	// ClientID and ClientSecret are an admin client's credentials.
	ClientID, ClientSecret string
	// HTTP is the HTTP client. Default: 60s timeout.
	HTTP  *http.Client
	token string
}

// APIError is a non-2xx answer.
type APIError struct {
	Status int
	Body   []byte
}

// Error names the status and the problem's code and detail (or the
// RFC 6749 error of the token endpoint).
func (e *APIError) Error() string {
	var m map[string]any
	_ = json.Unmarshal(e.Body, &m)
	str := func(k string) string { s, _ := m[k].(string); return s }
	switch {
	case str("code") != "":
		return fmt.Sprintf("%d %s: %s", e.Status, str("code"), str("detail"))
	case str("error") != "":
		return fmt.Sprintf("%d %s: %s", e.Status, str("error"), str("error_description"))
	}
	return fmt.Sprintf("%d %s", e.Status, strings.TrimSpace(string(e.Body)))
}

func (c *Client) http() *http.Client {
	if c.HTTP == nil {
		c.HTTP = &http.Client{Timeout: 60 * time.Second}
	}
	return c.HTTP
}

// login gets a token (client credentials, HTTP Basic).
func (c *Client) login(ctx context.Context) error {
	if c.ClientID == "" || c.ClientSecret == "" {
		return errors.New("admin credentials missing: use --client-id/--client-secret, CPIB_ADMIN_CLIENT_ID/CPIB_ADMIN_CLIENT_SECRET or --credentials")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(c.BaseURL, "/")+"/oauth/token",
		strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "scope": {"admin"}}.Encode()))
	if err != nil {
		return fmt.Errorf("token request: %w", err)
	}
	req.SetBasicAuth(url.QueryEscape(c.ClientID), url.QueryEscape(c.ClientSecret))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	status, body, err := c.send(req)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		apiErr := &APIError{Status: status, Body: body}
		if status == http.StatusBadRequest && bytes.Contains(body, []byte(`"invalid_scope"`)) {
			return fmt.Errorf("client %q lacks the admin role: use an admin client's credentials (the token endpoint answered %w)", c.ClientID, apiErr)
		}
		return fmt.Errorf("getting an admin token: %w", apiErr)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &tok); err != nil || tok.AccessToken == "" {
		return errors.New("getting an admin token: malformed answer")
	}
	c.token = tok.AccessToken
	return nil
}

func (c *Client) send(req *http.Request) (int, []byte, error) {
	resp, err := c.http().Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: reading the answer: %w", req.Method, req.URL.Path, err)
	}
	return resp.StatusCode, b, nil
}

// Do sends one admin request (body may be nil) and returns the answer's
// body; a non-2xx answer is an *APIError.
func (c *Client) Do(ctx context.Context, method, path string, body []byte) ([]byte, error) {
	if c.token == "" {
		if err := c.login(ctx); err != nil {
			return nil, err
		}
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.BaseURL, "/")+path, rd)
	if err != nil {
		return nil, fmt.Errorf("request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	status, b, err := c.send(req)
	if err != nil {
		return nil, err
	}
	if status < 200 || status > 299 {
		return nil, &APIError{Status: status, Body: b}
	}
	return b, nil
}

// credentialsFile is the part of demo-credentials.json the CLI reads.
type credentialsFile struct {
	BaseURL string `json:"base_url"`
	Admin   struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	} `json:"admin"`
}

func readCredentials(path string) (credentialsFile, error) {
	var f credentialsFile
	b, err := os.ReadFile(path)
	if err != nil {
		return f, fmt.Errorf("credentials: %w", err)
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return f, fmt.Errorf("credentials %s: %w", path, err)
	}
	return f, nil
}
