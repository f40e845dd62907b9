package cpisim

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

type envelope struct {
	D struct {
		Results []map[string]any `json:"results"`
		Next    string           `json:"__next"`
		Count   string           `json:"__count"`
	} `json:"d"`
}

func apiGet(t *testing.T, s *Sim, tok, pathAndQuery string) (result, envelope) {
	t.Helper()
	u := pathAndQuery
	if !strings.HasPrefix(u, "http") {
		u = s.URL() + "/api/v1/" + pathAndQuery
	}
	h := bearer(tok)
	h.Set("Accept", "application/json")
	res := do(t, nil, http.MethodGet, u, h, nil)
	var env envelope
	if res.status == http.StatusOK {
		if err := json.Unmarshal([]byte(res.body), &env); err != nil {
			t.Fatalf("decoding %s: %v", res.body, err)
		}
	}
	return res, env
}

func apiToken(t *testing.T, s *Sim) string {
	return fetchToken(t, s, s.cfg.APIClientID, s.cfg.APIClientSecret)
}

func TestODataServiceEndpointsPagingAndExpand(t *testing.T) {
	s := startSim(t, Config{ODataPageSize: 7}, GeneratedIFlows(20)...)
	tok := apiToken(t, s)
	var names []string
	next := "ServiceEndpoints?$expand=EntryPoints&$inlinecount=allpages"
	pages := 0
	for next != "" {
		res, env := apiGet(t, s, tok, next)
		if res.status != http.StatusOK {
			t.Fatalf("page %d: %d %s", pages, res.status, res.body)
		}
		pages++
		if env.D.Count != "20" {
			t.Fatalf("__count = %q, want \"20\"", env.D.Count)
		}
		for _, r := range env.D.Results {
			names = append(names, r["Name"].(string))
			eps := r["EntryPoints"].(map[string]any)["results"].([]any)
			u := eps[0].(map[string]any)["Url"].(string)
			if !strings.HasPrefix(u, s.URL()+"/") {
				t.Fatalf("entry point URL %q not on the tenant", u)
			}
			if !strings.HasPrefix(r["LastUpdated"].(string), "/Date(") {
				t.Fatalf("LastUpdated %q is not /Date(ms)/", r["LastUpdated"])
			}
		}
		next = env.D.Next
		if next != "" && !strings.HasPrefix(next, s.URL()+"/api/v1/ServiceEndpoints?") {
			t.Fatalf("__next %q is not absolute", next)
		}
	}
	if pages != 3 || len(names) != 20 || names[0] != "Gen_00001" || names[19] != "Gen_00020" {
		t.Fatalf("%d pages, %d names (%v), want 3 pages of 20 in order", pages, len(names), names)
	}
	// Without $expand the entry points are deferred.
	_, env := apiGet(t, s, tok, "ServiceEndpoints?$top=1")
	if len(env.D.Results) != 1 || env.D.Next != "" {
		t.Fatalf("$top=1: %d results, next %q", len(env.D.Results), env.D.Next)
	}
	if _, ok := env.D.Results[0]["EntryPoints"].(map[string]any)["__deferred"]; !ok {
		t.Fatalf("EntryPoints not deferred: %v", env.D.Results[0]["EntryPoints"])
	}
	// $filter on the protocol: every tenth generated iFlow is SOAP at /cxf.
	_, env = apiGet(t, s, tok, "ServiceEndpoints?$expand=EntryPoints&$filter=Protocol%20eq%20'SOAP'")
	if len(env.D.Results) != 2 {
		t.Fatalf("SOAP endpoints = %d, want 2", len(env.D.Results))
	}
	u := env.D.Results[0]["EntryPoints"].(map[string]any)["results"].([]any)[0].(map[string]any)["Url"].(string)
	if u != s.URL()+"/cxf/gen/00010" {
		t.Fatalf("SOAP entry point %q", u)
	}
	if res := do(t, nil, http.MethodPost, u, http.Header{"Authorization": {basic(s.cfg.RuntimeClientID, s.cfg.RuntimeClientSecret)}}, []byte("<x/>")); res.status != http.StatusOK {
		t.Fatalf("SOAP call: %d %s", res.status, res.body)
	}
}

