package console_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/broker"
	"github.com/cpibroker/cpibroker/console"
	"github.com/cpibroker/cpibroker/devkit/cpisim"
	"github.com/cpibroker/cpibroker/devkit/testkit"
)

// browser is a cookie-keeping HTTP client that does not follow redirects.
func browser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func post(t *testing.T, c *http.Client, u string, form url.Values, origin string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func get(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func csrfOf(t *testing.T, page string) string {
	t.Helper()
	_, rest, ok := strings.Cut(page, `name="csrf" value="`)
	if !ok {
		t.Fatal("no CSRF token on the page")
	}
	tok, _, _ := strings.Cut(rest, `"`)
	return tok
}

// The console and portal sign in with client credentials through the token
// endpoint; the session cookie is HttpOnly and SameSite=Strict (not Secure
// on loopback HTTP); pages carry a CSP without inline scripts; forms
// without the session's CSRF token or from another origin are refused;
// the console needs the admin role; the portal's "try it" submits through
// the partner API.
func TestSignInSessionsAndCSRF(t *testing.T) {
	sys := testkit.Start(t, testkit.Options{})
	base := sys.BaseURL
	c := browser(t)
	if resp, _ := get(t, c, base+"/console/"); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/signin" {
		t.Fatalf("signed out: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp := post(t, c, base+"/console/signin", url.Values{"client_id": {sys.Creds.Admin.ClientID}, "client_secret": {"wrong"}}, base); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong secret: %d", resp.StatusCode)
	}
	if resp := post(t, c, base+"/console/signin", url.Values{"client_id": {sys.Creds.Admin.ClientID}, "client_secret": {sys.Creds.Admin.ClientSecret}}, "https://evil.example"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin sign-in: %d", resp.StatusCode)
	}
	// A partner is not an operator.
	if resp := post(t, c, base+"/console/signin", url.Values{"client_id": {sys.Creds.Partner.ClientID}, "client_secret": {sys.Creds.Partner.ClientSecret}}, base); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("partner in the console: %d", resp.StatusCode)
	}
	resp := post(t, c, base+"/console/signin", url.Values{"client_id": {sys.Creds.Admin.ClientID}, "client_secret": {sys.Creds.Admin.ClientSecret}}, base)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	cookie := resp.Header.Get("Set-Cookie")
	for _, want := range []string{"cpib_console=", "Path=/console", "HttpOnly", "SameSite=Strict"} {
		if !strings.Contains(cookie, want) {
			t.Fatalf("cookie %q lacks %s", cookie, want)
		}
	}
	if strings.Contains(cookie, "Secure") {
		t.Fatalf("cookie %q is Secure on loopback HTTP", cookie)
	}
	resp, page := get(t, c, base+"/console/flows")
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "demo-echo") {
		t.Fatalf("flows page: %d", resp.StatusCode)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Fatalf("CSP %q", csp)
	}
	if strings.Contains(page, "<script>") || strings.Contains(page, " onclick=") {
		t.Fatal("inline script on the page")
	}
	token := csrfOf(t, page)
	form := url.Values{"status": {"disabled"}}
	if resp := post(t, c, base+"/console/flows/demo-slow/status", form, base); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("no CSRF token: %d", resp.StatusCode)
	}
	form.Set("csrf", token)
	if resp := post(t, c, base+"/console/flows/demo-slow/status", form, "https://evil.example"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin form: %d", resp.StatusCode)
	}
	if resp := post(t, c, base+"/console/flows/demo-slow/status", form, base); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("disable: %d", resp.StatusCode)
	}
	if f, ok := sys.Broker.Catalog.Flow("demo-slow"); !ok || f.Status != "disabled" {
		t.Fatalf("flow after disable: %+v", f)
	}
	// The policy is checked by the API's validation.
	resp = post(t, c, base+"/console/flows/demo-echo", url.Values{"csrf": {token}, "policy": {`{"max_attempts":-3}`}}, base)
	if b, _ := io.ReadAll(resp.Body); resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "refused") {
		t.Fatalf("bad policy: %d", resp.StatusCode)
	}

	p := browser(t)
	resp = post(t, p, base+"/portal/signin", url.Values{"client_id": {sys.Creds.Partner.ClientID}, "client_secret": {sys.Creds.Partner.ClientSecret}}, "")
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Set-Cookie"), "Path=/portal") {
		t.Fatalf("portal sign-in: %d %s", resp.StatusCode, resp.Header.Get("Set-Cookie"))
	}
	_, page = get(t, p, base+"/portal/flows/demo-echo")
	if !strings.Contains(page, "submit_demo_echo") || !strings.Contains(page, "Idempotency-Key") {
		t.Fatal("the flow page does not render the OpenAPI operation")
	}
	resp = post(t, p, base+"/portal/flows/demo-echo/try", url.Values{"csrf": {csrfOf(t, page)}, "body": {"hello"}, "content_type": {"text/plain"}}, base)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/portal/jobs/") {
		t.Fatalf("try it: %d %s", resp.StatusCode, loc)
	}
	testkit.Eventually(t, 30*time.Second, "the job finished on its page", func() bool {
		_, page = get(t, p, base+loc)
		return strings.Contains(page, `id="job-result">hello<`)
	})
	if _, page := get(t, p, base+"/portal/jobs"); !strings.Contains(page, strings.TrimPrefix(loc, "/portal/jobs/")) {
		t.Fatal("the portal's jobs page does not list the job")
	}
	// The console's session cookie is not the portal's.
	if resp, _ := get(t, p, base+"/console/"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("portal session in the console: %d", resp.StatusCode)
	}
}

