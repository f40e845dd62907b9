package ingress_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/broker"
	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/devkit/cpisim"
	"github.com/cpibroker/cpibroker/devkit/testkit"
)

type flowJSON struct {
	ID              string         `json:"id"`
	Provider        string         `json:"provider"`
	ArtifactID      string         `json:"artifact_id"`
	Title           string         `json:"title"`
	Status          string         `json:"status"`
	AvailableStatus string         `json:"available_status"`
	Policy          map[string]any `json:"policy"`
}

type discoveryJSON struct {
	OK          bool   `json:"ok"`
	Unchanged   int    `json:"unchanged"`
	Error       string `json:"error"`
	Endpoints   int    `json:"endpoints"`
	Added       int    `json:"added"`
	Updated     int    `json:"updated"`
	Restored    int    `json:"restored"`
	Unavailable int    `json:"unavailable"`
}

// TestAdminProvidersAndFlows walks a provider through the admin API the
// way an operator does: create with a pasted service key and a ${ENV}
// secret, Test Connection, Discover, enable a flow with a policy, undeploy
// and redeploy its iFlow, break the credentials, delete.
func TestAdminProvidersAndFlows(t *testing.T) {
	sys := testkit.Start(t, testkit.Options{})
	admin := adminOf(t, sys)
	sim := sys.Sim
	if err := sim.Deploy(cpisim.IFlow{ID: "Orders_Create", Name: "Orders", Address: "/orders/create", CSRF: true}); err != nil {
		t.Fatal(err)
	}
	// The simulator's service keys, as the demo provider holds them.
	demoProv, _ := sys.Broker.Catalog.Provider("demo")
	rt, api := demoProv.Runtime, *demoProv.API
	t.Setenv("CPIB_ACME_API_SECRET", api.ClientSecret)
	body := map[string]any{
		"id": "acme", "type": "cpi", "title": "ACME tenant",
		"runtime": map[string]any{"url": sim.URL(), "tokenurl": sim.TokenURL(), "clientid": rt.ClientID, "clientsecret": rt.ClientSecret},
		"api":     map[string]any{"url": sim.URL(), "tokenurl": sim.TokenURL(), "clientid": api.ClientID, "clientsecret": "${CPIB_ACME_API_SECRET}"},
		"csrf":    true, "discovery_interval": "1h",
	}
	r := sendJSON(admin, http.MethodPost, "/admin/v1/providers", body)
	expectStatus(t, r, http.StatusCreated)
	for _, leak := range []string{rt.ClientSecret, api.ClientSecret, "CPIB_ACME_API_SECRET"} {
		if strings.Contains(string(r.Body), leak) {
			t.Fatalf("create answer shows a secret: %s", r.Body)
		}
	}
	if strings.Count(string(r.Body), `"clientsecret":"***"`) != 2 {
		t.Fatalf("secrets not masked: %s", r.Body)
	}

	var rep struct {
		OK      bool   `json:"ok"`
		Summary string `json:"summary"`
		Steps   []struct {
			Name string `json:"name"`
			OK   bool   `json:"ok"`
		} `json:"steps"`
	}
	r = sendJSON(admin, http.MethodPost, "/admin/v1/providers/acme/test", nil)
	expectStatus(t, r, http.StatusOK)
	r.JSON(t, &rep)
	if !rep.OK || len(rep.Steps) != 4 { // api token, api call, runtime token, runtime call
		t.Fatalf("test connection: %s", r.Body)
	}

	var disc discoveryJSON
	r = sendJSON(admin, http.MethodPost, "/admin/v1/providers/acme/discover", nil)
	expectStatus(t, r, http.StatusOK)
	r.JSON(t, &disc)
	// The periodic runner may have discovered the new provider first.
	if !disc.OK || disc.Endpoints != 4 || disc.Added+disc.Unchanged != 4 {
		t.Fatalf("discover: %s", r.Body)
	}
	r = admin.Do(http.MethodGet, "/admin/v1/providers/acme", nil, nil)
	expectStatus(t, r, http.StatusOK)
	if !strings.Contains(string(r.Body), `"last_discovery":{`) || strings.Contains(string(r.Body), api.ClientSecret) {
		t.Fatalf("get provider: %s", r.Body)
	}
	var page struct{ Items []flowJSON }
	admin.Do(http.MethodGet, "/admin/v1/flows?provider=acme", nil, nil).JSON(t, &page)
	if len(page.Items) != 4 || page.Items[0].ID != "acme-echo" || page.Items[0].Status != "disabled" {
		t.Fatalf("flows: %+v", page.Items)
	}

	// New flows start disabled: 409 flow_disabled until enabled.
	partner := addPartner(t, sys, "acme-partner", []string{"acme-orders-create"})
	expectProblem(t, partner.Submit("acme-orders-create", "text/plain", []byte("x"), nil), http.StatusConflict, "flow_disabled")
	for _, tc := range []struct{ name, body string }{
		{"status unavailable", `{"status":"unavailable"}`},
		{"unknown policy field", `{"policy":{"colour":"red"}}`},
		{"invalid policy", `{"policy":{"max_attempts":0}}`},
		{"unknown field", `{"url":"https://evil.example/"}`},
		{"bad duration", `{"policy":{"timeout":5}}`},
	} {
		expectProblem(t, sendJSON(admin, http.MethodPatch, "/admin/v1/flows/acme-orders-create", tc.body), http.StatusBadRequest, "invalid_request")
	}
	var f flowJSON
	r = sendJSON(admin, http.MethodPatch, "/admin/v1/flows/acme-orders-create", `{"status":"enabled","title":"Create orders","policy":{"max_attempts":2,"timeout":"30s"}}`)
	expectStatus(t, r, http.StatusOK)
	r.JSON(t, &f)
	if f.Status != "enabled" || f.Title != "Create orders" || f.Policy["max_attempts"] != 2.0 || f.Policy["timeout"] != "30s" || f.Policy["backoff_cap"] != "5m0s" {
		t.Fatalf("patched flow: %s", r.Body)
	}
	var j testkit.Job
	r = partner.Submit("acme-orders-create", "text/plain", []byte("order"), nil)
	expectStatus(t, r, http.StatusAccepted)
	r.JSON(t, &j)
	if got := partner.WaitJob(j.ID, 30*time.Second); got.Status != "succeeded" {
		t.Fatalf("job on the discovered flow: %+v", got)
	}

	// Undeployed: unavailable (409), status and policy kept; redeployed: back.
	if err := sim.Undeploy("Orders_Create"); err != nil {
		t.Fatal(err)
	}
	sendJSON(admin, http.MethodPost, "/admin/v1/providers/acme/discover", nil).JSON(t, &disc)
	if disc.Unavailable != 1 {
		t.Fatalf("after undeploy: %+v", disc)
	}
	expectProblem(t, partner.Submit("acme-orders-create", "text/plain", []byte("x"), nil), http.StatusConflict, "flow_unavailable")
	var mine struct{ Items []flowJSON }
	partner.Do(http.MethodGet, "/v1/flows", nil, nil).JSON(t, &mine)
	if len(mine.Items) != 1 || mine.Items[0].Status != "unavailable" {
		t.Fatalf("partner flows: %+v", mine.Items)
	}
	// Disabling an unavailable flow sets the status it comes back with.
	expectStatus(t, sendJSON(admin, http.MethodPatch, "/admin/v1/flows/acme-orders-create", `{"status":"disabled"}`), http.StatusOK)
	expectStatus(t, sendJSON(admin, http.MethodPatch, "/admin/v1/flows/acme-orders-create", `{"status":"enabled"}`), http.StatusOK)
	if err := sim.Deploy(cpisim.IFlow{ID: "Orders_Create", Name: "Orders", Address: "/orders/create", CSRF: true}); err != nil {
		t.Fatal(err)
	}
	sendJSON(admin, http.MethodPost, "/admin/v1/providers/acme/discover", nil).JSON(t, &disc)
	admin.Do(http.MethodGet, "/admin/v1/flows/acme-orders-create", nil, nil).JSON(t, &f)
	if disc.Restored != 1 || f.Status != "enabled" || f.Title != "Create orders" || f.Policy["max_attempts"] != 2.0 {
		t.Fatalf("after redeploy: %+v %+v", disc, f)
	}

	// Broken credentials: Test Connection says what is wrong, in a 200.
	expectStatus(t, sendJSON(admin, http.MethodPatch, "/admin/v1/providers/acme", `{"api":{"clientsecret":"wrong"}}`), http.StatusOK)
	sendJSON(admin, http.MethodPost, "/admin/v1/providers/acme/test", nil).JSON(t, &rep)
	if rep.OK || !strings.Contains(rep.Summary, "401") || !strings.Contains(rep.Summary, "client ID or secret is wrong") {
		t.Fatalf("test with a wrong secret: %+v", rep)
	}
	// "***" sent back keeps the stored secret.
	expectStatus(t, sendJSON(admin, http.MethodPatch, "/admin/v1/providers/acme", `{"api":{"clientsecret":"${CPIB_ACME_API_SECRET}"}}`), http.StatusOK)
	expectStatus(t, sendJSON(admin, http.MethodPatch, "/admin/v1/providers/acme", `{"title":"ACME","api":{"clientsecret":"***"}}`), http.StatusOK)
	if p, _ := sys.Broker.Catalog.Provider("acme"); p.API.ClientSecret != "${CPIB_ACME_API_SECRET}" || p.Title != "ACME" {
		t.Fatalf("stored provider after patches: title %q", p.Title)
	}

	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		code                     string
	}{
		{"unknown field", "POST", "/admin/v1/providers", `{"id":"x1","type":"cpi","runtime":{"url":"https://a.example"},"colour":1}`, 400, "invalid_request"},
		{"plain http to a remote host", "POST", "/admin/v1/providers", `{"id":"x1","type":"cpi","runtime":{"url":"http://a.example"}}`, 400, "invalid_request"},
		{"bad type", "POST", "/admin/v1/providers", `{"id":"x1","type":"soap","runtime":{"url":"https://a.example"}}`, 400, "invalid_request"},
		{"bad id", "POST", "/admin/v1/providers", `{"id":"X","type":"cpi","runtime":{"url":"https://a.example"}}`, 400, "invalid_name"},
		{"exists", "POST", "/admin/v1/providers", `{"id":"acme","type":"cpi","runtime":{"url":"https://a.example"}}`, 409, "already_exists"},
		{"patch unknown field", "PATCH", "/admin/v1/providers/acme", `{"colour":1}`, 400, "invalid_request"},
		{"get unknown", "GET", "/admin/v1/providers/nobody", ``, 404, "not_found"},
		{"flow unknown", "PATCH", "/admin/v1/flows/nobody", `{"status":"enabled"}`, 404, "not_found"},
		{"discover without api", "POST", "/admin/v1/providers/bare/discover", ``, 409, "invalid_request"},
	} {
		if tc.name == "discover without api" {
			expectStatus(t, sendJSON(admin, http.MethodPost, "/admin/v1/providers", `{"id":"bare","type":"cpi","runtime":{"url":"https://a.example"}}`), http.StatusCreated)
		}
		expectProblem(t, sendJSON(admin, tc.method, tc.path, tc.body), tc.status, tc.code)
	}
	// A partner may not manage providers.
	expectProblem(t, partner.Do(http.MethodGet, "/admin/v1/providers", nil, nil), http.StatusForbidden, "forbidden")

	expectStatus(t, admin.Do(http.MethodDelete, "/admin/v1/providers/acme", nil, nil), http.StatusNoContent)
	if f, _ := sys.Broker.Catalog.Flow("acme-orders-create"); f.Status != catalog.FlowUnavailable || f.AvailableStatus != catalog.FlowEnabled {
		t.Fatalf("flow of a deleted provider: %+v", f)
	}
	var events struct{ Items []map[string]any }
	admin.Do(http.MethodGet, "/admin/v1/audit?action=provider.created", nil, nil).JSON(t, &events)
	if len(events.Items) != 2 {
		t.Fatalf("provider.created audit events: %d", len(events.Items))
	}
}