func TestODataRuntimeArtifactsDatesAndRelativeNext(t *testing.T) {
	clk := newFakeClock()
	s := startSim(t, Config{ODataPageSize: 2, ODataISODates: true, ODataRelativeNext: true, Now: clk.Now},
		IFlow{ID: "Orders_Create", Address: "/orders/create"},
		IFlow{ID: "Orders_Create_v2", Artifact: "Orders_Create", Address: "/orders/create/v2"},
		IFlow{ID: "Invoice", Address: "/invoice", Protocol: ProtocolODataV2},
		IFlow{ID: "Zeta", Address: "/zeta"},
	)
	tok := apiToken(t, s)
	res, env := apiGet(t, s, tok, "IntegrationRuntimeArtifacts")
	if res.status != http.StatusOK || len(env.D.Results) != 2 || env.D.Next != "IntegrationRuntimeArtifacts?%24skiptoken=2" {
		t.Fatalf("first page: %d %d next %q", res.status, len(env.D.Results), env.D.Next)
	}
	if got := env.D.Results[0]["DeployedOn"]; got != clk.Now().UTC().Format("2006-01-02T15:04:05.000") {
		t.Fatalf("DeployedOn = %v, want the ISO form", got)
	}
	_, env2 := apiGet(t, s, tok, env.D.Next)
	ids := []string{}
	for _, r := range append(env.D.Results, env2.D.Results...) {
		ids = append(ids, r["Id"].(string))
	}
	// Two endpoints of one artifact are one runtime artifact.
	if strings.Join(ids, ",") != "Invoice,Orders_Create,Zeta" || env2.D.Next != "" {
		t.Fatalf("artifacts %v, next %q", ids, env2.D.Next)
	}
	res, _ = apiGet(t, s, tok, "IntegrationRuntimeArtifacts('Zeta')")
	if res.status != http.StatusOK || !strings.Contains(res.body, `"Status":"STARTED"`) {
		t.Fatalf("single artifact: %d %s", res.status, res.body)
	}
	if err := s.Undeploy("Zeta"); err != nil {
		t.Fatal(err)
	}
	res, _ = apiGet(t, s, tok, "IntegrationRuntimeArtifacts('Zeta')")
	if res.status != http.StatusNotFound || !strings.Contains(res.body, `"lang":"en"`) {
		t.Fatalf("undeployed artifact: %d %s", res.status, res.body)
	}
}

func TestODataAuthFaultsAndErrors(t *testing.T) {
	s := startSim(t, Config{}, DemoIFlows()...)
	// No credential: 401. A runtime credential: 403 (role). API key as Basic: 200.
	res := do(t, nil, http.MethodGet, s.URL()+"/api/v1/ServiceEndpoints?$format=json", nil, nil)
	if res.status != http.StatusUnauthorized {
		t.Fatalf("anonymous: %d", res.status)
	}
	res, _ = apiGet(t, s, runtimeToken(t, s), "ServiceEndpoints")
	if res.status != http.StatusForbidden {
		t.Fatalf("runtime token: %d %s", res.status, res.body)
	}
	res = do(t, nil, http.MethodGet, s.URL()+"/api/v1/ServiceEndpoints?$format=json",
		http.Header{"Authorization": {basic(s.cfg.APIClientID, s.cfg.APIClientSecret)}}, nil)
	if res.status != http.StatusOK {
		t.Fatalf("api key as Basic: %d %s", res.status, res.body)
	}
	tok := apiToken(t, s)
	// An api token on the runtime is refused, as before.
	if res := do(t, nil, http.MethodPost, s.EndpointURL("Echo"), bearer(tok), []byte("x")); res.status != http.StatusForbidden {
		t.Fatalf("api token on the runtime: %d", res.status)
	}
	if err := s.SetAPIFaults(APIFaults{FailNext: 2, RetryAfter: 1500 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		res, _ := apiGet(t, s, tok, "ServiceEndpoints")
		if res.status != http.StatusTooManyRequests || res.header.Get("Retry-After") != "2" ||
			!strings.Contains(res.body, "rate limit exceeded") {
			t.Fatalf("faulted call %d: %d %q %s", i, res.status, res.header.Get("Retry-After"), res.body)
		}
	}
	if res, _ := apiGet(t, s, tok, "ServiceEndpoints"); res.status != http.StatusOK {
		t.Fatalf("after the faults: %d", res.status)
	}
	for _, tc := range []struct {
		path string
		want int
	}{
		{"Nope", http.StatusNotFound},
		{"ServiceEndpoints?$top=-1", http.StatusBadRequest},
		{"ServiceEndpoints?$filter=substringof('x',Name)", http.StatusBadRequest},
		{"ServiceEndpoints?$filter=Bogus%20eq%20'x'", http.StatusBadRequest},
		{"ServiceEndpoints?$format=xml", http.StatusBadRequest},
	} {
		if res, _ := apiGet(t, s, tok, tc.path); res.status != tc.want || !strings.Contains(res.body, `"error"`) {
			t.Errorf("%s: %d %s, want %d with an OData error", tc.path, res.status, res.body, tc.want)
		}
	}
	if res := do(t, nil, http.MethodGet, s.URL()+"/api/v1/ServiceEndpoints", bearer(tok), nil); res.status != http.StatusNotAcceptable {
		t.Fatalf("no JSON asked: %d", res.status)
	}
	// The admin API sets the same faults.
	res = do(t, nil, http.MethodPut, s.URL()+"/sim/v1/api/faults", nil, []byte(`{"fail_next":1,"status":503}`))
	if res.status != http.StatusOK {
		t.Fatalf("admin api faults: %d %s", res.status, res.body)
	}
	if res, _ := apiGet(t, s, tok, "ServiceEndpoints"); res.status != http.StatusServiceUnavailable {
		t.Fatalf("injected 503: %d", res.status)
	}
	if res := do(t, nil, http.MethodPut, s.URL()+"/sim/v1/api/faults", nil, []byte(`{"fail_next":1,"bogus":1}`)); res.status != http.StatusBadRequest {
		t.Fatalf("unknown field: %d", res.status)
	}
}