// With --admin-listen the console is served there only; the portal stays
// on the partner listener.
func TestConsoleOnAdminListener(t *testing.T) {
	sys := testkit.Start(t, testkit.Options{Configure: func(c *broker.Config) { c.IngressConfig.AdminListen = "127.0.0.1:0" }})
	adminURL := sys.Broker.AdminURL()
	if adminURL == "" || sys.Broker.ConsoleURL() != adminURL+"/console/" {
		t.Fatalf("console URL %q, admin %q", sys.Broker.ConsoleURL(), adminURL)
	}
	c := browser(t)
	if resp, _ := get(t, c, sys.BaseURL+"/console/signin"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("console on the partner listener: %d", resp.StatusCode)
	}
	if resp, page := get(t, c, adminURL+"/console/signin"); resp.StatusCode != http.StatusOK || !strings.Contains(page, "client_secret") {
		t.Fatalf("console on the admin listener: %d", resp.StatusCode)
	}
	resp := post(t, c, adminURL+"/console/signin", url.Values{"client_id": {sys.Creds.Admin.ClientID}, "client_secret": {sys.Creds.Admin.ClientSecret}}, adminURL)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in on the admin listener: %d", resp.StatusCode)
	}
	if resp, page := get(t, c, adminURL+"/console/"); resp.StatusCode != http.StatusOK || !strings.Contains(page, "Per client and flow") {
		t.Fatalf("overview on the admin listener: %d", resp.StatusCode)
	}
	if resp, _ := get(t, c, sys.BaseURL+"/portal/signin"); resp.StatusCode != http.StatusOK {
		t.Fatalf("portal on the partner listener: %d", resp.StatusCode)
	}
	if resp, _ := get(t, c, adminURL+"/portal/signin"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("portal on the admin listener: %d", resp.StatusCode)
	}
}

// With --trace-url-template the job page links the job's trace: the trace
// ID the partner's traceparent started, carried to the job's event.
func TestJobPageTraceLink(t *testing.T) {
	sys := testkit.Start(t, testkit.Options{Configure: func(c *broker.Config) {
		c.Console.TraceURLTemplate = "https://jaeger.example/trace/{trace_id}"
	}})
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	p := sys.Partner()
	r := p.Submit("demo-echo", "text/plain", []byte("traced"), http.Header{"Traceparent": {"00-" + traceID + "-00f067aa0ba902b7-01"}})
	var j testkit.Job
	r.JSON(t, &j)
	p.WaitJob(j.ID, 30*time.Second)
	var aj struct {
		TraceID string `json:"trace_id"`
	}
	call(t, admin(t, sys), http.MethodGet, "/admin/v1/jobs/"+j.ID, nil, http.StatusOK).JSON(t, &aj)
	if aj.TraceID != traceID {
		t.Fatalf("admin job trace_id %q, want %s", aj.TraceID, traceID)
	}
	c := browser(t)
	post(t, c, sys.BaseURL+"/console/signin", url.Values{"client_id": {sys.Creds.Admin.ClientID}, "client_secret": {sys.Creds.Admin.ClientSecret}}, sys.BaseURL)
	if _, page := get(t, c, sys.BaseURL+"/console/jobs/"+j.ID); !strings.Contains(page, `href="https://jaeger.example/trace/`+traceID+`"`) {
		t.Fatal("the job page has no trace link")
	}
}

