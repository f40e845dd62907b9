package cpiclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/devkit/cpisim"
)

func TestInvokeSendsWhatCPIExpects(t *testing.T) {
	t.Parallel()
	s := startSim(t, cpisim.Config{}, echo, cpisim.IFlow{ID: "Orders", Address: "/orders/*", CSRF: true})
	c := newClient(t, runtimeConfig(s, true))
	fwd := http.Header{
		"X-Custom":          {"v"},
		"Authorization":     {"Basic c3RvbGVu"},
		"Cookie":            {"a=b"},
		"Connection":        {"close"},
		"Sap_applicationid": {"spoofed"},
	}
	resp := invoke(t, c, Request{
		URL: s.EndpointURL("Echo") + "?a=1", Query: "b=2", ContentType: "application/json",
		Body: []byte(`{"x":1}`), Header: fwd, ApplicationID: "job-1", IdempotencyKey: "job-1.1",
	})
	if resp.StatusCode != 200 || string(resp.Body) != `{"x":1}` || resp.ContentType != "application/json" || resp.Duration <= 0 {
		t.Fatalf("response %+v", resp)
	}
	calls := s.Calls("Echo")
	if len(calls) != 1 {
		t.Fatalf("%d calls", len(calls))
	}
	got := calls[0]
	if got.Method != "POST" || got.Query != "a=1&b=2" || got.ContentType != "application/json" ||
		got.ApplicationID != "job-1" || got.IdempotencyKey != "job-1.1" || got.AuthScheme != "Bearer" ||
		got.Header.Get("X-Custom") != "v" || got.BodySize != 7 || len(got.Header.Values("Sap_applicationid")) != 1 {
		t.Errorf("recorded %+v", got)
	}
	if resp.MessageID == "" || resp.MessageID != got.MessageID || len(resp.MessageID) != 28 {
		t.Errorf("MessageID %q, sim answered %q", resp.MessageID, got.MessageID)
	}
	if resp.Header.Get("SAP_MessageProcessingLogID") != resp.MessageID {
		t.Errorf("MPL header not kept: %v", resp.Header)
	}

	// Wildcard flows: the Flow-Path is part of the URL.
	invoke(t, c, Request{URL: s.EndpointURL("Orders") + "/42/items"})
	if sub := s.Calls("Orders")[0].CamelHTTPPath; sub != "42/items" {
		t.Errorf("CamelHttpPath %q", sub)
	}
}

func TestTokenCachedAndShared(t *testing.T) {
	t.Parallel()
	s := startSim(t, cpisim.Config{}, plain)
	c := newClient(t, runtimeConfig(s, false))
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := c.Invoke(context.Background(), Request{URL: s.EndpointURL("Plain"), Timeout: 10 * time.Second})
			if err != nil || resp.StatusCode != 200 {
				t.Errorf("Invoke: %v %v", resp, err)
			}
		}()
	}
	wg.Wait()
	for i := 0; i < 20; i++ {
		invoke(t, c, Request{URL: s.EndpointURL("Plain")})
	}
	if n := s.TokenRequests(); n != 1 {
		t.Errorf("token endpoint hit %d times, want 1", n)
	}
}

