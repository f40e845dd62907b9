package ingress_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/catalog/openapi"
	"github.com/cpibroker/cpibroker/devkit/testkit"
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

// GET /admin/v1/openapi.json is a valid OpenAPI 3.1 document naming every
// admin route this package serves, and real admin exchanges (pages,
// objects, a connection test, problems) validate against it.
func TestAdminOpenAPI(t *testing.T) {
	sys := testkit.Start(t, testkit.Options{})
	admin := adminOf(t, sys)
	r := admin.Do(http.MethodGet, "/admin/v1/openapi.json", nil, nil)
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

	// Every admin route of the sources is in the document.
	documented := map[string]bool{}
	for _, op := range openapi.AdminOperations() {
		documented[op] = true
	}
	route := regexp.MustCompile(`g\.(GET|POST|PATCH|PUT|DELETE)\("(/[^"]*)"`)
	files, _ := filepath.Glob("admin*.go")
	for _, f := range files {
		src, _ := os.ReadFile(f)
		for _, m := range route.FindAllStringSubmatch(string(src), -1) {
			p := regexp.MustCompile(`:([a-z]+)`).ReplaceAllString(m[2], "{$1}")
			if !documented[m[1]+" /admin/v1"+p] {
				t.Errorf("%s /admin/v1%s (%s) is not in the admin document", m[1], p, f)
			}
		}
	}

	check := func(method, path, body string) {
		t.Helper()
		req, _ := http.NewRequest(method, sys.BaseURL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+admin.Token)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(b))
		req.Body = io.NopCloser(strings.NewReader(body))
		if ok, verrs := v.ValidateHttpRequestResponse(req, resp); !ok {
			for _, e := range verrs {
				t.Errorf("%s %s -> %d: %s: %s %v", method, path, resp.StatusCode, e.Message, e.Reason, e.SchemaValidationErrors)
			}
		}
	}
	check(http.MethodPost, "/admin/v1/clients", `{"id":"acme","grants":["demo-echo","nope"]}`)
	check(http.MethodGet, "/admin/v1/clients", "")
	check(http.MethodGet, "/admin/v1/clients/acme", "")
	check(http.MethodGet, "/admin/v1/clients/nobody", "")
	check(http.MethodPatch, "/admin/v1/clients/acme", `{"name":"ACME"}`)
	check(http.MethodPost, "/admin/v1/clients/acme/rotate-secret", `{"overlap":"1h"}`)
	check(http.MethodGet, "/admin/v1/providers", "")
	check(http.MethodPost, "/admin/v1/providers/demo/test", "")
	check(http.MethodGet, "/admin/v1/flows", "")
	check(http.MethodGet, "/admin/v1/flows/demo-echo", "")
	check(http.MethodGet, "/admin/v1/audit?limit=5", "")
	check(http.MethodGet, "/admin/v1/dlq", "")
	check(http.MethodGet, "/admin/v1/keys", "")
	check(http.MethodDelete, "/admin/v1/clients/acme", "")
}