// TestNotFoundTriggersRediscovery: an iFlow undeployed behind the broker's
// back answers 404; the job fails and the flow becomes unavailable.
func TestNotFoundTriggersRediscovery(t *testing.T) {
	sys := testkit.Start(t, testkit.Options{Configure: func(c *broker.Config) { c.Discovery.MinRediscover = time.Nanosecond }})
	id := sys.AddFlow(cpisim.IFlow{ID: "Gone", Address: "/demo/gone"}, nil)
	if err := sys.Sim.Undeploy("Gone"); err != nil {
		t.Fatal(err)
	}
	p := sys.Partner()
	var j testkit.Job
	p.Submit(id, "text/plain", []byte("x"), nil).JSON(t, &j)
	if got := p.WaitJob(j.ID, 30*time.Second); got.Status != "failed" {
		t.Fatalf("job: %+v", got)
	}
	testkit.Eventually(t, 5*time.Second, "flow marked unavailable", func() bool {
		f, _ := sys.Broker.Catalog.Flow(id)
		return f.Status == catalog.FlowUnavailable
	})
	expectProblem(t, p.Submit(id, "text/plain", []byte("x"), nil), http.StatusConflict, "flow_unavailable")
}

// TestCatalogChangesReachEveryProcess: a flow change made through one
// process's admin API is enforced by another process within 2 s.
func TestCatalogChangesReachEveryProcess(t *testing.T) {
	a := testkit.Start(t, testkit.Options{Configure: func(c *broker.Config) {
		c.NATSListen = "127.0.0.1:0" // a free port, chosen by the server itself
	}})
	b := startSecondIngress(t, a.Broker.Server.ClientURL())
	admin := adminOf(t, a)
	onB := &testkit.Partner{T: t, BaseURL: b.BaseURL(), HTTP: http.DefaultClient,
		Token: testkit.Token(t, b.BaseURL(), a.Creds.Partner.ClientID, a.Creds.Partner.ClientSecret, "")}
	expectStatus(t, onB.Submit("demo-echo", "text/plain", []byte("x"), nil), http.StatusAccepted)
	expectStatus(t, sendJSON(admin, http.MethodPatch, "/admin/v1/flows/demo-echo", `{"status":"disabled"}`), http.StatusOK)
	took := until(t, 2*time.Second, "flow disabled on the second process", func() bool {
		f, _ := b.Catalog.Flow("demo-echo")
		return f.Status == catalog.FlowDisabled
	})
	t.Logf("catalog change seen by the second process after %s", took)
	expectProblem(t, onB.Submit("demo-echo", "text/plain", []byte("x"), nil), http.StatusConflict, "flow_disabled")
}