func TestTokenRefetchedOnceOn401(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	s := startSim(t, cpisim.Config{Now: clock.Now, RuntimeTokenTTL: 10 * time.Minute}, echo, plain,
		cpisim.IFlow{ID: "Other", Address: "/other", CSRF: true})
	c := newClient(t, runtimeConfig(s, true))
	invoke(t, c, Request{URL: s.EndpointURL("Echo")})

	// The simulator's clock passes the token's expiry; the client's does
	// not, so it learns from the 401, refetches once and retries.
	clock.Advance(11 * time.Minute)
	if resp := invoke(t, c, Request{URL: s.EndpointURL("Echo")}); resp.StatusCode != 200 {
		t.Fatalf("after expiry: %d", resp.StatusCode)
	}
	if got := statuses(s, "Echo"); !slices.Equal(got, []int{200, 401, 200}) {
		t.Errorf("Echo statuses %v", got)
	}
	if n := s.TokenRequests(); n != 2 {
		t.Errorf("token requests %d, want 2", n)
	}

	// A 401 on the CSRF fetch is handled the same way.
	clock.Advance(11 * time.Minute)
	if resp := invoke(t, c, Request{URL: s.EndpointURL("Other")}); resp.StatusCode != 200 {
		t.Fatalf("other after expiry: %d", resp.StatusCode)
	}
	if got := statuses(s, "Other"); !slices.Equal(got, []int{401, 200}) {
		t.Errorf("Other statuses %v (a 401 on the fetch, then the POST)", got)
	}
	if n, f := s.TokenRequests(), s.CSRFFetches("Other"); n != 3 || f != 1 {
		t.Errorf("token requests %d fetches %d, want 3 and 1", n, f)
	}
}

func TestPersistent401IsAResponse(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	clock.step = 2 * time.Hour // every token has expired by the time it is checked
	s := startSim(t, cpisim.Config{Now: clock.Now}, plain)
	c := newClient(t, runtimeConfig(s, false))
	resp := invoke(t, c, Request{URL: s.EndpointURL("Plain")})
	if resp.StatusCode != 401 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if n, calls := s.TokenRequests(), s.CallCount("Plain"); n != 2 || calls != 2 {
		t.Errorf("token requests %d calls %d, want 2 and 2 (one refetch, one retry)", n, calls)
	}
}

func TestTokenRefreshedBeforeExpiry(t *testing.T) {
	t.Parallel()
	s := startSim(t, cpisim.Config{}, plain) // runtime tokens: expires_in 3599
	clock := newFakeClock()
	cfg := runtimeConfig(s, false)
	cfg.Now = clock.Now
	c := newClient(t, cfg)
	for i, tc := range []struct {
		advance time.Duration
		tokens  int
	}{
		{0, 1},
		{3500 * time.Second, 1}, // 39s of validity left beyond the 60s skew
		{45 * time.Second, 2},   // within the skew: refreshed proactively
		{time.Minute, 2},
	} {
		clock.Advance(tc.advance)
		invoke(t, c, Request{URL: s.EndpointURL("Plain")})
		if n := s.TokenRequests(); n != tc.tokens {
			t.Errorf("Test %d: token requests %d, want %d", i, n, tc.tokens)
		}
	}
	if got := statuses(s, "Plain"); slices.Contains(got, 401) {
		t.Errorf("a refresh before expiry should avoid any 401: %v", got)
	}
}

func TestTokenFetchError(t *testing.T) {
	t.Parallel()
	s := startSim(t, cpisim.Config{}, plain)
	cfg := runtimeConfig(s, false)
	cfg.ClientSecret = "wrong"
	c := newClient(t, cfg)
	_, err := c.Invoke(context.Background(), Request{URL: s.EndpointURL("Plain"), Timeout: 10 * time.Second})
	if !errors.Is(err, ErrTokenFetch) || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "Bad credentials") {
		t.Errorf("err = %v", err)
	}
	if n := s.CallCount("Plain"); n != 0 {
		t.Errorf("the flow was called %d times without a token", n)
	}

	// An unreachable token endpoint.
	cfg = runtimeConfig(s, false)
	cfg.TokenURL = "http://127.0.0.1:1/oauth/token"
	c = newClient(t, cfg)
	if _, err := c.Invoke(context.Background(), Request{URL: s.EndpointURL("Plain"), Timeout: 10 * time.Second}); !errors.Is(err, ErrTokenFetch) {
		t.Errorf("unreachable: err = %v", err)
	}
}

