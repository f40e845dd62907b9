package ingress_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/devkit/testkit"
)

// createClient creates a partner through the admin API and returns its
// secret.
func createClient(t *testing.T, admin *testkit.Partner, body map[string]any) string {
	t.Helper()
	r := sendJSON(admin, http.MethodPost, "/admin/v1/clients", body)
	expectStatus(t, r, http.StatusCreated)
	var out struct {
		ClientSecret string `json:"client_secret"`
	}
	r.JSON(t, &out)
	return out.ClientSecret
}

// TestDeletedClientIDIsRetired (issue 12.1): a client's history never
// passes to a new owner of its ID. After bob is deleted, his old token is
// refused everywhere and creating bob again is 409 client_id_retired, so a
// new bob can never read the old bob's jobs, results, events or
// idempotency keys.
func TestDeletedClientIDIsRetired(t *testing.T) {
	sys := testkit.Start(t, testkit.Options{})
	admin := adminOf(t, sys)
	spec := map[string]any{"id": "bob", "grants": []string{"demo-echo"}}
	secret := createClient(t, admin, spec)
	bob := &testkit.Partner{T: t, BaseURL: sys.BaseURL, HTTP: http.DefaultClient,
		Token: testkit.Token(t, sys.BaseURL, "bob", secret, "")}

	r := bob.Submit("demo-echo", "text/plain", []byte("old bob's secret"), http.Header{"Idempotency-Key": {"k1"}})
	expectStatus(t, r, http.StatusAccepted)
	var job testkit.Job
	r.JSON(t, &job)
	if j := bob.WaitJob(job.ID, 30*time.Second); j.Status != "succeeded" {
		t.Fatalf("job %+v", j)
	}

	expectStatus(t, sendJSON(admin, http.MethodDelete, "/admin/v1/clients/bob", nil), http.StatusNoContent)
	p := expectProblem(t, sendJSON(admin, http.MethodPost, "/admin/v1/clients", spec), http.StatusConflict, "client_id_retired")
	t.Logf("re-create: %s", p.Detail)
	expectProblem(t, sendJSON(admin, http.MethodGet, "/admin/v1/clients/bob", nil), http.StatusNotFound, "not_found")
	expectProblem(t, sendJSON(admin, http.MethodPatch, "/admin/v1/clients/bob", map[string]any{"name": "x"}), http.StatusNotFound, "not_found")
	expectProblem(t, sendJSON(admin, http.MethodDelete, "/admin/v1/clients/bob", nil), http.StatusNotFound, "not_found")
	var list struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	sendJSON(admin, http.MethodGet, "/admin/v1/clients", nil).JSON(t, &list)
	for _, c := range list.Items {
		if c.ID == "bob" {
			t.Fatal("the deleted client is still listed")
		}
	}

	for _, path := range []string{"/v1/jobs/" + job.ID, "/v1/jobs/" + job.ID + "/result", "/v1/events"} {
		expectProblem(t, bob.Do(http.MethodGet, path, nil, nil), http.StatusUnauthorized, "invalid_token")
	}
	expectProblem(t, bob.Submit("demo-echo", "text/plain", []byte("x"), http.Header{"Idempotency-Key": {"k1"}}),
		http.StatusUnauthorized, "invalid_token")
	// The old secret gets no new token either.
	if st := tokenStatus(t, sys.BaseURL, "bob", secret); st != http.StatusUnauthorized {
		t.Fatalf("token for a deleted client: %d", st)
	}
}

