package ingress_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/broker"
	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/devkit/testkit"
	"github.com/oklog/ulid/v2"
)

type problemBody struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Code   string `json:"code"`
}

// expectProblem asserts an RFC 9457 problem with a stable code.
func expectProblem(t *testing.T, r testkit.Response, status int, code string) problemBody {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("content type %q, want application/problem+json", ct)
	}
	var p problemBody
	if err := json.Unmarshal(r.Body, &p); err != nil {
		t.Fatalf("problem body %q: %v", r.Body, err)
	}
	if p.Code != code || p.Status != status || p.Type == "" || p.Title == "" {
		t.Fatalf("problem %+v, want code %s", p, code)
	}
	return p
}

func TestAuthenticationErrors(t *testing.T) {
	sys := testkit.Start(t, testkit.Options{})
	p := sys.Partner()
	good := p.Token
	for _, tc := range []struct {
		name, auth string
	}{
		{"no header", ""},
		{"wrong scheme", "Basic " + good},
		{"garbage", "Bearer not.a.jwt"},
		{"tampered", "Bearer " + good[:len(good)-4] + "AAAA"},
		{"empty bearer", "Bearer "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.auth != "" {
				h.Set("Authorization", tc.auth)
			}
			p.Token = ""
			r := p.Do(http.MethodPost, "/v1/flows/demo-echo/jobs", strings.NewReader("{}"), h)
			expectProblem(t, r, http.StatusUnauthorized, "invalid_token")
			if ch := r.Header.Get("WWW-Authenticate"); !strings.Contains(ch, `Bearer`) || !strings.Contains(ch, `error="invalid_token"`) {
				t.Fatalf("WWW-Authenticate %q", ch)
			}
		})
	}
	// A disabled client's still-valid token stops working.
	p.Token = good
	c, _ := sys.Broker.Catalog.Client(sys.Creds.Partner.ClientID)
	c.Enabled = false
	if err := sys.Broker.Catalog.PutClient(context.Background(), c, false); err != nil {
		t.Fatal(err)
	}
	expectProblem(t, p.Do(http.MethodGet, "/v1/flows", nil, nil), http.StatusUnauthorized, "invalid_token")
}

func TestRequestValidation(t *testing.T) {
	sys := testkit.Start(t, testkit.Options{Configure: func(c *broker.Config) {
		c.IngressConfig.MaxPayload = 4096
	}})
	p := sys.Partner()
	h := func(kv ...string) http.Header {
		out := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			out.Set(kv[i], kv[i+1])
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		flow   string
		body   string
		header http.Header
		status int
		code   string
	}{
		{"uppercase flow", "Demo-Echo", "{}", nil, 400, "invalid_name"},
		{"underscore flow", "demo_echo", "{}", nil, 400, "invalid_name"},
		{"dot flow", "demo.echo", "{}", nil, 400, "invalid_name"},
		{"wildcard flow", "%2A", "{}", nil, 400, "invalid_name"},
		{"gt flow", "%3E", "{}", nil, 400, "invalid_name"},
		{"too long flow", strings.Repeat("a", 64), "{}", nil, 400, "invalid_name"},
		{"unknown flow", "no-such-flow", "{}", nil, 404, "flow_not_found"},
		{"payload too large", "demo-echo", strings.Repeat("x", 4097), nil, 413, "payload_too_large"},
		{"idempotency key too long", "demo-echo", "{}", h("Idempotency-Key", strings.Repeat("k", 256)), 400, "invalid_request"},
		{"idempotency key with space", "demo-echo", "{}", h("Idempotency-Key", "a b"), 400, "invalid_request"},
		{"bad job ttl", "demo-echo", "{}", h("Job-TTL", "-5"), 400, "invalid_request"},
		{"job ttl not a number", "demo-echo", "{}", h("Job-TTL", "1h"), 400, "invalid_request"},
		{"callback not allowed", "demo-echo", "{}", h("Callback-URL", "https://evil.example/x"), 400, "callback_not_allowed"},
		{"flow path on a fixed address", "demo-echo", "{}", h("Flow-Path", "/x"), 400, "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := p.Do(http.MethodPost, "/v1/flows/"+tc.flow+"/jobs", strings.NewReader(tc.body), tc.header)
			expectProblem(t, r, tc.status, tc.code)
		})
	}
	// Nothing above reached JetStream.
	info, err := sys.Broker.Resources.Jobs.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.LastSeq != 0 {
		t.Fatalf("rejected requests stored %d messages", info.State.LastSeq)
	}
}

