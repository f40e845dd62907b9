package discovery

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/catalog/odata"
	"github.com/cpibroker/cpibroker/internal/cpitoken"
	"golang.org/x/oauth2"
)

// Report is the answer of Test Connection: every step tried, in order,
// in Summary the first failure in plain words, and for a cpi provider one
// verdict per credential set (API plan and runtime).
type Report struct {
	Provider string `json:"provider"`
	OK       bool   `json:"ok"`
	Summary  string `json:"summary"`
	// API is the verdict on the api-plan credentials: token and one OData
	// call. Absent for providers without an api endpoint.
	API *Verdict `json:"api,omitempty"`
	// Runtime is the verdict on the runtime (integration-flow plan)
	// credentials: token and a CSRF fetch against one deployed entry point.
	Runtime *Verdict `json:"runtime,omitempty"`
	Steps   []Step   `json:"steps"`
}

// Verdict is the outcome for one credential set, in plain words.
type Verdict struct {
	OK      bool   `json:"ok"`
	Verdict string `json:"verdict"`
}

// Step is one check of a connection test.
type Step struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// stepTimeout bounds each network step of a test.
const stepTimeout = 10 * time.Second

// Test checks a provider like Test Connection of an API gateway, with the
// same token source (and token_auth) as discovery and the dispatcher. For a
// cpi provider it checks both credential sets: the API plan (token and one
// OData call) and the runtime (token and a CSRF fetch against one deployed
// entry point); for a http provider, the token (if any) and one request to
// the runtime URL. It never returns an error: failures are in the report.
func (r *Runner) Test(ctx context.Context, p catalog.Provider) Report {
	tokens := &[]string{}
	ctx = context.WithValue(ctx, tokenSink{}, tokens)
	rep := r.test(ctx, p)
	// A remote answer quoted in a detail may echo the request: never
	// show the credentials or tokens it carried.
	creds := append(r.credentialsOf(p), *tokens...)
	rep.Summary = scrub(rep.Summary, creds)
	for i := range rep.Steps {
		rep.Steps[i].Detail = scrub(rep.Steps[i].Detail, creds)
	}
	for _, v := range []*Verdict{rep.API, rep.Runtime} {
		if v != nil {
			v.Verdict = scrub(v.Verdict, creds)
		}
	}
	return rep
}

// tokenSink is the context key of the tokens a test obtained.
type tokenSink struct{}

func (r *Runner) test(ctx context.Context, p catalog.Provider) Report {
	rep := Report{Provider: p.ID, OK: true}
	add := func(name string, err error, okDetail string) bool {
		s := Step{Name: name, OK: err == nil, Detail: okDetail}
		if err != nil {
			s.Detail = err.Error()
			if rep.OK {
				rep.OK, rep.Summary = false, name+": "+s.Detail
			}
		}
		rep.Steps = append(rep.Steps, s)
		return err == nil
	}
	switch {
	case p.Type == catalog.ProviderCPI && p.API != nil:
		rep.API = &Verdict{}
		tok, err := r.testToken(ctx, p, *p.API)
		if !add("api_token", err, "token issued by "+p.API.TokenURL) {
			rep.API.Verdict = "the api credentials do not work: " + err.Error()
			break
		}
		detail, err := r.testAPI(ctx, *p.API, tok)
		if add("api_call", err, detail) {
			rep.API.OK, rep.API.Verdict = true, "the api credentials work: "+detail
		} else {
			rep.API.Verdict = "the api credentials do not work: " + err.Error()
		}
	case p.Type == catalog.ProviderCPI:
		add("api", errors.New("no api endpoint: flows cannot be discovered; paste the service key of plan \"api\" into \"api\""), "")
	}
	if p.Type == catalog.ProviderCPI {
		rep.Runtime = r.testRuntime(ctx, p, add)
	} else {
		if p.Runtime.TokenURL != "" {
			_, err := r.testToken(ctx, p, p.Runtime)
			add("runtime_token", err, "token issued by "+p.Runtime.TokenURL)
		}
		detail, err := r.testReach(ctx, p.Runtime.URL)
		add("runtime_call", err, detail)
	}
	if rep.OK {
		rep.Summary = "connection works"
	}
	return rep
}