func TestCSRFFetchedOncePerFlow(t *testing.T) {
	t.Parallel()
	s := startSim(t, cpisim.Config{}, echo, cpisim.IFlow{ID: "B", Address: "/b", CSRF: true})
	c := newClient(t, runtimeConfig(s, true))
	for i := 0; i < 10; i++ {
		for _, id := range []string{"Echo", "B"} {
			if resp := invoke(t, c, Request{URL: s.EndpointURL(id), Body: []byte("x")}); resp.StatusCode != 200 {
				t.Fatalf("%s: %d %s", id, resp.StatusCode, resp.Body)
			}
		}
	}
	for _, id := range []string{"Echo", "B"} {
		if f, n := s.CSRFFetches(id), s.CallCount(id); f != 1 || n != 10 {
			t.Errorf("%s: %d fetches %d calls, want 1 and 10", id, f, n)
		}
	}
}

func TestCSRFRefetchedOnceOn403(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	s := startSim(t, cpisim.Config{Now: clock.Now, RuntimeTokenTTL: 24 * time.Hour}, echo)
	c := newClient(t, runtimeConfig(s, true))
	invoke(t, c, Request{URL: s.EndpointURL("Echo")})
	clock.Advance(cpisim.DefaultSessionTTL) // the session, and its CSRF token, expire
	if resp := invoke(t, c, Request{URL: s.EndpointURL("Echo")}); resp.StatusCode != 200 {
		t.Fatalf("after session expiry: %d", resp.StatusCode)
	}
	if got := statuses(s, "Echo"); !slices.Equal(got, []int{200, 403, 200}) {
		t.Errorf("statuses %v", got)
	}
	if f := s.CSRFFetches("Echo"); f != 2 {
		t.Errorf("fetches %d, want 2", f)
	}
}

func TestPersistent403IsAResponse(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	clock.step = time.Hour // every session has expired by its next use
	s := startSim(t, cpisim.Config{Now: clock.Now, RuntimeTokenTTL: 100000 * time.Hour}, echo)
	c := newClient(t, runtimeConfig(s, true))
	resp := invoke(t, c, Request{URL: s.EndpointURL("Echo")})
	if resp.StatusCode != 403 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if got, f := statuses(s, "Echo"), s.CSRFFetches("Echo"); !slices.Equal(got, []int{403, 403}) || f != 2 {
		t.Errorf("statuses %v fetches %d", got, f)
	}

	// An api-plan key has the wrong role: the fetch itself answers 403,
	// which is returned as is.
	cfg := runtimeConfig(s, true)
	cfg.ClientID, cfg.ClientSecret = cpisim.DefaultAPIClientID, cpisim.DefaultAPIClientSecret
	c = newClient(t, cfg)
	if resp := invoke(t, c, Request{URL: s.EndpointURL("Echo")}); resp.StatusCode != 403 {
		t.Errorf("api key: %d", resp.StatusCode)
	}
}

func TestWithoutCSRF(t *testing.T) {
	t.Parallel()
	s := startSim(t, cpisim.Config{}, plain, echo)
	c := newClient(t, runtimeConfig(s, false))
	if resp := invoke(t, c, Request{URL: s.EndpointURL("Plain")}); resp.StatusCode != 200 {
		t.Errorf("plain: %d", resp.StatusCode)
	}
	if f := s.CSRFFetches("Plain"); f != 0 {
		t.Errorf("fetched a CSRF token from a provider without CSRF")
	}
	// A provider wrongly declared without CSRF gets CPI's 403, once.
	if resp := invoke(t, c, Request{URL: s.EndpointURL("Echo")}); resp.StatusCode != 403 || s.CallCount("Echo") != 1 {
		t.Errorf("protected flow without CSRF: %d after %d calls", resp.StatusCode, s.CallCount("Echo"))
	}
}