func TestRoutesAndReads(t *testing.T) {
	sys := testkit.Start(t, testkit.Options{})
	p := sys.Partner()
	expectProblem(t, p.Do(http.MethodGet, "/nope", nil, nil), 404, "not_found")
	expectProblem(t, p.Do(http.MethodPut, "/v1/jobs/"+ulid.Make().String(), nil, nil), 405, "invalid_request")
	expectProblem(t, p.Do(http.MethodGet, "/v1/jobs/"+ulid.Make().String(), nil, nil), 404, "job_not_found")
	expectProblem(t, p.Do(http.MethodGet, "/v1/jobs/not-a-ulid", nil, nil), 404, "job_not_found")
	expectProblem(t, p.Do(http.MethodGet, "/v1/jobs/..%2F..%2Fetc", nil, nil), 404, "not_found")
	expectProblem(t, p.Do(http.MethodGet, "/v1/jobs/"+ulid.Make().String()+"?wait=forever", nil, nil), 400, "invalid_request")

	r := p.Submit("demo-echo", "text/plain", []byte("hi"), nil)
	var j testkit.Job
	r.JSON(t, &j)
	// Another partner cannot see it.
	other := addPartner(t, sys, "other-partner", []string{"demo-echo"})
	expectProblem(t, other.Do(http.MethodGet, "/v1/jobs/"+j.ID, nil, nil), 404, "job_not_found")
	expectProblem(t, other.Do(http.MethodGet, "/v1/jobs/"+j.ID+"/result", nil, nil), 404, "job_not_found")
	expectProblem(t, other.Do(http.MethodDelete, "/v1/jobs/"+j.ID, nil, nil), 404, "job_not_found")
	// A flow not granted is not found, not forbidden.
	expectProblem(t, other.Submit("demo-slow", "text/plain", []byte("x"), nil), 404, "flow_not_found")

	var flows struct {
		Items []struct{ ID, Status string } `json:"items"`
	}
	other.Do(http.MethodGet, "/v1/flows", nil, nil).JSON(t, &flows)
	if len(flows.Items) != 1 || flows.Items[0].ID != "demo-echo" {
		t.Fatalf("other partner sees flows %+v", flows.Items)
	}
	// A token narrowed to one flow cannot submit to another granted flow.
	narrow := *p
	narrow.Token = testkit.Token(t, sys.BaseURL, sys.Creds.Partner.ClientID, sys.Creds.Partner.ClientSecret, "flow:demo-slow")
	expectProblem(t, narrow.Submit("demo-echo", "text/plain", []byte("x"), nil), 404, "flow_not_found")
	if r := narrow.Submit("demo-slow", "text/plain", []byte("x"), nil); r.Status != 202 {
		t.Fatalf("narrowed token on its flow: %d %s", r.Status, r.Body)
	}
}

func TestCancelAndResultStates(t *testing.T) {
	sys := testkit.Start(t, testkit.Options{})
	sys.Broker.Dispatcher.Pause()
	p := sys.Partner()
	var j testkit.Job
	p.Submit("demo-echo", "text/plain", []byte("later"), nil).JSON(t, &j)
	expectProblem(t, p.Do(http.MethodGet, "/v1/jobs/"+j.ID+"/result", nil, nil), 409, "not_finished")
	r := p.Do(http.MethodDelete, "/v1/jobs/"+j.ID, nil, nil)
	var c testkit.Job
	r.JSON(t, &c)
	if r.Status != 200 || c.Status != "canceled" || c.Error == nil || c.Error.Code != "canceled" {
		t.Fatalf("cancel: %d %s", r.Status, r.Body)
	}
	expectProblem(t, p.Do(http.MethodDelete, "/v1/jobs/"+j.ID, nil, nil), 409, "not_cancelable")
	expectProblem(t, p.Do(http.MethodGet, "/v1/jobs/"+j.ID+"/result", nil, nil), 409, "no_result")
	// Once dispatching resumes, the canceled job's message is dropped, not run.
	var after testkit.Job
	p.Submit("demo-echo", "text/plain", []byte("now"), nil).JSON(t, &after)
	sys.Broker.Dispatcher.Resume()
	if done := p.WaitJob(after.ID, 30*time.Second); done.Status != "succeeded" {
		t.Fatalf("job after cancel: %+v", done)
	}
	for _, call := range sys.Sim.Calls("Echo") {
		if call.ApplicationID == j.ID {
			t.Fatalf("canceled job %s reached CPI", j.ID)
		}
	}
	var still testkit.Job
	p.Do(http.MethodGet, "/v1/jobs/"+j.ID, nil, nil).JSON(t, &still)
	if still.Status != "canceled" {
		t.Fatalf("canceled job became %s", still.Status)
	}
}

func TestJetStreamDownAnswers503(t *testing.T) {
	sys := testkit.Start(t, testkit.Options{})
	p := sys.Partner()
	sys.Broker.Server.Shutdown()
	sys.Broker.Server.WaitForShutdown()
	r := p.Submit("demo-echo", "text/plain", []byte("x"), nil)
	expectProblem(t, r, http.StatusServiceUnavailable, "unavailable")
	if r.Header.Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
}

// addPartner creates another partner client and returns its API client.
func addPartner(t *testing.T, sys *testkit.System, id string, grants []string) *testkit.Partner {
	t.Helper()
	hash, err := catalog.HashSecret("secret-" + id)
	if err != nil {
		t.Fatal(err)
	}
	if err := sys.Broker.Catalog.PutClient(context.Background(), catalog.Client{
		ID: id, Roles: []string{catalog.RolePartner}, Enabled: true, Grants: grants, SecretHashes: []string{hash},
	}, true); err != nil {
		t.Fatal(err)
	}
	return &testkit.Partner{T: t, BaseURL: sys.BaseURL, HTTP: http.DefaultClient,
		Token: testkit.Token(t, sys.BaseURL, id, "secret-"+id, "")}
}