// testRuntime checks a cpi provider's runtime credentials: a token (when
// the runtime has a token URL) and a CSRF fetch with it against one
// deployed entry point, which CPI answers without running the iFlow.
func (r *Runner) testRuntime(ctx context.Context, p catalog.Provider, add func(string, error, string) bool) *Verdict {
	v := &Verdict{}
	e, err := p.Runtime.Resolved(r.cfg.Secrets)
	if err != nil {
		add("runtime_token", err, "")
		v.Verdict = "the runtime credentials cannot be used: " + err.Error()
		return v
	}
	auth := ""
	switch {
	case e.TokenURL != "":
		tok, err := r.testToken(ctx, p, p.Runtime)
		if !add("runtime_token", err, "token issued by "+e.TokenURL) {
			v.Verdict = "the runtime credentials do not work: " + err.Error()
			return v
		}
		auth = "Bearer " + tok.AccessToken
	case e.ClientID != "":
		req := &http.Request{Header: http.Header{}}
		req.SetBasicAuth(e.ClientID, e.ClientSecret)
		auth = req.Header.Get("Authorization")
	}
	flow, ok := r.entryPoint(p.ID)
	switch {
	case !ok:
		add("runtime_call", nil, "no deployed entry point known yet; discover the provider, then test again")
		v.OK, v.Verdict = true, "the runtime token is issued, but no deployed entry point is known yet to try it on: discover the provider, then test again"
		return v
	case !p.CSRF:
		add("runtime_call", nil, "not called: the provider is not CSRF protected, so any request to an entry point would run its iFlow")
		v.OK, v.Verdict = true, "the runtime token is issued; no iFlow was called, because without CSRF protection any request would run it"
		return v
	}
	detail, err := r.csrfFetch(ctx, flow, auth)
	if add("runtime_call", err, detail) {
		v.OK, v.Verdict = true, "the runtime credentials work: "+detail
	} else {
		v.Verdict = "the runtime credentials do not work: " + err.Error()
	}
	return v
}

// entryPoint is the provider's first available flow (by ID).
func (r *Runner) entryPoint(provider string) (catalog.Flow, bool) {
	for _, f := range r.cfg.Store.ProviderFlows(provider) {
		if f.Status != catalog.FlowUnavailable && f.URL != "" {
			return f, true
		}
	}
	return catalog.Flow{}, false
}