func TestBasicAndNoAuth(t *testing.T) {
	t.Parallel()
	s := startSim(t, cpisim.Config{}, plain)
	c := newClient(t, Config{ClientID: cpisim.DefaultRuntimeClientID, ClientSecret: cpisim.DefaultRuntimeClientSecret})
	if resp := invoke(t, c, Request{URL: s.EndpointURL("Plain")}); resp.StatusCode != 200 {
		t.Errorf("basic: %d", resp.StatusCode)
	}
	c = newClient(t, Config{})
	if resp := invoke(t, c, Request{URL: s.EndpointURL("Plain")}); resp.StatusCode != 401 {
		t.Errorf("no auth: %d", resp.StatusCode)
	}
	calls := s.Calls("Plain")
	if calls[0].AuthScheme != "Basic" || calls[1].AuthScheme != "" || s.TokenRequests() != 0 || len(calls) != 2 {
		t.Errorf("calls %+v, %d token requests", calls, s.TokenRequests())
	}
}

func TestNon2xxIsAResponse(t *testing.T) {
	t.Parallel()
	s := startSim(t, cpisim.Config{}, echo,
		cpisim.IFlow{ID: "Fail", Address: "/fail", CSRF: true, Faults: cpisim.Faults{ErrorRate: 1, ErrorStatus: 500, ErrorMessage: "boom"}})
	c := newClient(t, runtimeConfig(s, true))
	resp := invoke(t, c, Request{URL: s.EndpointURL("Fail")})
	want := "An internal server error occured: boom\nThe MPL ID for the failed message is : " + resp.MessageID + "\nFor more details please check tail log."
	if resp.StatusCode != 500 || string(resp.Body) != want || resp.MessageID == "" || !strings.HasPrefix(resp.ContentType, "text/plain") {
		t.Errorf("500: %+v %q", resp, resp.Body)
	}
	// Unknown address: the CSRF fetch answers 404, returned as the response.
	resp = invoke(t, c, Request{URL: s.URL() + "/http/nothing"})
	if resp.StatusCode != 404 {
		t.Errorf("unknown address: %d", resp.StatusCode)
	}
	if err := s.SetFaults("Echo", cpisim.Faults{Outage: true}); err != nil {
		t.Fatal(err)
	}
	if resp = invoke(t, c, Request{URL: s.EndpointURL("Echo")}); resp.StatusCode != 503 {
		t.Errorf("outage: %d", resp.StatusCode)
	}
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	s := startSim(t, cpisim.Config{}, cpisim.IFlow{ID: "Stuck", Address: "/stuck", CSRF: true, Faults: cpisim.Faults{Latency: 10 * time.Minute}})
	c := newClient(t, runtimeConfig(s, true))
	start := time.Now()
	_, err := c.Invoke(context.Background(), Request{URL: s.EndpointURL("Stuck"), Timeout: 100 * time.Millisecond})
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want ErrTimeout wrapping the deadline", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("returned after %s", d)
	}
	// The caller's own deadline counts too; a cancellation is no timeout.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Invoke(ctx, Request{URL: s.EndpointURL("Stuck")}); !errors.Is(err, ErrTimeout) {
		t.Errorf("context deadline: err = %v", err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if _, err := c.Invoke(ctx, Request{URL: s.EndpointURL("Stuck")}); errors.Is(err, ErrTimeout) || !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: err = %v", err)
	}
}

func TestResponseHeaderAllowList(t *testing.T) {
	t.Parallel()
	s := startSim(t, cpisim.Config{}, cpisim.IFlow{ID: "H", Address: "/h", ResponseStatus: 202, ResponseHeaders: map[string]string{
		"X-Order-Id":            "42",
		"X-Internal":            "secret",
		"Location":              "/orders/42",
		"Set-Cookie":            "a=b",
		"WWW-Authenticate":      "Basic",
		"CamelHttpResponseCode": "202",
		"SAP_MplCorrelationId":  "AGAS1GevYrPodxieoYf4YSY4jd-8",
	}})
	cfg := runtimeConfig(s, false)
	cfg.AllowResponseHeaders = []string{"x-order-id", "Set-Cookie"}
	c := newClient(t, cfg)
	resp := invoke(t, c, Request{URL: s.EndpointURL("H"), ContentType: "text/plain", Body: []byte("x")})
	var names []string
	for k := range resp.Header {
		names = append(names, k)
	}
	slices.Sort(names)
	want := []string{"Content-Type", "Location", "Sap_messageprocessinglogid", "Sap_mplcorrelationid", "X-Order-Id"}
	if !slices.Equal(names, want) || resp.StatusCode != 202 {
		t.Errorf("headers %v, want %v", names, want)
	}
}

