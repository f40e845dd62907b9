package delivery_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/devkit/testkit"
)

// hit is one request a receiver got.
type hit struct {
	path   string
	header http.Header
	body   []byte
	at     time.Time
}

// receiver is a partner's webhook endpoint: it records every request and
// answers with reply (called with the 1-based count of requests so far).
type receiver struct {
	t     *testing.T
	srv   *httptest.Server
	mu    sync.Mutex
	hits  []hit
	reply func(n int, w http.ResponseWriter, r *http.Request)
	got   chan hit
}

func newReceiver(t *testing.T, reply func(n int, w http.ResponseWriter, r *http.Request)) *receiver {
	t.Helper()
	rc := &receiver{t: t, reply: reply, got: make(chan hit, 1000)}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h := hit{path: r.URL.Path, header: r.Header.Clone(), body: b, at: time.Now()}
		rc.mu.Lock()
		rc.hits = append(rc.hits, h)
		n := len(rc.hits)
		rc.mu.Unlock()
		if rc.reply != nil {
			rc.reply(n, w, r)
		} else {
			w.WriteHeader(http.StatusNoContent)
		}
		rc.got <- h
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) url(path string) string { return rc.srv.URL + path }

// next waits for the receiver's next request.
func (rc *receiver) next(within time.Duration) hit {
	rc.t.Helper()
	select {
	case h := <-rc.got:
		return h
	case <-time.After(within):
		rc.t.Fatalf("receiver %s: no request within %s", rc.srv.URL, within)
		return hit{}
	}
}

// count is the number of requests so far.
func (rc *receiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.hits)
}

// event is the webhook body, as far as the tests look.
type event struct {
	ID        string `json:"id"`
	Type      string `json:"type"`
	Timestamp string `json:"timestamp"`
	Data      struct {
		ID     string `json:"id"`
		Status string `json:"status"`
		Run    int    `json:"run"`
		Result *struct {
			StatusCode   int    `json:"status_code"`
			Body         string `json:"body"`
			BodyEncoding string `json:"body_encoding"`
			URL          string `json:"url"`
		} `json:"result"`
	} `json:"data"`
}

func decodeEvent(t *testing.T, b []byte) event {
	t.Helper()
	var e event
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("event body %q: %v", b, err)
	}
	return e
}

// verifySignature checks a request the way a receiver following the
// Standard Webhooks v1 text does, independently of package webhook:
// HMAC-SHA256 with the base64 key after "whsec_" over
// "<webhook-id>.<webhook-timestamp>.<raw body>", base64, any "v1,"
// token of the space-separated list, constant-time compare, timestamp
// within 5 minutes.
func verifySignature(secret string, h http.Header, body []byte) error {
	id, ts := h.Get("webhook-id"), h.Get("webhook-timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || id == "" {
		return errors.New("missing webhook-id or webhook-timestamp")
	}
	if d := time.Since(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return errors.New("timestamp outside tolerance")
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return err
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	want := mac.Sum(nil)
	for _, tok := range strings.Fields(h.Get("webhook-signature")) {
		if v, sig, ok := strings.Cut(tok, ","); ok && v == "v1" {
			if got, err := base64.StdEncoding.DecodeString(sig); err == nil && hmac.Equal(got, want) {
				return nil
			}
		}
	}
	return errors.New("no matching v1 signature")
}

// admin is an admin API client of sys.
func admin(t *testing.T, sys *testkit.System) *testkit.Partner {
	t.Helper()
	return &testkit.Partner{T: t, BaseURL: sys.BaseURL, HTTP: &http.Client{Timeout: 30 * time.Second},
		Token: testkit.Token(t, sys.BaseURL, sys.Creds.Admin.ClientID, sys.Creds.Admin.ClientSecret, "")}
}

// call sends v as JSON and decodes the answer into out (if not nil),
// failing unless the status is want.
func call(t *testing.T, p *testkit.Partner, method, path string, v any, want int, out any) testkit.Response {
	t.Helper()
	var body io.Reader
	if v != nil {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		body = bytes.NewReader(b)
	}
	r := p.Do(method, path, body, http.Header{"Content-Type": {"application/json"}})
	if r.Status != want {
		t.Fatalf("%s %s: %d %s, want %d", method, path, r.Status, r.Body, want)
	}
	if out != nil {
		r.JSON(t, out)
	}
	return r
}

// webhookSpec is a webhook in the admin API.
type webhookSpec struct {
	ID             string   `json:"id"`
	URL            string   `json:"url"`
	Events         []string `json:"events"`
	Enabled        bool     `json:"enabled"`
	DisabledReason string   `json:"disabled_reason"`
}

// setWebhooks replaces the demo partner's webhooks.
func setWebhooks(t *testing.T, a *testkit.Partner, hooks ...webhookSpec) {
	t.Helper()
	call(t, a, http.MethodPatch, "/admin/v1/clients/demo-partner", map[string]any{"webhooks": hooks}, http.StatusOK, nil)
}

// allEvents subscribes to every event type.
var allEvents = []string{"job.succeeded", "job.failed", "job.canceled"}

// dlqEntry is an item of GET /admin/v1/dlq.
type dlqEntry struct {
	ID         string `json:"id"`
	Kind       string `json:"kind"`
	JobID      string `json:"job_id"`
	Code       string `json:"code"`
	Message    string `json:"message"`
	StatusCode int    `json:"status_code"`
	WebhookID  string `json:"webhook_id"`
	URL        string `json:"url"`
	Attempts   int    `json:"attempts"`
	EventID    string `json:"event_id"`
}

// dlqEntries lists the DLQ's callback entries.
func dlqEntries(t *testing.T, a *testkit.Partner) []dlqEntry {
	t.Helper()
	var page struct {
		Items []dlqEntry `json:"items"`
	}
	call(t, a, http.MethodGet, "/admin/v1/dlq?kind=callback", nil, http.StatusOK, &page)
	return page.Items
}

// waitDLQ waits for a callback DLQ entry that matches.
func waitDLQ(t *testing.T, a *testkit.Partner, match func(dlqEntry) bool) dlqEntry {
	t.Helper()
	var found dlqEntry
	testkit.Eventually(t, 30*time.Second, "a DLQ entry", func() bool {
		for _, e := range dlqEntries(t, a) {
			if match(e) {
				found = e
				return true
			}
		}
		return false
	})
	return found
}

// submit posts a job and returns its ID.
func submit(t *testing.T, p *testkit.Partner, flow, body string, h http.Header) string {
	t.Helper()
	r := p.Submit(flow, "application/json", []byte(body), h)
	if r.Status != http.StatusAccepted {
		t.Fatalf("submit: %d %s", r.Status, r.Body)
	}
	var j testkit.Job
	r.JSON(t, &j)
	return j.ID
}
