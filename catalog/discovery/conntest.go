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
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// Report is the answer of Test Connection: every step tried, in order,
// and in Summary the first failure in plain words.
type Report struct {
	Provider string `json:"provider"`
	OK       bool   `json:"ok"`
	Summary  string `json:"summary"`
	Steps    []Step `json:"steps"`
}

// Step is one check of a connection test.
type Step struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// stepTimeout bounds each network step of a test.
const stepTimeout = 10 * time.Second

// Test checks a provider like Test Connection of an API gateway: for a cpi
// provider, an API token fetch and one OData API call (and a runtime token
// when OAuth is configured); for a http provider, the token (if any) and
// one request to the runtime URL. It never returns an error: failures are
// in the report.
func (r *Runner) Test(ctx context.Context, p catalog.Provider) Report {
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
		tok, err := r.testToken(ctx, *p.API)
		if add("api_token", err, "token issued by "+p.API.TokenURL) || p.API.TokenURL == "" {
			detail, err := r.testAPI(ctx, *p.API, tok)
			add("api_call", err, detail)
		}
	case p.Type == catalog.ProviderCPI:
		add("api", errors.New("no api endpoint: flows cannot be discovered; paste the service key of plan \"api\" into \"api\""), "")
	}
	if p.Runtime.TokenURL != "" {
		_, err := r.testToken(ctx, p.Runtime)
		add("runtime_token", err, "token issued by "+p.Runtime.TokenURL)
	}
	if p.Type == catalog.ProviderHTTP {
		detail, err := r.testReach(ctx, p.Runtime.URL)
		add("runtime_call", err, detail)
	}
	if rep.OK {
		rep.Summary = "connection works"
	}
	return rep
}

// testToken fetches a client-credentials token; a nil token without error
// when e has no token URL.
func (r *Runner) testToken(ctx context.Context, e catalog.Endpoint) (*oauth2.Token, error) {
	e, err := e.Resolved(r.cfg.Lookup)
	if err != nil || e.TokenURL == "" {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	cc := clientcredentials.Config{ClientID: e.ClientID, ClientSecret: e.ClientSecret, TokenURL: e.TokenURL}
	tok, err := cc.Token(context.WithValue(ctx, oauth2.HTTPClient, r.cfg.HTTP))
	if err != nil {
		return nil, explain(e.TokenURL, err)
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
	var re *oauth2.RetrieveError
	var dns *net.DNSError
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	var record tls.RecordHeaderError
	var ne net.Error
	switch {
	case errors.As(err, &re):
		body := strings.TrimSpace(string(re.Body))
		if len(body) > 300 {
			body = body[:300] + "…"
		}
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		hint := ""
		if status == http.StatusUnauthorized {
			hint = ": the client ID or secret is wrong"
		}
		return fmt.Errorf("the token URL %s answered %d%s; body: %s", target, status, hint, body)
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
