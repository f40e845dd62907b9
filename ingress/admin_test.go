package ingress_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/cpibroker/cpibroker/devkit/testkit"
)

type clientJSON struct {
	ID               string           `json:"id"`
	Name             string           `json:"name"`
	Roles            []string         `json:"roles"`
	Enabled          bool             `json:"enabled"`
	Grants           []string         `json:"grants"`
	CallbackPrefixes []string         `json:"callback_prefixes"`
	Webhooks         []map[string]any `json:"webhooks"`
	Quota            map[string]any   `json:"quota"`
	Weight           int              `json:"weight"`
	MaxBacklog       int              `json:"max_backlog"`
	ClientSecret     string           `json:"client_secret"`
	WebhookSecret    string           `json:"webhook_secret"`
}

func TestAdminClients(t *testing.T) {
	sys := testkit.Start(t, testkit.Options{})
	sys.Broker.Dispatcher.Pause()
	admin := adminOf(t, sys)

	// Create with only an ID: defaults, secrets shown once.
	r := sendJSON(admin, http.MethodPost, "/admin/v1/clients", map[string]any{"id": "acme", "grants": []string{"demo-echo"},
		"webhooks": []map[string]any{{"id": "wh-1", "url": "https://hooks.acme.example/cpib/jobs", "events": []string{"job.succeeded"}}}})
	expectStatus(t, r, http.StatusCreated)
	var created clientJSON
	r.JSON(t, &created)
	if created.ClientSecret == "" || !strings.HasPrefix(created.WebhookSecret, "whsec_") || !created.Enabled ||
		created.Weight != 1 || created.MaxBacklog != 100000 || len(created.Roles) != 1 || created.Roles[0] != "partner" ||
		created.CallbackPrefixes == nil || len(created.Webhooks) != 1 || created.Webhooks[0]["enabled"] != true {
		t.Fatalf("created: %s", r.Body)
	}
	if r.Header.Get("Location") != "/admin/v1/clients/acme" {
		t.Fatalf("Location %q", r.Header.Get("Location"))
	}
	if strings.ContainsAny(created.ClientSecret, "+/=%:") {
		t.Fatalf("secret %q is not URL-safe", created.ClientSecret)
	}
	acme := &testkit.Partner{T: t, BaseURL: sys.BaseURL, HTTP: http.DefaultClient,
		Token: testkit.Token(t, sys.BaseURL, "acme", created.ClientSecret, "")}
	expectStatus(t, acme.Submit("demo-echo", "", []byte("{}"), nil), http.StatusAccepted)

	// Reads never show secrets or hashes.
	for _, path := range []string{"/admin/v1/clients/acme", "/admin/v1/clients"} {
		r := admin.Do(http.MethodGet, path, nil, nil)
		expectStatus(t, r, http.StatusOK)
		for _, leak := range []string{created.ClientSecret, created.WebhookSecret, "secret_hash", "$2a$", "whsec_", "null"} {
			if strings.Contains(string(r.Body), leak) {
				t.Fatalf("GET %s shows %q: %s", path, leak, r.Body)
			}
		}
	}

	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		code                     string
	}{
		{"unknown field on create", "POST", "/admin/v1/clients", `{"id":"x1","colour":"red"}`, 400, "invalid_request"},
		{"secret on create", "POST", "/admin/v1/clients", `{"id":"x1","client_secret":"mine"}`, 400, "invalid_request"},
		{"bad id", "POST", "/admin/v1/clients", `{"id":"ACME"}`, 400, "invalid_name"},
		{"bad role", "POST", "/admin/v1/clients", `{"id":"x1","roles":["root"]}`, 400, "invalid_request"},
		{"bad grant", "POST", "/admin/v1/clients", `{"id":"x1","grants":["a.b"]}`, 400, "invalid_request"},
		{"http callback prefix", "POST", "/admin/v1/clients", `{"id":"x1","callback_prefixes":["http://evil.example/"]}`, 400, "invalid_request"},
		{"bad webhook event", "POST", "/admin/v1/clients", `{"id":"x1","webhooks":[{"id":"w","url":"https://a.example/","events":["job.exploded"]}]}`, 400, "invalid_request"},
		{"quota without interval", "POST", "/admin/v1/clients", `{"id":"x1","quota":{"allow":10}}`, 400, "invalid_request"},
		{"trailing data", "POST", "/admin/v1/clients", `{"id":"x1"} {}`, 400, "invalid_request"},
		{"not json", "POST", "/admin/v1/clients", `id=x1`, 400, "invalid_request"},
		{"exists", "POST", "/admin/v1/clients", `{"id":"acme"}`, 409, "already_exists"},
		{"get unknown", "GET", "/admin/v1/clients/nobody", ``, 404, "not_found"},
		{"get bad id", "GET", "/admin/v1/clients/No.Body", ``, 400, "invalid_name"},
		{"patch unknown field", "PATCH", "/admin/v1/clients/acme", `{"id":"other"}`, 400, "invalid_request"},
		{"patch bad value", "PATCH", "/admin/v1/clients/acme", `{"weight":-1}`, 400, "invalid_request"},
		{"patch unknown client", "PATCH", "/admin/v1/clients/nobody", `{"enabled":false}`, 404, "not_found"},
		{"delete unknown", "DELETE", "/admin/v1/clients/nobody", ``, 404, "not_found"},
		{"rotate bad overlap", "POST", "/admin/v1/clients/acme/rotate-secret?overlap=forever", ``, 400, "invalid_request"},
		{"list bad limit", "GET", "/admin/v1/clients?limit=0", ``, 400, "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expectProblem(t, sendJSON(admin, tc.method, tc.path, tc.body), tc.status, tc.code)
		})
	}

	// Patch: present fields change, absent ones stay; quota null removes.
	r = sendJSON(admin, http.MethodPatch, "/admin/v1/clients/acme", `{"name":"ACME Corp","quota":{"rate":10,"burst":20,"allow":1000,"interval":"day"}}`)
	expectStatus(t, r, http.StatusOK)
	var patched clientJSON
	r.JSON(t, &patched)
	if patched.Name != "ACME Corp" || patched.Quota["rate"] != 10.0 || len(patched.Grants) != 1 || patched.ClientSecret != "" {
		t.Fatalf("patched: %s", r.Body)
	}
	r = sendJSON(admin, http.MethodPatch, "/admin/v1/clients/acme", `{"quota":null}`)
	if strings.Contains(string(r.Body), "quota") {
		t.Fatalf("quota not removed: %s", r.Body)
	}

	// Pagination.
	for _, id := range []string{"b-1", "b-2", "b-3"} {
		expectStatus(t, sendJSON(admin, http.MethodPost, "/admin/v1/clients", map[string]any{"id": id}), http.StatusCreated)
	}
	var ids []string
	cursor := ""
	for range 10 {
		r := admin.Do(http.MethodGet, "/admin/v1/clients?limit=2&cursor="+cursor, nil, nil)
		var page struct {
			Items      []clientJSON `json:"items"`
			NextCursor string       `json:"next_cursor"`
		}
		r.JSON(t, &page)
		for _, c := range page.Items {
			ids = append(ids, c.ID)
		}
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	if got := strings.Join(ids, ","); got != "acme,b-1,b-2,b-3,demo-admin,demo-partner" {
		t.Fatalf("paged ids %s", got)
	}
}