func TestResponseBodyLimit(t *testing.T) {
	t.Parallel()
	s := startSim(t, cpisim.Config{}, plain)
	cfg := runtimeConfig(s, false)
	cfg.MaxResponseBody = 8 << 10
	c := newClient(t, cfg)
	for i, tc := range []struct {
		size int
		err  error
	}{
		{8 << 10, nil},
		{8<<10 + 1, ErrResponseTooLarge}, // Content-Length known
		{1 << 20, ErrResponseTooLarge},   // chunked: read up to the limit
	} {
		resp, err := c.Invoke(context.Background(), Request{URL: s.EndpointURL("Plain"), Body: []byte(strings.Repeat("a", tc.size)), Timeout: 10 * time.Second})
		if !errors.Is(err, tc.err) {
			t.Errorf("Test %d: err = %v, want %v", i, err, tc.err)
		}
		if err == nil && len(resp.Body) != tc.size {
			t.Errorf("Test %d: %d bytes", i, len(resp.Body))
		}
	}
}

func TestConcurrentInvoke(t *testing.T) {
	t.Parallel()
	s := startSim(t, cpisim.Config{Seed: 3}, echo,
		cpisim.IFlow{ID: "Flaky", Address: "/flaky", CSRF: true, Faults: cpisim.Faults{ErrorRate: 0.3}},
		cpisim.IFlow{ID: "Slowish", Address: "/slowish", CSRF: true, Faults: cpisim.Faults{Latency: 2 * time.Millisecond}})
	c := newClient(t, runtimeConfig(s, true))
	const workers, calls = 32, 20
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < calls; i++ {
				id := []string{"Echo", "Flaky", "Slowish"}[(w+i)%3]
				body := fmt.Sprintf("%d-%d", w, i)
				resp, err := c.Invoke(context.Background(), Request{URL: s.EndpointURL(id), Body: []byte(body), ContentType: "text/plain", Timeout: 10 * time.Second})
				switch {
				case err != nil:
					t.Errorf("%s: %v", id, err)
				case resp.StatusCode == 503 && id == "Flaky":
				case resp.StatusCode != 200 || string(resp.Body) != body:
					t.Errorf("%s: %d %q", id, resp.StatusCode, resp.Body)
				}
			}
		}()
	}
	wg.Wait()
	if n := s.TokenRequests(); n != 1 {
		t.Errorf("token requests %d, want 1", n)
	}
	total := 0
	for _, id := range []string{"Echo", "Flaky", "Slowish"} {
		if f := s.CSRFFetches(id); f != 1 {
			t.Errorf("%s: %d CSRF fetches, want 1", id, f)
		}
		total += s.CallCount(id)
	}
	if total != workers*calls {
		t.Errorf("%d calls, want %d", total, workers*calls)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for i, tc := range []struct {
		cfg Config
		ok  bool
	}{
		{Config{}, true},
		{Config{TokenURL: "https://x.authentication.eu10.hana.ondemand.com/oauth/token", ClientID: "a", ClientSecret: "b"}, true},
		{Config{ClientID: "a", ClientSecret: "b"}, true},
		{Config{TokenURL: "https://x/oauth/token"}, false},
		{Config{TokenURL: "/oauth/token", ClientID: "a", ClientSecret: "b"}, false},
		{Config{TokenURL: "ftp://x/oauth/token", ClientID: "a", ClientSecret: "b"}, false},
		{Config{ClientSecret: "b"}, false},
		{Config{MaxResponseBody: -1}, false},
		{Config{TokenRefreshSkew: -time.Second}, false},
		{Config{FetchTimeout: -time.Second}, false},
		{Config{AllowResponseHeaders: []string{"Bad Name"}}, false},
	} {
		err := tc.cfg.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("Test %d: Validate = %v", i, err)
		}
		if err != nil && !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("Test %d: %v does not wrap ErrInvalidConfig", i, err)
		}
	}
}

