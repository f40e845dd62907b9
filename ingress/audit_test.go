package ingress_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/broker"
	"github.com/cpibroker/cpibroker/devkit/testkit"
	"github.com/nats-io/nats.go/jetstream"
)

// lockedBuffer collects log output from many goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type auditPage struct {
	Items []struct {
		Seq     uint64 `json:"seq"`
		Time    string `json:"time"`
		Actor   string `json:"actor"`
		Action  string `json:"action"`
		Target  string `json:"target"`
		Source  string `json:"source"`
		Outcome string `json:"outcome"`
		Detail  string `json:"detail"`
	} `json:"items"`
	NextCursor string `json:"next_cursor"`
}

// TestAudit: tokens issued and refused, authentication and authorization
// denials and admin changes reach the AUDIT stream and GET /admin/v1/audit
// with filters and a cursor, and no secret or token is in the stream or in
// the logs.
func TestAudit(t *testing.T) {
	logs := &lockedBuffer{}
	sys := testkit.Start(t, testkit.Options{Configure: func(c *broker.Config) {
		c.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}})
	sys.Broker.Dispatcher.Pause()
	admin := adminOf(t, sys)
	p := sys.Partner()
	secrets := []string{sys.Creds.Partner.ClientSecret, sys.Creds.Admin.ClientSecret, sys.Creds.Partner.WebhookSecret, p.Token, admin.Token}

	// A refused token request, a denied token, a flow outside the grants,
	// a partner on the admin API, an admin change.
	bad := &testkit.Partner{T: t, BaseURL: sys.BaseURL, HTTP: http.DefaultClient, Token: "bm90LmEuand0"}
	expectStatus(t, bad.Do(http.MethodGet, "/v1/flows", nil, nil), http.StatusUnauthorized)
	req, _ := http.NewRequest(http.MethodPost, sys.BaseURL+"/oauth/token", strings.NewReader("grant_type=client_credentials"))
	req.SetBasicAuth("demo-partner", "wrong-"+sys.Creds.Partner.ClientSecret)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	expectStatus(t, p.Submit("not-granted", "", []byte("{}"), nil), http.StatusNotFound)
	expectStatus(t, p.Do(http.MethodGet, "/admin/v1/clients", nil, nil), http.StatusForbidden)
	r := sendJSON(admin, http.MethodPost, "/admin/v1/clients", map[string]any{"id": "acme"})
	expectStatus(t, r, http.StatusCreated)
	var created clientJSON
	r.JSON(t, &created)
	secrets = append(secrets, created.ClientSecret, created.WebhookSecret)
	r = sendJSON(admin, http.MethodPost, "/admin/v1/clients/acme/rotate-secret", nil)
	var rot struct {
		ClientSecret string `json:"client_secret"`
	}
	r.JSON(t, &rot)
	secrets = append(secrets, rot.ClientSecret)
	expectStatus(t, sendJSON(admin, http.MethodPatch, "/admin/v1/clients/acme", map[string]any{"enabled": false, "grants": []string{"demo-echo"}}), http.StatusOK)

	want := map[string]string{ // action -> actor
		"token.issued":          "demo-partner",
		"token.refused":         "demo-partner",
		"authn.denied":          "",
		"authz.denied":          "demo-partner",
		"client.created":        "demo-admin",
		"client.secret_rotated": "demo-admin",
		"client.updated":        "demo-admin",
	}
	var page auditPage
	until(t, 5*time.Second, "audit events", func() bool {
		page = auditPage{}
		admin.Do(http.MethodGet, "/admin/v1/audit?limit=1000", nil, nil).JSON(t, &page)
		seen := map[string]bool{}
		for _, e := range page.Items {
			if actor, ok := want[e.Action]; ok && e.Actor == actor {
				seen[e.Action] = true
			}
		}
		return len(seen) == len(want)
	})
	for _, e := range page.Items {
		if e.Seq == 0 || e.Time == "" || e.Outcome == "" || (e.Action != "seed.applied" && e.Source == "") {
			t.Fatalf("incomplete event %+v", e)
		}
		if e.Action == "client.updated" && e.Detail != "fields=enabled,grants" {
			t.Fatalf("update detail %q", e.Detail)
		}
	}

	// Filters and the cursor.
	var only auditPage
	admin.Do(http.MethodGet, "/admin/v1/audit?action=client&actor=demo-admin", nil, nil).JSON(t, &only)
	if len(only.Items) != 3 {
		t.Fatalf("action=client&actor=demo-admin: %+v", only.Items)
	}
	var first, second auditPage
	admin.Do(http.MethodGet, "/admin/v1/audit?action=client.>&limit=2", nil, nil).JSON(t, &first)
	if len(first.Items) != 2 || first.NextCursor == "" {
		t.Fatalf("first page %+v", first)
	}
	admin.Do(http.MethodGet, "/admin/v1/audit?action=client.>&limit=2&cursor="+first.NextCursor, nil, nil).JSON(t, &second)
	if len(second.Items) != 1 || second.Items[0].Action != "client.updated" || second.NextCursor != "" {
		t.Fatalf("second page %+v", second)
	}
	var none auditPage
	admin.Do(http.MethodGet, "/admin/v1/audit?since="+time.Now().Add(time.Hour).Format(time.RFC3339), nil, nil).JSON(t, &none)
	if len(none.Items) != 0 {
		t.Fatalf("since in the future: %+v", none.Items)
	}
	for _, q := range []string{"action=a.b.c.d", "actor=Not_An_ID", "since=yesterday", "cursor=x", "limit=5000"} {
		expectProblem(t, admin.Do(http.MethodGet, "/admin/v1/audit?"+q, nil, nil), http.StatusBadRequest, "invalid_request")
	}

	// Nothing secret in the stream (every message) or the logs.
	ctx := context.Background()
	cons, err := sys.Broker.Resources.Audit.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var stream strings.Builder
	for {
		b, err := cons.FetchNoWait(500)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for m := range b.Messages() {
			n++
			stream.Write(m.Data())
			stream.WriteByte('\n')
		}
		if n == 0 {
			break
		}
	}
	for _, s := range secrets {
		if s == "" {
			t.Fatal("empty secret in the list")
		}
		for where, text := range map[string]string{"audit stream": stream.String(), "logs": logs.String()} {
			if strings.Contains(text, s) || strings.Contains(text, s[:len(s)/2]) {
				t.Fatalf("a secret or token appears in the %s", where)
			}
		}
	}
	if !strings.Contains(stream.String(), `"token.issued"`) {
		t.Fatal("the stream copy is empty")
	}
}