// TestRotateSecretWithoutOverlapRetiresTokens (issue 12.1): rotate-secret
// with overlap 0 refuses the tokens issued before it at once; with an
// overlap they keep working.
func TestRotateSecretWithoutOverlapRetiresTokens(t *testing.T) {
	sys := testkit.Start(t, testkit.Options{})
	sys.Broker.Dispatcher.Pause()
	admin := adminOf(t, sys)
	secret := createClient(t, admin, map[string]any{"id": "carol", "grants": []string{"demo-echo"}})
	old := &testkit.Partner{T: t, BaseURL: sys.BaseURL, HTTP: http.DefaultClient,
		Token: testkit.Token(t, sys.BaseURL, "carol", secret, "")}
	expectStatus(t, old.Do(http.MethodGet, "/v1/flows", nil, nil), http.StatusOK)

	r := sendJSON(admin, http.MethodPost, "/admin/v1/clients/carol/rotate-secret?overlap=0s", nil)
	expectStatus(t, r, http.StatusOK)
	var rotated struct {
		ClientSecret string `json:"client_secret"`
	}
	r.JSON(t, &rotated)
	expectProblem(t, old.Do(http.MethodGet, "/v1/flows", nil, nil), http.StatusUnauthorized, "invalid_token")
	expectProblem(t, old.Submit("demo-echo", "text/plain", []byte("x"), nil), http.StatusUnauthorized, "invalid_token")
	if st := tokenStatus(t, sys.BaseURL, "carol", secret); st != http.StatusUnauthorized {
		t.Fatalf("token for the replaced secret: %d", st)
	}
	fresh := &testkit.Partner{T: t, BaseURL: sys.BaseURL, HTTP: http.DefaultClient,
		Token: testkit.Token(t, sys.BaseURL, "carol", rotated.ClientSecret, "")}
	expectStatus(t, fresh.Do(http.MethodGet, "/v1/flows", nil, nil), http.StatusOK)

	// With an overlap the tokens (and the secret) of before keep working.
	expectStatus(t, sendJSON(admin, http.MethodPost, "/admin/v1/clients/carol/rotate-secret",
		map[string]any{"overlap": "1h"}), http.StatusOK)
	expectStatus(t, fresh.Do(http.MethodGet, "/v1/flows", nil, nil), http.StatusOK)
	if st := tokenStatus(t, sys.BaseURL, "carol", rotated.ClientSecret); st != http.StatusOK {
		t.Fatalf("token for the secret in its overlap: %d", st)
	}
	// Other changes of the client keep its tokens.
	expectStatus(t, sendJSON(admin, http.MethodPatch, "/admin/v1/clients/carol", map[string]any{"name": "Carol"}), http.StatusOK)
	expectStatus(t, fresh.Do(http.MethodGet, "/v1/flows", nil, nil), http.StatusOK)
}

// tokenStatus asks for a token and returns the HTTP status.
func tokenStatus(t *testing.T, baseURL, id, secret string) int {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}}
	req, _ := http.NewRequest(http.MethodPost, baseURL+"/oauth/token", strings.NewReader(form.Encode()))
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestExternalIDsAreUnique (issue 12.7): an external ID belongs to one
// client at a time, so an IdP token never maps to a random one of two:
// a duplicate is 409 external_id_taken on create and on PATCH, also when
// many creates race; a removed or deleted client's external ID is free.
func TestExternalIDsAreUnique(t *testing.T) {
	sys := testkit.Start(t, testkit.Options{})
	sys.Broker.Dispatcher.Pause()
	admin := adminOf(t, sys)
	createClient(t, admin, map[string]any{"id": "alice", "external_ids": []string{"sb-alice", "sb-shared"}})
	p := expectProblem(t, sendJSON(admin, http.MethodPost, "/admin/v1/clients",
		map[string]any{"id": "eve", "external_ids": []string{"sb-eve", "sb-shared"}}), http.StatusConflict, "external_id_taken")
	if !strings.Contains(p.Detail, "external_ids") || !strings.Contains(p.Detail, "sb-shared") {
		t.Fatalf("detail %q does not name the field and value", p.Detail)
	}
	expectProblem(t, sendJSON(admin, http.MethodGet, "/admin/v1/clients/eve", nil), http.StatusNotFound, "not_found")
	createClient(t, admin, map[string]any{"id": "eve", "external_ids": []string{"sb-eve"}})
	// sb-eve was not left claimed by the refused create: eve has it now.
	expectProblem(t, sendJSON(admin, http.MethodPatch, "/admin/v1/clients/eve",
		map[string]any{"external_ids": []string{"sb-eve", "sb-alice"}}), http.StatusConflict, "external_id_taken")
	expectProblem(t, sendJSON(admin, http.MethodPost, "/admin/v1/clients",
		map[string]any{"id": "dup", "external_ids": []string{"sb-d", "sb-d"}}), http.StatusBadRequest, "invalid_request")

	// alice gives sb-shared up: eve may take it.
	expectStatus(t, sendJSON(admin, http.MethodPatch, "/admin/v1/clients/alice",
		map[string]any{"external_ids": []string{"sb-alice"}}), http.StatusOK)
	expectStatus(t, sendJSON(admin, http.MethodPatch, "/admin/v1/clients/eve",
		map[string]any{"external_ids": []string{"sb-eve", "sb-shared"}}), http.StatusOK)
	// Deleting alice frees sb-alice.
	expectStatus(t, sendJSON(admin, http.MethodDelete, "/admin/v1/clients/alice", nil), http.StatusNoContent)
	expectStatus(t, sendJSON(admin, http.MethodPatch, "/admin/v1/clients/eve",
		map[string]any{"external_ids": []string{"sb-eve", "sb-shared", "sb-alice"}}), http.StatusOK)

	// Concurrent creates claiming one external ID: exactly one wins.
	const n = 8
	statuses := make(chan int, n)
	for i := range n {
		go func() {
			body := `{"id":"racer-` + strconv.Itoa(i) + `","external_ids":["sb-race"]}`
			req, _ := http.NewRequest(http.MethodPost, sys.BaseURL+"/admin/v1/clients", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+admin.Token)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				statuses <- 0
				return
			}
			resp.Body.Close()
			statuses <- resp.StatusCode
		}()
	}
	won := 0
	for range n {
		switch st := <-statuses; st {
		case http.StatusCreated:
			won++
		case http.StatusConflict:
		default:
			t.Errorf("racing create: status %d", st)
		}
	}
	if won != 1 {
		t.Fatalf("%d racing creates got sb-race, want exactly 1", won)
	}
}