// csrfFetch sends GET with X-CSRF-Token: Fetch to a flow, as the
// dispatcher does before its first POST: CPI answers it without running
// the iFlow.
func (r *Runner) csrfFetch(ctx context.Context, f catalog.Flow, auth string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	u := strings.TrimSuffix(f.URL, "/*")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("X-CSRF-Token", "Fetch")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := r.cfg.HTTP.Do(req)
	if err != nil {
		return "", explain(u, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	switch s := resp.StatusCode; {
	case s/100 == 2 && resp.Header.Get("X-CSRF-Token") != "":
		return fmt.Sprintf("entry point %s of flow %s accepted them and issued a CSRF token", u, f.ID), nil
	case s/100 == 2:
		return fmt.Sprintf("entry point %s of flow %s accepted them (no CSRF token answered: set csrf false if the iFlows are not CSRF protected)", u, f.ID), nil
	case s == http.StatusUnauthorized:
		return "", fmt.Errorf("entry point %s of flow %s refused the runtime token with 401: the runtime credentials are not valid for this tenant's runtime", u, f.ID)
	case s == http.StatusForbidden:
		return "", fmt.Errorf("entry point %s of flow %s answered 403: the runtime credentials lack the role its sender adapter requires (ESBMessaging.send by default), or they are an api-plan key; use a service key of plan \"integration-flow\"", u, f.ID)
	case s == http.StatusNotFound:
		return "", fmt.Errorf("entry point %s of flow %s answered 404: it is not deployed (any more); discover the provider again", u, f.ID)
	case s == http.StatusServiceUnavailable:
		return "", fmt.Errorf("entry point %s of flow %s answered 503: the iFlow is deployed but not started", u, f.ID)
	}
	return "", fmt.Errorf("entry point %s of flow %s answered %d %s to a CSRF token fetch", u, f.ID, resp.StatusCode, http.StatusText(resp.StatusCode))
}

// testToken fetches a client-credentials token with the provider's
// token_auth; a nil token without error when e has no token URL.
func (r *Runner) testToken(ctx context.Context, p catalog.Provider, e catalog.Endpoint) (*oauth2.Token, error) {
	e, err := e.Resolved(r.cfg.Secrets)
	if err != nil || e.TokenURL == "" {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	tok, err := r.tokenSource(p, e).Token(ctx)
	if err != nil {
		return nil, explain(e.TokenURL, err)
	}
	if sink, ok := ctx.Value(tokenSink{}).(*[]string); ok && tok.AccessToken != "" {
		*sink = append(*sink, tok.AccessToken)
	}
	return tok, nil
}

// testAPI reads one runtime artifact from the OData API.
func (r *Runner) testAPI(ctx context.Context, e catalog.Endpoint, tok *oauth2.Token) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	hc := r.cfg.HTTP
	if tok != nil {
		hc = oauth2.NewClient(context.WithValue(ctx, oauth2.HTTPClient, r.cfg.HTTP), oauth2.StaticTokenSource(tok))
	}
	u := apiRoot(e.URL) + "/IntegrationRuntimeArtifacts?$top=1&$inlinecount=allpages&$format=json"
	c := &odata.Client{HTTP: hc, Root: apiRoot(e.URL), MaxAttempts: 1}
	body, err := c.Get(ctx, u)
	var se *odata.StatusError
	switch {
	case errors.As(err, &se):
		return "", apiStatus(apiRoot(e.URL), se)
	case err != nil:
		return "", explain(u, err)
	}
	page, err := odata.DecodePage(body)
	if err != nil {
		return "", fmt.Errorf("%s answered 200 but not an OData JSON collection: is api.url the tenant's API host (the service key's url, without -rt)?", apiRoot(e.URL))
	}
	if page.Count >= 0 {
		return fmt.Sprintf("OData API answered: %d deployed artifacts", page.Count), nil
	}
	return "OData API answered", nil
}

// apiStatus explains an HTTP error of the OData API.
func apiStatus(root string, se *odata.StatusError) error {
	msg := se.Message
	if msg != "" {
		msg = " (" + msg + ")"
	}
	switch se.Status {
	case http.StatusUnauthorized:
		return fmt.Errorf("the OData API refused the token with 401%s: the api credentials are not valid for this tenant", msg)
	case http.StatusForbidden:
		return fmt.Errorf("the OData API answered 403 Forbidden%s: the credentials lack the role to read deployed content; use a service key of plan \"api\" with role MonitoringDataRead (integration-flow keys are refused)", msg)
	case http.StatusNotFound:
		return fmt.Errorf("wrong path: %s answered 404; api.url must be the tenant's API host (the api service key's url, without -rt)", root)
	}
	return fmt.Errorf("the OData API answered %d %s%s", se.Status, http.StatusText(se.Status), msg)
}

// testReach sends one GET to a plain HTTPS backend: any HTTP answer means
// it is reachable.
func (r *Runner) testReach(ctx context.Context, u string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	resp, err := r.cfg.HTTP.Do(req)
	if err != nil {
		return "", explain(u, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	return fmt.Sprintf("%s answered %d", u, resp.StatusCode), nil
}

// explain turns a transport or token error into plain words.
func explain(target string, err error) error {
	host := target
	if u, perr := url.Parse(target); perr == nil && u.Host != "" {
		host = u.Host
	}
	var te *cpitoken.Error
	var dns *net.DNSError
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	var record tls.RecordHeaderError
	var ne net.Error
	switch {
	case errors.As(err, &te) && te.Status != 0:
		hint := ""
		switch {
		case te.Status == http.StatusUnauthorized && te.Auth != "":
			hint = ": the client ID or secret is wrong (or the tenant wants them sent another way: token_auth " + string(te.Auth) + " was used; try auto)"
		case te.Status == http.StatusUnauthorized:
			hint = ": the client ID or secret is wrong"
		}
		msg := te.Code
		if te.Description != "" {
			msg += " (" + te.Description + ")"
		}
		return fmt.Errorf("the token URL %s answered %d%s; body: %s", target, te.Status, hint, strings.TrimSpace(msg))
	case errors.As(err, &dns):
		return fmt.Errorf("cannot resolve host %s (DNS): %s", dns.Name, dns.Err)
	case errors.As(err, &unknownCA), errors.As(err, &hostErr), errors.As(err, &invalid), errors.As(err, &verify):
		return fmt.Errorf("TLS handshake with %s failed: the server certificate is not trusted: %v", host, err)
	case errors.As(err, &record), strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return fmt.Errorf("TLS handshake with %s failed: the server does not speak TLS there (http:// URL on an https port, or the reverse?)", host)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("connection to %s refused: nothing listens there", host)
	case errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("no answer from %s within %s", host, stepTimeout)
	case strings.Contains(err.Error(), "tls:"):
		return fmt.Errorf("TLS handshake with %s failed: %v", host, err)
	}
	return fmt.Errorf("calling %s failed: %v", target, err)
}
