package cpisim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

var mplIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{28}$`)

func TestRouting(t *testing.T) {
	t.Parallel()
	s := startSim(t, Config{},
		IFlow{ID: "Echo", Address: "/demo/echo"},
		IFlow{ID: "Orders", Address: "/Orders/*"},
		IFlow{ID: "OrdersEU", Address: "/orders/eu/*"},
		IFlow{ID: "OrdersExact", Address: "/orders/special"},
	)
	tok := runtimeToken(t, s)
	for i, tc := range []struct {
		path   string
		status int
		iflow  string
		sub    string
	}{
		{"/http/demo/echo", 200, "Echo", ""},
		{"/http/DEMO/Echo", 200, "Echo", ""},
		{"/http/demo/echo/", 404, "", ""},
		{"/http/demo/echo/x", 404, "", ""},
		{"/http/demo", 404, "", ""},
		{"/http/nothing", 404, "", ""},
		{"/http/orders/42", 200, "Orders", "42"},
		{"/http/ORDERS/42/Items/7", 200, "Orders", "42/Items/7"},
		{"/http/orders", 200, "Orders", ""},
		{"/http/orders/", 200, "Orders", ""},
		{"/http/ordersX", 404, "", ""},
		{"/http/orders/EU/1", 200, "OrdersEU", "1"},
		{"/http/orders/special", 200, "OrdersExact", ""},
		{"/http/orders/special/1", 200, "Orders", "special/1"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			before := 0
			if tc.iflow != "" {
				before = s.CallCount(tc.iflow)
			}
			res := do(t, nil, http.MethodPost, s.URL()+tc.path+"?a=1&b=two", bearer(tok), []byte("hello"))
			if res.status != tc.status {
				t.Fatalf("Test %d: status %d, want %d (%s)", i, res.status, tc.status, res.body)
			}
			if tc.status != 200 {
				return
			}
			if got := res.header.Get(simPathHeader); got != tc.sub {
				t.Errorf("Test %d: X-Sim-Path %q, want %q", i, got, tc.sub)
			}
			if s.CallCount(tc.iflow) != before+1 {
				t.Fatalf("Test %d: call not recorded on %s", i, tc.iflow)
			}
			calls := s.Calls(tc.iflow)
			c := calls[len(calls)-1]
			if c.CamelHTTPPath != tc.sub || c.Path != tc.path || c.Query != "a=1&b=two" || c.IFlowID != tc.iflow {
				t.Errorf("Test %d: recorded %+v", i, c)
			}
		})
	}
}

func TestEchoAndRecordedCall(t *testing.T) {
	t.Parallel()
	s := startSim(t, Config{},
		IFlow{ID: "Echo", Address: "/demo/echo"},
		IFlow{ID: "Accepted", Address: "/accepted", ResponseStatus: 202, ResponseHeaders: map[string]string{"X-Order-ID": "42", "content-type": "application/xml"}},
		IFlow{ID: "NoContent", Address: "/none", ResponseStatus: 204},
	)
	tok := runtimeToken(t, s)
	h := bearer(tok)
	h.Set("Content-Type", "application/json")
	h["SAP_ApplicationID"] = []string{"job-1"}
	h.Set("Idempotency-Key", "job-1.1")
	h.Set("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	h.Set("X-Custom", "v")
	h.Set("Cookie", "secret=1")
	res := do(t, nil, http.MethodPost, s.URL()+"/http/demo/echo?q=1", h, []byte(`{"a":1}`))
	if res.status != 200 || res.body != `{"a":1}` || res.header.Get("Content-Type") != "application/json" {
		t.Fatalf("echo: %d %q %q", res.status, res.header.Get("Content-Type"), res.body)
	}
	mpl := res.header.Get(mplHeader)
	if !mplIDPattern.MatchString(mpl) {
		t.Fatalf("MPL ID %q", mpl)
	}
	c := s.Calls("Echo")[0]
	want := Call{
		Time: c.Time, IFlowID: "Echo", Method: "POST", Path: "/http/demo/echo", Query: "q=1",
		ContentType: "application/json", IdempotencyKey: "job-1.1", ApplicationID: "job-1",
		Traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", AuthScheme: "Bearer",
		Header: c.Header, BodySize: 7, Status: 200, MessageID: mpl,
	}
	if fmt.Sprint(c) != fmt.Sprint(want) {
		t.Errorf("recorded\n%+v\nwant\n%+v", c, want)
	}
	if c.Header.Get("Authorization") != "" || c.Header.Get("Cookie") != "" || c.Header.Get("X-Custom") != "v" {
		t.Errorf("recorded header %v", c.Header)
	}

	// No request Content-Type: none answered, no sniffing.
	res = do(t, nil, http.MethodPost, s.URL()+"/http/demo/echo", bearer(tok), []byte("<html>hi</html>"))
	if ct, ok := res.header["Content-Type"]; ok {
		t.Errorf("Content-Type %q answered without one in the request", ct)
	}

	res = do(t, nil, http.MethodPost, s.URL()+"/http/accepted", h, []byte("x"))
	if res.status != 202 || res.header.Get("X-Order-ID") != "42" || res.header.Get("Content-Type") != "application/xml" || len(res.header["Content-Type"]) != 1 {
		t.Errorf("accepted: %d %v", res.status, res.header)
	}
	res = do(t, nil, http.MethodPost, s.URL()+"/http/none", h, []byte("x"))
	if res.status != 204 || res.body != "" || res.header.Get(mplHeader) == "" {
		t.Errorf("no content: %d %q %v", res.status, res.body, res.header)
	}
}

func TestRuntimeAuth(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	s := startSim(t, Config{Now: clock.Now}, IFlow{ID: "Echo", Address: "/demo/echo"})
	rtTok := runtimeToken(t, s)
	apiTok := fetchToken(t, s, s.cfg.APIClientID, s.cfg.APIClientSecret)
	expired := runtimeToken(t, s)
	s.tokens.mu.Lock()
	e := s.tokens.tokens[expired]
	e.expires = clock.Now()
	s.tokens.tokens[expired] = e
	s.tokens.mu.Unlock()

	for i, tc := range []struct {
		name   string
		auth   string
		path   string
		status int
	}{
		{"runtime bearer", "Bearer " + rtTok, "/http/demo/echo", 200},
		{"lowercase scheme", "bearer " + rtTok, "/http/demo/echo", 200},
		{"runtime basic", basic(s.cfg.RuntimeClientID, s.cfg.RuntimeClientSecret), "/http/demo/echo", 200},
		{"missing", "", "/http/demo/echo", 401},
		{"unknown token", "Bearer nope", "/http/demo/echo", 401},
		{"expired token", "Bearer " + expired, "/http/demo/echo", 401},
		{"wrong basic", basic(s.cfg.RuntimeClientID, "wrong"), "/http/demo/echo", 401},
		{"other scheme", "Digest x", "/http/demo/echo", 401},
		{"api token", "Bearer " + apiTok, "/http/demo/echo", 403},
		{"api basic", basic(s.cfg.APIClientID, s.cfg.APIClientSecret), "/http/demo/echo", 403},
		{"unknown address without auth", "", "/http/nothing", 401},
		{"unknown address with auth", "Bearer " + rtTok, "/http/nothing", 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.auth != "" {
				h.Set("Authorization", tc.auth)
			}
			res := do(t, nil, http.MethodPost, s.URL()+tc.path, h, []byte("x"))
			if res.status != tc.status {
				t.Fatalf("Test %d: status %d, want %d", i, res.status, tc.status)
			}
			if res.status != 200 && res.header.Get(mplHeader) != "" {
				t.Errorf("Test %d: MPL ID on a call refused before processing", i)
			}
		})
	}
	calls := s.Calls("Echo")
	if len(calls) != 10 || calls[3].Status != 401 || calls[3].AuthScheme != "" || calls[2].AuthScheme != "Basic" {
		t.Errorf("recorded %d calls: %+v", len(calls), calls)
	}
}

func TestBodyTooLarge(t *testing.T) {
	t.Parallel()
	s := startSim(t, Config{MaxBodySize: 1 << 20}, IFlow{ID: "E", Address: "/e"}, IFlow{ID: "Small", Address: "/small", MaxBodySize: 10})
	tok := runtimeToken(t, s)
	for i, tc := range []struct {
		path    string
		size    int
		chunked bool
		status  int
	}{
		{"/http/e", 1 << 20, false, 200},
		{"/http/e", 1<<20 + 1, false, 413},
		{"/http/e", 1<<20 + 1, true, 413},
		{"/http/e", 1 << 20, true, 200},
		{"/http/small", 10, false, 200},
		{"/http/small", 11, true, 413},
	} {
		body := strings.Repeat("a", tc.size)
		req, err := http.NewRequest(http.MethodPost, s.URL()+tc.path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if tc.chunked {
			req.ContentLength = -1 // unknown length: sent chunked
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("Test %d: %v", i, err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("Test %d: status %d, want %d", i, resp.StatusCode, tc.status)
		}
		if tc.status == 413 && !mplIDPattern.MatchString(resp.Header.Get(mplHeader)) {
			t.Errorf("Test %d: 413 without MPL ID", i)
		}
	}
}

func TestInternalErrorBody(t *testing.T) {
	t.Parallel()
	s := startSim(t, Config{},
		IFlow{ID: "Fail", Address: "/fail", Faults: Faults{ErrorRate: 1, ErrorStatus: 500, ErrorMessage: "Validation failed for: /xsd/ProductDetails.xsd"}},
		IFlow{ID: "Busy", Address: "/busy", Faults: Faults{ErrorRate: 1}},
		IFlow{ID: "Throttled", Address: "/throttled", Faults: Faults{ErrorRate: 1, ErrorStatus: 429}},
	)
	tok := runtimeToken(t, s)
	res := do(t, nil, http.MethodPost, s.URL()+"/http/fail", bearer(tok), []byte("x"))
	mpl := res.header.Get(mplHeader)
	want := "An internal server error occured: Validation failed for: /xsd/ProductDetails.xsd\n" +
		"The MPL ID for the failed message is : " + mpl + "\n" +
		"For more details please check tail log."
	if res.status != 500 || res.body != want || !strings.HasPrefix(res.header.Get("Content-Type"), "text/plain") || !mplIDPattern.MatchString(mpl) {
		t.Errorf("500: %d %q %q\nwant %q", res.status, res.header.Get("Content-Type"), res.body, want)
	}
	if c := s.Calls("Fail")[0]; c.Status != 500 || c.MessageID != mpl {
		t.Errorf("recorded %+v", c)
	}

	res = do(t, nil, http.MethodPost, s.URL()+"/http/busy", bearer(tok), []byte("x"))
	if res.status != 503 || !mplIDPattern.MatchString(res.header.Get(mplHeader)) || !hasPrefixLine(res.body, "The MPL ID for the failed message is : ") {
		t.Errorf("503 by default: %d %q", res.status, res.body)
	}
	res = do(t, nil, http.MethodPost, s.URL()+"/http/throttled", bearer(tok), []byte("x"))
	if res.status != 429 {
		t.Errorf("429: %d %q", res.status, res.body)
	}
}

func TestOutage(t *testing.T) {
	t.Parallel()
	s := startSim(t, Config{}, IFlow{ID: "E", Address: "/e", CSRF: true, Faults: Faults{Outage: true, Latency: time.Hour / 10}})
	tok := runtimeToken(t, s)
	h := bearer(tok)
	h.Set("X-CSRF-Token", "Fetch")
	for _, m := range []string{http.MethodPost, http.MethodGet} {
		res := do(t, nil, m, s.EndpointURL("E"), h, nil)
		if res.status != 503 || res.header.Get(mplHeader) != "" || res.header.Get("X-CSRF-Token") != "" {
			t.Errorf("%s during outage: %d %v", m, res.status, res.header)
		}
	}
	if n := s.CallCount("E"); n != 2 {
		t.Errorf("CallCount = %d, want 2", n)
	}
}

func TestErrorRateDeterministic(t *testing.T) {
	t.Parallel()
	outcomes := func(seed int64) string {
		s := startSim(t, Config{Seed: seed}, IFlow{ID: "Flaky", Address: "/flaky", Faults: Faults{ErrorRate: 0.5}})
		tok := runtimeToken(t, s)
		var b strings.Builder
		for i := 0; i < 200; i++ {
			res := do(t, nil, http.MethodPost, s.EndpointURL("Flaky"), bearer(tok), []byte("x"))
			switch res.status {
			case 200:
				b.WriteByte('.')
			case 503:
				b.WriteByte('x')
			default:
				t.Fatalf("status %d", res.status)
			}
		}
		return b.String()
	}
	a, b, c := outcomes(42), outcomes(42), outcomes(43)
	if a != b {
		t.Errorf("same seed, different outcomes:\n%s\n%s", a, b)
	}
	if a == c {
		t.Errorf("different seeds, same outcomes")
	}
	if n := strings.Count(a, "x"); n < 70 || n > 130 {
		t.Errorf("%d of 200 failed at rate 0.5", n)
	}
}

func TestLatency(t *testing.T) {
	t.Parallel()
	s := startSim(t, Config{}, IFlow{ID: "Slow", Address: "/slow", Faults: Faults{Latency: 50 * time.Millisecond}},
		IFlow{ID: "Stuck", Address: "/stuck", Faults: Faults{Latency: 10 * time.Minute}})
	tok := runtimeToken(t, s)
	start := time.Now()
	if res := do(t, nil, http.MethodPost, s.EndpointURL("Slow"), bearer(tok), []byte("x")); res.status != 200 {
		t.Fatalf("status %d", res.status)
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("answered after %s, latency is 50ms", d)
	}

	// A caller that gives up is recorded as 499 as soon as it leaves.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.EndpointURL("Stuck"), strings.NewReader("x"))
	req.Header.Set("Authorization", "Bearer "+tok)
	if _, err := http.DefaultClient.Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	waitFor(t, "the abandoned call to be recorded", func() bool { return s.CallCount("Stuck") == 1 })
	if c := s.Calls("Stuck")[0]; c.Status != statusClientClosed {
		t.Errorf("recorded status %d", c.Status)
	}
}

func TestCloseReleasesWaitingCalls(t *testing.T) {
	t.Parallel()
	s, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Deploy(IFlow{ID: "Stuck", Address: "/stuck", Faults: Faults{Latency: 10 * time.Minute}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Start("127.0.0.1:0"); !errors.Is(err, ErrStarted) {
		t.Errorf("second Start: %v", err)
	}
	tok := runtimeToken(t, s)
	got := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, s.EndpointURL("Stuck"), strings.NewReader("x"))
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			got <- 0
			return
		}
		resp.Body.Close()
		got <- resp.StatusCode
	}()
	waitFor(t, "the call to wait", func() bool { return s.InFlight("Stuck") == 1 })
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if st := <-got; st != 503 {
		t.Errorf("waiting call answered %d", st)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.Start("127.0.0.1:0"); !errors.Is(err, ErrClosed) {
		t.Errorf("Start after Close: %v", err)
	}
}

func TestBodyReadGap(t *testing.T) {
	t.Parallel()
	s := startSim(t, Config{BodyReadGap: 100 * time.Millisecond},
		IFlow{ID: "E", Address: "/e"},
		IFlow{ID: "Slow", Address: "/slow", Faults: Faults{Latency: 300 * time.Millisecond}})
	tok := runtimeToken(t, s)

	// A body that stalls longer than the gap is refused with 408.
	pr, pw := io.Pipe()
	defer pw.Close()
	req, _ := http.NewRequest(http.MethodPost, s.EndpointURL("E"), pr)
	req.Header.Set("Authorization", "Bearer "+tok)
	go func() { _, _ = pw.Write([]byte("first part")) }() // then nothing
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("stalled body: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Errorf("stalled body: %d, want 408", resp.StatusCode)
	}

	// A latency longer than the gap is not cut short by it.
	if res := do(t, nil, http.MethodPost, s.EndpointURL("Slow"), bearer(tok), []byte("x")); res.status != 200 || res.body != "x" {
		t.Errorf("latency beyond the read gap: %d %q", res.status, res.body)
	}
	if c := s.Calls("Slow"); len(c) != 1 || c[0].Status != 200 {
		t.Errorf("recorded %+v", c)
	}
}