// TestPolicyAndQuotaRanges (issue 12.5): rates, counts and limits past
// their documented maxima are a 400 naming the field, for flow policies
// and client quotas, on create and on PATCH; sane values pass.
func TestPolicyAndQuotaRanges(t *testing.T) {
	sys := testkit.Start(t, testkit.Options{})
	sys.Broker.Dispatcher.Pause()
	admin := adminOf(t, sys)
	for _, tc := range []struct {
		body, field string
	}{
		{`{"policy":{"rate":1e308}}`, "policy.rate"},
		{`{"policy":{"rate":1e19}}`, "policy.rate"},
		{`{"policy":{"rate":0.0000001}}`, "policy.rate"},
		{`{"policy":{"rate":-1}}`, "policy.rate"},
		{`{"policy":{"concurrency":1000000000000}}`, "policy.concurrency"},
		{`{"policy":{"backoff_cap":"100000h"}}`, "policy.backoff_cap"},
		{`{"policy":{"breaker":{"min_requests":9000000000}}}`, "policy.breaker.min_requests"},
		{`{"policy":{"breaker":{"open_for":"1000h"}}}`, "policy.breaker"},
		{`{"title":"` + strings.Repeat("t", 201) + `"}`, "title"},
		{`{"description":"` + strings.Repeat("d", 4097) + `"}`, "description"},
	} {
		p := expectProblem(t, sendJSON(admin, http.MethodPatch, "/admin/v1/flows/demo-echo", tc.body), http.StatusBadRequest, "invalid_request")
		if !strings.Contains(p.Detail, tc.field) {
			t.Errorf("%s: detail %q does not name %s", tc.body, p.Detail, tc.field)
		}
	}
	expectStatus(t, sendJSON(admin, http.MethodPatch, "/admin/v1/flows/demo-echo", `{"policy":{"rate":1000000,"concurrency":1000000}}`), http.StatusOK)

	for _, tc := range []struct {
		body, field string
	}{
		{`{"quota":{"rate":1e19}}`, "quota.rate"},
		{`{"quota":{"rate":1e308,"burst":5}}`, "quota.rate"},
		{`{"quota":{"rate":5,"burst":2000000}}`, "quota.burst"},
		{`{"quota":{"concurrency":2000000}}`, "quota.concurrency"},
		{`{"quota":{"allow":2000000000,"interval":"day"}}`, "quota.allow"},
		{`{"max_backlog":2000000000}`, "max_backlog"},
		{`{"name":"` + strings.Repeat("n", 201) + `"}`, "name"},
		{`{"external_ids":["` + strings.Repeat("x", 256) + `"]}`, "external_ids"},
	} {
		p := expectProblem(t, sendJSON(admin, http.MethodPatch, "/admin/v1/clients/demo-partner", tc.body), http.StatusBadRequest, "invalid_request")
		if !strings.Contains(p.Detail, tc.field) {
			t.Errorf("%s: detail %q does not name %s", tc.body, p.Detail, tc.field)
		}
	}
	p := expectProblem(t, sendJSON(admin, http.MethodPost, "/admin/v1/clients",
		`{"id":"greedy","quota":{"rate":1e19}}`), http.StatusBadRequest, "invalid_request")
	if !strings.Contains(p.Detail, "quota.rate") {
		t.Errorf("create: detail %q", p.Detail)
	}
	expectStatus(t, sendJSON(admin, http.MethodPatch, "/admin/v1/clients/demo-partner",
		`{"quota":{"rate":1000000,"burst":1000000,"concurrency":1000000,"allow":1000000000,"interval":"day"}}`), http.StatusOK)
}