func TestRequestURLs(t *testing.T) {
	t.Parallel()
	for i, tc := range []struct {
		url, query   string
		target, flow string
		ok           bool
	}{
		{"https://h/http/a", "", "https://h/http/a", "https://h/http/a", true},
		{"https://h/http/a", "x=1", "https://h/http/a?x=1", "https://h/http/a", true},
		{"https://h/http/a?y=2", "x=1", "https://h/http/a?y=2&x=1", "https://h/http/a", true},
		{"https://h/http/a#frag", "", "https://h/http/a", "https://h/http/a", true},
		{"/http/a", "", "", "", false},
		{"mailto:a@b", "", "", "", false},
		{"://", "", "", "", false},
	} {
		target, flow, err := requestURLs(Request{URL: tc.url, Query: tc.query})
		if (err == nil) != tc.ok {
			t.Errorf("Test %d: err %v", i, err)
			continue
		}
		if err != nil {
			if !errors.Is(err, ErrInvalidRequest) {
				t.Errorf("Test %d: %v does not wrap ErrInvalidRequest", i, err)
			}
			continue
		}
		if target != tc.target || flow.String() != tc.flow {
			t.Errorf("Test %d: %q %q", i, target, flow)
		}
	}
}

func FuzzRequestURLs(f *testing.F) {
	f.Add("https://h.example/http/a?y=2#f", "x=1")
	f.Add("http://127.0.0.1:8081/http/orders/42", "")
	f.Add("https://[::1]/http/%41", "a=%zz")
	f.Fuzz(func(t *testing.T, raw, query string) {
		target, flow, err := requestURLs(Request{URL: raw, Query: query})
		if err != nil {
			if !errors.Is(err, ErrInvalidRequest) {
				t.Fatalf("error %v does not wrap ErrInvalidRequest", err)
			}
			return
		}
		if flow.RawQuery != "" || flow.Fragment != "" {
			t.Fatalf("flow URL %q keeps a query or fragment", flow)
		}
		if !strings.HasPrefix(target, flow.String()) {
			t.Fatalf("target %q does not start with flow %q", target, flow)
		}
		if flow.Scheme != "http" && flow.Scheme != "https" {
			t.Fatalf("scheme %q", flow.Scheme)
		}
	})
}

func TestShortLivedTokenIsReused(t *testing.T) {
	t.Parallel()
	s := startSim(t, cpisim.Config{RuntimeTokenTTL: 10 * time.Second}, plain) // expires_in 9, skew 60s
	clock := newFakeClock()
	cfg := runtimeConfig(s, false)
	cfg.Now = clock.Now
	c := newClient(t, cfg)
	invoke(t, c, Request{URL: s.EndpointURL("Plain")})
	clock.Advance(4 * time.Second)
	invoke(t, c, Request{URL: s.EndpointURL("Plain")})
	if n := s.TokenRequests(); n != 1 {
		t.Errorf("token requests %d, want 1 within the first half of the token's life", n)
	}
	clock.Advance(time.Second)
	invoke(t, c, Request{URL: s.EndpointURL("Plain")})
	if n := s.TokenRequests(); n != 2 {
		t.Errorf("token requests %d, want 2 past half of the token's life", n)
	}
}