// TestHTTPProviderEndToEnd: a plain HTTPS backend (here the simulator's
// runtime, with its OAuth key) declared as a "http" provider: its declared
// flows appear, run jobs, and a flow removed from the declaration becomes
// unavailable.
func TestHTTPProviderEndToEnd(t *testing.T) {
	sys := testkit.Start(t, testkit.Options{})
	admin := adminOf(t, sys)
	demoProv, _ := sys.Broker.Catalog.Provider("demo")
	rt := demoProv.Runtime
	body := map[string]any{
		"id": "legacy", "type": "http", "auto_enable": true,
		"runtime": map[string]any{"url": sys.Sim.URL() + "/http", "tokenurl": rt.TokenURL, "clientid": rt.ClientID, "clientsecret": rt.ClientSecret},
		"flows":   []map[string]any{{"id": "legacy-echo", "path": "/demo/echo", "title": "Echo"}, {"id": "legacy-slow", "path": "/demo/slow"}},
	}
	expectStatus(t, sendJSON(admin, http.MethodPost, "/admin/v1/providers", body), http.StatusCreated)
	var rep struct {
		OK    bool `json:"ok"`
		Steps []struct {
			Name string `json:"name"`
		} `json:"steps"`
	}
	sendJSON(admin, http.MethodPost, "/admin/v1/providers/legacy/test", nil).JSON(t, &rep)
	if !rep.OK || len(rep.Steps) != 2 || rep.Steps[1].Name != "runtime_call" {
		t.Fatalf("test connection: %+v", rep)
	}
	var disc discoveryJSON
	sendJSON(admin, http.MethodPost, "/admin/v1/providers/legacy/discover", nil).JSON(t, &disc)
	if !disc.OK || disc.Endpoints != 2 {
		t.Fatalf("discover: %+v", disc)
	}
	partner := addPartner(t, sys, "old-partner", []string{"legacy-echo", "legacy-slow"})
	var j testkit.Job
	r := partner.Submit("legacy-echo", "text/plain", []byte("hello"), nil)
	expectStatus(t, r, http.StatusAccepted)
	r.JSON(t, &j)
	if got := partner.WaitJob(j.ID, 30*time.Second); got.Status != "succeeded" {
		t.Fatalf("job on a declared flow: %+v", got)
	}
	expectStatus(t, sendJSON(admin, http.MethodPatch, "/admin/v1/providers/legacy",
		`{"flows":[{"id":"legacy-echo","path":"/demo/echo","title":"Echo"}]}`), http.StatusOK)
	sendJSON(admin, http.MethodPost, "/admin/v1/providers/legacy/discover", nil).JSON(t, &disc)
	expectProblem(t, partner.Submit("legacy-slow", "text/plain", []byte("x"), nil), http.StatusConflict, "flow_unavailable")
}
