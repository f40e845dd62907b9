package testkit

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// Partner is an HTTP client of the partner API holding a token.
type Partner struct {
	T       testing.TB
	BaseURL string
	Token   string
	HTTP    *http.Client
}

// Token fetches an access token with client credentials; it fails the test
// on any error.
func Token(t testing.TB, baseURL, id, secret string, scope string) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}}
	if scope != "" {
		form.Set("scope", scope)
	}
	req, _ := http.NewRequest(http.MethodPost, baseURL+"/oauth/token", strings.NewReader(form.Encode()))
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("token: %v", err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&body) != nil || body.AccessToken == "" {
		t.Fatalf("token: status %d", resp.StatusCode)
	}
	return body.AccessToken
}

// Partner returns a client authenticated as the demo partner.
func (s *System) Partner() *Partner {
	tok := Token(s.T, s.BaseURL, s.Creds.Partner.ClientID, s.Creds.Partner.ClientSecret, "")
	return &Partner{T: s.T, BaseURL: s.BaseURL, Token: tok, HTTP: &http.Client{Timeout: 90 * time.Second}}
}

// Response is a read HTTP answer.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v, failing the test on error.
func (r Response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %q: %v", r.Body, err)
	}
}

// Do sends a request with the partner's token.
func (p *Partner) Do(method, path string, body io.Reader, header http.Header) Response {
	p.T.Helper()
	req, err := http.NewRequest(method, p.BaseURL+path, body)
	if err != nil {
		p.T.Fatalf("request: %v", err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if p.Token != "" {
		req.Header.Set("Authorization", "Bearer "+p.Token)
	}
	resp, err := p.HTTP.Do(req)
	if err != nil {
		p.T.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		p.T.Fatalf("read body: %v", err)
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// Job is the subset of the job resource tests look at.
type Job struct {
	ID       string `json:"id"`
	Flow     string `json:"flow"`
	Status   string `json:"status"`
	Run      int    `json:"run"`
	Attempts int    `json:"attempts"`
	Waiting  *struct {
		Reason string `json:"reason"`
		Until  string `json:"until"`
		Job    string `json:"job"`
	} `json:"waiting"`
	LastAttempt *struct {
		At         string `json:"at"`
		StatusCode int    `json:"status_code"`
		Code       string `json:"code"`
		Message    string `json:"message"`
	} `json:"last_attempt"`
	Result *struct {
		StatusCode   int    `json:"status_code"`
		ContentType  string `json:"content_type"`
		Size         int64  `json:"size"`
		CPIMessageID string `json:"cpi_message_id"`
		URL          string `json:"url"`
	} `json:"result"`
	Error *struct {
		Code       string `json:"code"`
		Message    string `json:"message"`
		StatusCode int    `json:"status_code"`
	} `json:"error"`
}

// Submit posts a job and returns the answer.
func (p *Partner) Submit(flow, contentType string, body []byte, header http.Header) Response {
	p.T.Helper()
	h := http.Header{}
	for k, v := range header {
		h[k] = v
	}
	if contentType != "" {
		h.Set("Content-Type", contentType)
	}
	return p.Do(http.MethodPost, "/v1/flows/"+flow+"/jobs", strings.NewReader(string(body)), h)
}

// WaitJob long-polls a job until it is terminal or the deadline passes.
func (p *Partner) WaitJob(id string, deadline time.Duration) Job {
	p.T.Helper()
	end := time.Now().Add(deadline)
	for {
		r := p.Do(http.MethodGet, "/v1/jobs/"+id+"?wait=10s", nil, nil)
		if r.Status != http.StatusOK {
			p.T.Fatalf("GET job %s: %d %s", id, r.Status, r.Body)
		}
		var j Job
		r.JSON(p.T, &j)
		switch j.Status {
		case "succeeded", "failed", "canceled":
			return j
		}
		if time.Now().After(end) {
			p.T.Fatalf("job %s still %s after %s", id, j.Status, deadline)
		}
	}
}
