package ingress_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/internal/testkit"
	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
)

// TestOpenAPIPerClient: GET /v1/openapi.json is a valid OpenAPI 3.1
// document (libopenapi-validator) with one submit path per granted flow,
// and real answers of the API validate against it.
func TestOpenAPIPerClient(t *testing.T) {
	sys := testkit.Start(t, testkit.Options{})
	partner := addPartner(t, sys, "acme", []string{"demo-echo", "demo-slow"})
	r := partner.Do(http.MethodGet, "/v1/openapi.json", nil, nil)
	expectStatus(t, r, http.StatusOK)
	doc, err := libopenapi.NewDocument(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		for _, e := range verrs {
			t.Errorf("invalid OpenAPI 3.1: %s: %s", e.Message, e.Reason)
		}
		t.FailNow()
	}
	var d struct {
		Paths      map[string]any `json:"paths"`
		Components struct {
			SecuritySchemes map[string]struct {
				Flows struct {
					ClientCredentials struct {
						TokenURL string            `json:"tokenUrl"`
						Scopes   map[string]string `json:"scopes"`
					} `json:"clientCredentials"`
				} `json:"flows"`
			} `json:"securitySchemes"`
		} `json:"components"`
	}
	r.JSON(t, &d)
	for _, p := range []string{"/v1/flows/demo-echo/jobs", "/v1/flows/demo-slow/jobs", "/oauth/token", "/v1/jobs/{id}", "/v1/jobs/{id}/result", "/v1/events"} {
		if _, ok := d.Paths[p]; !ok {
			t.Errorf("path %s missing", p)
		}
	}
	if _, ok := d.Paths["/v1/flows/demo-flaky/jobs"]; ok {
		t.Error("a flow the client has no grant for is in its document")
	}
	cc := d.Components.SecuritySchemes["oauth2"].Flows.ClientCredentials
	if cc.TokenURL != "http://127.0.0.1/oauth/token" || len(cc.Scopes) != 2 {
		t.Errorf("oauth2 scheme: %+v", cc)
	}

	// Real exchanges validate against the document: a 202, a job read,
	// a problem.
	var check func(method, path string, body []byte)
	check = func(method, path string, body []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, sys.BaseURL+path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+partner.Token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(b))
		req.Body = io.NopCloser(bytes.NewReader(body))
		if ok, verrs := v.ValidateHttpRequestResponse(req, resp); !ok {
			for _, e := range verrs {
				t.Errorf("%s %s -> %d: %s: %s %v", method, path, resp.StatusCode, e.Message, e.Reason, e.SchemaValidationErrors)
			}
		}
		if method == http.MethodPost && resp.StatusCode == http.StatusAccepted {
			var j testkit.Job
			_ = json.Unmarshal(b, &j)
			partner.WaitJob(j.ID, 30*time.Second)
			check(http.MethodGet, "/v1/jobs/"+j.ID, nil)
		}
	}
	check(http.MethodPost, "/v1/flows/demo-echo/jobs", []byte(`{"order":1}`))
	check(http.MethodGet, "/v1/flows", nil)
	check(http.MethodGet, "/v1/jobs/01JD0Q4Z8M5X3V7K2N9P6R1T4W", nil)
}