func TestTraceTemplateValidated(t *testing.T) {
	for tmpl, ok := range map[string]bool{
		"":                                     true,
		"http://jaeger:16686/trace/{trace_id}": true,
		"https://grafana.example/explore?t={trace_id}": true,
		"http://jaeger:16686/trace/":                   false,
		"javascript:alert(1)//{trace_id}":              false,
		"/relative/{trace_id}":                         false,
	} {
		_, err := console.New(console.Config{TraceURLTemplate: tmpl})
		if (err == nil) != ok {
			t.Errorf("%q: err %v", tmpl, err)
		}
	}
}

// Every failed CPI call of a job is logged (GET /v1/jobs/{id}/attempts for
// the owner, GET /admin/v1/jobs/{id}/attempts for operators) and listed on
// the console's job page next to the final answer.
func TestJobAttemptsLogged(t *testing.T) {
	sys := testkit.Start(t, testkit.Options{})
	a := admin(t, sys)
	call(t, a, http.MethodPatch, "/admin/v1/flows/demo-flaky", map[string]any{"policy": map[string]any{"backoff_base": "1s", "backoff_cap": "1s"}}, http.StatusOK)
	if err := sys.Sim.SetFaults("Flaky", cpisim.Faults{ErrorRate: 1, ErrorStatus: http.StatusServiceUnavailable}); err != nil {
		t.Fatal(err)
	}
	p := sys.Partner()
	var j testkit.Job
	p.Submit("demo-flaky", "text/plain", []byte("x"), nil).JSON(t, &j)
	var page struct {
		Items []struct {
			Run, Attempt, Status int
			Outcome, Code, Error string
			DurationMS           float64 `json:"duration_ms"`
		} `json:"items"`
	}
	testkit.Eventually(t, 30*time.Second, "a failed attempt logged", func() bool {
		call(t, p, http.MethodGet, "/v1/jobs/"+j.ID+"/attempts", nil, http.StatusOK).JSON(t, &page)
		return len(page.Items) >= 1
	})
	if err := sys.Sim.SetFaults("Flaky", cpisim.Faults{}); err != nil {
		t.Fatal(err)
	}
	if done := p.WaitJob(j.ID, 30*time.Second); done.Status != "succeeded" {
		t.Fatalf("job %+v", done)
	}
	call(t, a, http.MethodGet, "/admin/v1/jobs/"+j.ID+"/attempts", nil, http.StatusOK).JSON(t, &page)
	first := page.Items[0]
	if first.Run != 1 || first.Attempt != 1 || first.Status != 503 || first.Outcome != "retry" || first.Code != "cpi_503" || first.DurationMS <= 0 {
		t.Fatalf("first attempt %+v", first)
	}
	call(t, a, http.MethodGet, "/v1/jobs/"+j.ID+"/attempts", nil, http.StatusNotFound)
	c := browser(t)
	post(t, c, sys.BaseURL+"/console/signin", url.Values{"client_id": {sys.Creds.Admin.ClientID}, "client_secret": {sys.Creds.Admin.ClientSecret}}, sys.BaseURL)
	if _, html := get(t, c, sys.BaseURL+"/console/jobs/"+j.ID); !strings.Contains(html, "cpi_503") || !strings.Contains(html, `<td class="good">succeeded</td>`) {
		t.Fatal("the job page does not list the attempts")
	}
}