func TestAdminRotateSecrets(t *testing.T) {
	sys := testkit.Start(t, testkit.Options{})
	admin := adminOf(t, sys)
	r := sendJSON(admin, http.MethodPost, "/admin/v1/clients", map[string]any{"id": "acme"})
	var c clientJSON
	r.JSON(t, &c)
	old := c.ClientSecret
	token := func(secret string) int {
		req, _ := http.NewRequest(http.MethodPost, sys.BaseURL+"/oauth/token", strings.NewReader("grant_type=client_credentials"))
		req.SetBasicAuth("acme", secret)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	// Default overlap: both secrets work.
	r = sendJSON(admin, http.MethodPost, "/admin/v1/clients/acme/rotate-secret", nil)
	expectStatus(t, r, http.StatusOK)
	var rot struct {
		ClientSecret string `json:"client_secret"`
		Expires      string `json:"previous_secret_expires_at"`
	}
	r.JSON(t, &rot)
	if rot.ClientSecret == "" || rot.ClientSecret == old || rot.Expires == "" {
		t.Fatalf("rotate: %s", r.Body)
	}
	if token(old) != 200 || token(rot.ClientSecret) != 200 {
		t.Fatal("during the overlap both secrets must work")
	}
	got := admin.Do(http.MethodGet, "/admin/v1/clients/acme", nil, nil)
	if !strings.Contains(string(got.Body), "previous_secret_expires_at") {
		t.Fatalf("overlap not shown: %s", got.Body)
	}

	// No overlap (body form): only the newest secret works.
	r = sendJSON(admin, http.MethodPost, "/admin/v1/clients/acme/rotate-secret", `{"overlap":"0s"}`)
	expectStatus(t, r, http.StatusOK)
	var rot2 struct {
		ClientSecret string `json:"client_secret"`
	}
	r.JSON(t, &rot2)
	if token(rot2.ClientSecret) != 200 || token(rot.ClientSecret) != 401 {
		t.Fatal("overlap 0s: the replaced secret still works")
	}
	if token(old) != 200 {
		t.Fatal("the first secret's own overlap must not be cut short by a later rotation")
	}

	// Webhook secret: new one shown once, the old one kept for signing.
	r = sendJSON(admin, http.MethodPost, "/admin/v1/clients/acme/rotate-webhook-secret?overlap=1h", nil)
	expectStatus(t, r, http.StatusOK)
	var wh struct {
		WebhookSecret string `json:"webhook_secret"`
	}
	r.JSON(t, &wh)
	stored, _ := sys.Broker.Catalog.Client("acme")
	if wh.WebhookSecret == c.WebhookSecret || stored.WebhookSecret != wh.WebhookSecret ||
		len(stored.PreviousWebhookSecrets) != 1 || stored.PreviousWebhookSecrets[0].Value != c.WebhookSecret {
		t.Fatalf("webhook rotation: %s / %+v", r.Body, stored.PreviousWebhookSecrets)
	}
	var body map[string]any
	if json.Unmarshal(r.Body, &body) != nil || body["client_id"] != "acme" {
		t.Fatalf("answer %s", r.Body)
	}
}

// Stream listings refuse a cursor they did not hand out.
func TestStreamListingsRefuseForeignCursors(t *testing.T) {
	sys := testkit.Start(t, testkit.Options{})
	admin := adminOf(t, sys)
	for _, path := range []string{"/admin/v1/audit?cursor=abc", "/admin/v1/dlq?cursor=-1", "/admin/v1/dlq?cursor=1&limit=0"} {
		expectProblem(t, admin.Do(http.MethodGet, path, nil, nil), http.StatusBadRequest, "invalid_request")
	}
	var page struct {
		Items      []json.RawMessage `json:"items"`
		NextCursor string            `json:"next_cursor"`
	}
	admin.Do(http.MethodGet, "/admin/v1/dlq?cursor=999999", nil, nil).JSON(t, &page)
	if page.Items == nil || len(page.Items) != 0 || page.NextCursor != "" {
		t.Fatalf("page past the end: %+v", page)
	}
}
