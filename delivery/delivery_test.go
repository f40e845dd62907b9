package delivery_test

import (
	"bytes"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/broker"
	"github.com/cpibroker/cpibroker/devkit/demo"
	"github.com/cpibroker/cpibroker/devkit/testkit"
)

// seconds is the retry schedule of these tests.
func seconds(n int) func(*broker.Config) {
	return func(c *broker.Config) {
		c.Delivery.Schedule = nil
		for range n {
			c.Delivery.Schedule = append(c.Delivery.Schedule, time.Second)
		}
	}
}

// A receiver that fails twice (503, then 429 with Retry-After) and then
// succeeds gets three attempts of one event: the same webhook-id and body
// every time, a fresh timestamp, and, during a secret rotation, two
// signatures that each verify. A Callback-URL is one more target: one
// delivery per target.
func TestReceiverFailsThenSucceeds(t *testing.T) {
	sys := testkit.Start(t, testkit.Options{Configure: seconds(3)})
	a := admin(t, sys)
	hook := newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		switch n {
		case 1:
			w.WriteHeader(http.StatusServiceUnavailable)
		case 2:
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(http.StatusTooManyRequests)
		default:
			w.WriteHeader(http.StatusOK)
		}
	})
	setWebhooks(t, a, webhookSpec{ID: "wh-1", URL: hook.url("/hooks/jobs"), Events: allEvents, Enabled: true})
	oldSecret := sys.Creds.Partner.WebhookSecret
	var rotated struct {
		WebhookSecret string `json:"webhook_secret"`
	}
	call(t, a, http.MethodPost, "/admin/v1/clients/demo-partner/rotate-webhook-secret?overlap=1h", nil, http.StatusOK, &rotated)

	p := sys.Partner()
	job := submit(t, p, "demo-echo", `{"order":42}`, nil)
	h1, h2, h3 := hook.next(30*time.Second), hook.next(30*time.Second), hook.next(30*time.Second)
	for i, h := range []hit{h1, h2, h3} {
		if h.path != "/hooks/jobs" || h.header.Get("Content-Type") != "application/json" {
			t.Fatalf("attempt %d: %s %v", i+1, h.path, h.header)
		}
		if got := h.header.Get("webhook-id"); got != "evt_"+job+"_1" {
			t.Fatalf("attempt %d webhook-id %q", i+1, got)
		}
		if !bytes.Equal(h.body, h1.body) {
			t.Fatalf("attempt %d body differs", i+1)
		}
		if n := len(strings.Fields(h.header.Get("webhook-signature"))); n != 2 {
			t.Fatalf("attempt %d: %d signatures during a rotation, want 2", i+1, n)
		}
		for _, secret := range []string{oldSecret, rotated.WebhookSecret} {
			if err := verifySignature(secret, h.header, h.body); err != nil {
				t.Fatalf("attempt %d: %v", i+1, err)
			}
		}
	}
	if d := h2.at.Sub(h1.at); d < 700*time.Millisecond {
		t.Fatalf("retry after %s; the schedule says about 1s", d)
	}
	if d := h3.at.Sub(h2.at); d < 1900*time.Millisecond {
		t.Fatalf("retry after %s; Retry-After said 2s", d)
	}
	e := decodeEvent(t, h3.body)
	if e.ID != "evt_"+job+"_1" || e.Type != "job.succeeded" || e.Data.ID != job || e.Data.Status != "succeeded" || e.Timestamp == "" {
		t.Fatalf("event %+v", e)
	}
	if e.Data.Result == nil || e.Data.Result.Body != `{"order":42}` || e.Data.Result.BodyEncoding != "utf-8" || e.Data.Result.StatusCode != 200 {
		t.Fatalf("event result %+v", e.Data.Result)
	}

	// A job with a Callback-URL goes to both targets, once each.
	cb := newReceiver(t, nil)
	sys.AllowCallbacks(cb.url("/cb/"))
	job2 := submit(t, p, "demo-echo", `"x"`, http.Header{"Callback-URL": {cb.url("/cb/" + "order-7")}})
	got := cb.next(30 * time.Second)
	if got.path != "/cb/order-7" || got.header.Get("webhook-id") != "evt_"+job2+"_1" {
		t.Fatalf("callback %s %v", got.path, got.header)
	}
	if err := verifySignature(rotated.WebhookSecret, got.header, got.body); err != nil {
		t.Fatal(err)
	}
	if h := hook.next(30 * time.Second); h.header.Get("webhook-id") != "evt_"+job2+"_1" {
		t.Fatalf("webhook got %s", h.header.Get("webhook-id"))
	}
	// A third job makes sure nothing more was on its way for job2.
	job3 := submit(t, p, "demo-echo", `"y"`, nil)
	if h := hook.next(30 * time.Second); h.header.Get("webhook-id") != "evt_"+job3+"_1" {
		t.Fatalf("webhook got %s, want job3's event", h.header.Get("webhook-id"))
	}
	if n := cb.count(); n != 1 {
		t.Fatalf("callback receiver got %d requests, want 1", n)
	}
}

// 410 disables the webhook (visible in the admin API, with a reason) and
// keeps the delivery in the DLQ; a receiver that keeps failing exhausts the
// schedule into the DLQ; both are replayed once fixed, and PATCH enables
// the webhook again.
func TestGoneDisablesAndDLQReplays(t *testing.T) {
	sys := testkit.Start(t, testkit.Options{Configure: seconds(1)})
	a := admin(t, sys)
	var goneUp, downUp atomic.Bool
	gone := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		if goneUp.Load() {
			w.WriteHeader(http.StatusOK)
			return
		}
		w.WriteHeader(http.StatusGone)
	})
	down := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		if downUp.Load() {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.WriteHeader(http.StatusInternalServerError)
	})
	setWebhooks(t, a,
		webhookSpec{ID: "wh-gone", URL: gone.url("/gone"), Events: allEvents, Enabled: true},
		webhookSpec{ID: "wh-down", URL: down.url("/down"), Events: []string{"job.succeeded"}, Enabled: true})
	p := sys.Partner()
	job1 := submit(t, p, "demo-echo", `{"n":1}`, nil)
	gone.next(30 * time.Second)

	var cl struct {
		Webhooks []webhookSpec `json:"webhooks"`
	}
	testkit.Eventually(t, 10*time.Second, "webhook disabled", func() bool {
		call(t, a, http.MethodGet, "/admin/v1/clients/demo-partner", nil, http.StatusOK, &cl)
		return len(cl.Webhooks) == 2 && !cl.Webhooks[0].Enabled
	})
	if cl.Webhooks[0].ID != "wh-gone" || !strings.Contains(cl.Webhooks[0].DisabledReason, "410") || !cl.Webhooks[1].Enabled {
		t.Fatalf("webhooks after 410: %+v", cl.Webhooks)
	}
	goneEntry := waitDLQ(t, a, func(e dlqEntry) bool { return e.WebhookID == "wh-gone" })
	if goneEntry.Code != "gone" || goneEntry.JobID != job1 || goneEntry.StatusCode != 410 || goneEntry.Kind != "callback" {
		t.Fatalf("DLQ entry %+v", goneEntry)
	}
	// The failing receiver: first attempt, one retry after 1s, then DLQ.
	down.next(30 * time.Second)
	down.next(30 * time.Second)
	downEntry := waitDLQ(t, a, func(e dlqEntry) bool { return e.WebhookID == "wh-down" })
	if downEntry.Code != "attempts_exhausted" || downEntry.Attempts != 2 || downEntry.StatusCode != 500 || downEntry.EventID != "evt_"+job1+"_1" {
		t.Fatalf("DLQ entry %+v", downEntry)
	}

	// While disabled, the webhook gets nothing.
	job2 := submit(t, p, "demo-echo", `{"n":2}`, nil)
	if h := down.next(30 * time.Second); h.header.Get("webhook-id") != "evt_"+job2+"_1" {
		t.Fatalf("wh-down got %s", h.header.Get("webhook-id"))
	}
	downUp.Store(true)
	if h := down.next(30 * time.Second); h.header.Get("webhook-id") != "evt_"+job2+"_1" {
		t.Fatalf("wh-down retry got %s", h.header.Get("webhook-id"))
	}

	// Re-enabled by PATCH; the next job reaches it, job2 never did.
	goneUp.Store(true)
	setWebhooks(t, a,
		webhookSpec{ID: "wh-gone", URL: gone.url("/gone"), Events: allEvents, Enabled: true},
		webhookSpec{ID: "wh-down", URL: down.url("/down"), Events: []string{"job.succeeded"}, Enabled: true})
	job3 := submit(t, p, "demo-echo", `{"n":3}`, nil)
	if h := gone.next(30 * time.Second); h.header.Get("webhook-id") != "evt_"+job3+"_1" {
		t.Fatalf("re-enabled webhook got %s, want job3 (job2 was sent while disabled?)", h.header.Get("webhook-id"))
	}
	down.next(30 * time.Second) // job3 there too

	// Replay both DLQ entries: the same event, the same webhook-id.
	var res struct {
		Replayed []string `json:"replayed"`
		Skipped  []struct {
			ID string `json:"id"`
		} `json:"skipped"`
	}
	call(t, a, http.MethodPost, "/admin/v1/dlq/replay", map[string]any{"ids": []string{goneEntry.ID, downEntry.ID}}, http.StatusOK, &res)
	if len(res.Replayed) != 2 || len(res.Skipped) != 0 {
		t.Fatalf("replay %+v", res)
	}
	for _, rc := range []*receiver{gone, down} {
		if h := rc.next(30 * time.Second); h.header.Get("webhook-id") != "evt_"+job1+"_1" {
			t.Fatalf("replayed delivery carries %s", h.header.Get("webhook-id"))
		}
	}
	testkit.Eventually(t, 10*time.Second, "DLQ empty after replay", func() bool { return len(dlqEntries(t, a)) == 0 })
}

// One slow receiver (every request hangs until the test lets go) does not
// delay another: the fast one gets every event while the slow one holds
// all its slots, and the slow one catches up afterwards.
func TestSlowReceiverDoesNotDelayFast(t *testing.T) {
	sys := testkit.Start(t, testkit.Options{Configure: func(c *broker.Config) {
		c.Delivery.Timeout = 30 * time.Second
		c.Delivery.EndpointConcurrency = 2
	}})
	a := admin(t, sys)
	release := make(chan struct{})
	var inFlight, maxInFlight atomic.Int32
	slow := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		n := inFlight.Add(1)
		for {
			m := maxInFlight.Load()
			if n <= m || maxInFlight.CompareAndSwap(m, n) {
				break
			}
		}
		<-release
		inFlight.Add(-1)
		w.WriteHeader(http.StatusOK)
	})
	var released atomic.Bool
	t.Cleanup(func() {
		if released.CompareAndSwap(false, true) {
			close(release)
		}
	})
	fast := newReceiver(t, nil)
	setWebhooks(t, a,
		webhookSpec{ID: "slow", URL: slow.url("/slow"), Events: allEvents, Enabled: true},
		webhookSpec{ID: "fast", URL: fast.url("/fast"), Events: allEvents, Enabled: true})
	p := sys.Partner()
	const n = 8
	want := map[string]bool{}
	for i := range n {
		want["evt_"+submit(t, p, "demo-echo", `{"i":`+string(rune('0'+i))+`}`, nil)+"_1"] = true
	}
	start := time.Now()
	for range n {
		h := fast.next(20 * time.Second)
		delete(want, h.header.Get("webhook-id"))
	}
	if len(want) != 0 {
		t.Fatalf("fast receiver missed %v", want)
	}
	t.Logf("fast receiver had all %d events %s after the last submit; slow receiver holds %d requests", n, time.Since(start), inFlight.Load())
	// The slow receiver's second request may still be on its way when the
	// fast one has everything: wait for both of its slots to be taken,
	// then no third request may come while they hang.
	testkit.Eventually(t, 30*time.Second, "the slow receiver's 2 slots busy", func() bool { return inFlight.Load() == 2 })
	if slow.count() > 2 || inFlight.Load() != 2 {
		t.Fatalf("slow receiver: %d requests, %d in flight; want its 2 slots busy and the rest waiting", slow.count(), inFlight.Load())
	}
	released.Store(true)
	close(release)
	testkit.Eventually(t, 30*time.Second, "slow receiver catches up", func() bool { return slow.count() == n })
	if m := maxInFlight.Load(); m > 2 {
		t.Fatalf("%d concurrent requests to one endpoint, limit 2", m)
	}
}

// SSRF (DESIGN 7.2) end to end: webhook URLs, callback prefixes and
// Callback-URLs that are, or resolve to, refused addresses get 400 at
// registration (allow_private, set by tests, never lets metadata through);
// a name that passed registration and resolves to a refused address when
// dialled is not connected to, and the delivery is kept in the DLQ.
func TestSSRFAtRegistrationAndDial(t *testing.T) {
	sys := testkit.Start(t, testkit.Options{})
	a := admin(t, sys)
	sys.Resolver.Set("metadata.test", "169.254.169.254")
	sys.Resolver.Set("imds6.test", "fd00:ec2::254")
	sys.Resolver.Set("linklocal.test", "fe80::1")
	sys.Resolver.Set("mixed.test", "127.0.0.1", "169.254.169.254")
	sys.Resolver.Set("internal.test", "10.1.2.3")
	sys.Resolver.Set("azure.test", "168.63.129.16")
	for _, tc := range []struct {
		name string
		body map[string]any
		want int
	}{
		{"webhook at a name resolving to metadata", map[string]any{"webhooks": []webhookSpec{{ID: "w", URL: "https://metadata.test/h", Events: allEvents, Enabled: true}}}, 400},
		{"webhook at the IPv6 metadata address", map[string]any{"webhooks": []webhookSpec{{ID: "w", URL: "https://[fd00:ec2::254]/h", Events: allEvents, Enabled: true}}}, 400},
		{"webhook at a name resolving to IPv6 metadata", map[string]any{"webhooks": []webhookSpec{{ID: "w", URL: "https://imds6.test/h", Events: allEvents, Enabled: true}}}, 400},
		{"webhook at a link-local name", map[string]any{"webhooks": []webhookSpec{{ID: "w", URL: "https://linklocal.test/h", Events: allEvents, Enabled: true}}}, 400},
		{"webhook at a name with one metadata address", map[string]any{"webhooks": []webhookSpec{{ID: "w", URL: "https://mixed.test/h", Events: allEvents, Enabled: true}}}, 400},
		{"webhook at NAT64 of metadata", map[string]any{"webhooks": []webhookSpec{{ID: "w", URL: "https://[64:ff9b::a9fe:a9fe]/h", Events: allEvents, Enabled: true}}}, 400},
		{"callback prefix at metadata", map[string]any{"callback_prefixes": []string{"https://169.254.169.254/"}}, 400},
		{"callback prefix at a name resolving to metadata", map[string]any{"callback_prefixes": []string{"https://metadata.test/cb/"}}, 400},
		{"webhook at IPv4-compatible metadata", map[string]any{"webhooks": []webhookSpec{{ID: "w", URL: "https://[::169.254.169.254]/h", Events: allEvents, Enabled: true}}}, 400},
		{"webhook at SIIT metadata", map[string]any{"webhooks": []webhookSpec{{ID: "w", URL: "https://[::ffff:0:169.254.169.254]/h", Events: allEvents, Enabled: true}}}, 400},
		{"webhook at a site-local address", map[string]any{"webhooks": []webhookSpec{{ID: "w", URL: "https://[fec0::1]/h", Events: allEvents, Enabled: true}}}, 400},
		{"webhook at Azure WireServer", map[string]any{"webhooks": []webhookSpec{{ID: "w", URL: "https://168.63.129.16/h", Events: allEvents, Enabled: true}}}, 400},
		{"webhook at Alibaba metadata", map[string]any{"webhooks": []webhookSpec{{ID: "w", URL: "https://100.100.100.200/h", Events: allEvents, Enabled: true}}}, 400},
		{"webhook at Oracle metadata", map[string]any{"webhooks": []webhookSpec{{ID: "w", URL: "https://192.0.0.192/h", Events: allEvents, Enabled: true}}}, 400},
		{"webhook at GCP IPv6 metadata", map[string]any{"webhooks": []webhookSpec{{ID: "w", URL: "https://[fd20:ce::254]/h", Events: allEvents, Enabled: true}}}, 400},
		{"callback prefix at a name resolving to Azure WireServer", map[string]any{"callback_prefixes": []string{"https://azure.test/cb/"}}, 400},
		{"private name allowed by allow_private", map[string]any{"webhooks": []webhookSpec{{ID: "w", URL: "https://internal.test/h", Events: allEvents, Enabled: true}}}, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			call(t, a, http.MethodPatch, "/admin/v1/clients/demo-partner", tc.body, tc.want, nil)
		})
	}
	r := a.Do(http.MethodPost, "/admin/v1/clients", strings.NewReader(
		`{"id":"ssrf-new","webhooks":[{"id":"w","url":"https://metadata.test/x","events":["job.failed"]}]}`), http.Header{"Content-Type": {"application/json"}})
	if r.Status != 400 {
		t.Fatalf("create with a metadata webhook: %d %s", r.Status, r.Body)
	}

	// Callback-URL: a prefix http://localhost:<port>/ covers a name; what
	// the name resolves to when asked decides. (The test resolver lets the
	// test rebind even localhost.)
	rc := newReceiver(t, nil)
	port := rc.srv.URL[strings.LastIndex(rc.srv.URL, ":")+1:]
	cbURL := "http://localhost:" + port + "/cb"
	sys.AllowCallbacks("http://localhost:" + port + "/")
	p := sys.Partner()
	sys.Resolver.Set("localhost", "169.254.169.254")
	if r := p.Submit("demo-echo", "text/plain", []byte("x"), http.Header{"Callback-URL": {cbURL}}); r.Status != 400 || !strings.Contains(string(r.Body), "callback_not_allowed") {
		t.Fatalf("Callback-URL resolving to metadata: %d %s", r.Status, r.Body)
	}
	sys.Resolver.Set("localhost", "127.0.0.1")
	sys.Broker.Dispatcher.Pause()
	job := submit(t, p, "demo-echo", `"rebound"`, http.Header{"Callback-URL": {cbURL}})
	sys.Resolver.Set("localhost", "169.254.169.254") // rebound after the submit
	sys.Broker.Dispatcher.Resume()
	e := waitDLQ(t, a, func(e dlqEntry) bool { return e.JobID == job })
	if e.Code != "address_refused" || !strings.Contains(e.Message, "metadata") {
		t.Fatalf("DLQ entry %+v", e)
	}
	if n := rc.count(); n != 0 {
		t.Fatalf("the receiver behind the rebound name got %d requests", n)
	}
	// Rebound back to an allowed address, the replay is delivered.
	sys.Resolver.Set("localhost", "127.0.0.1")
	call(t, a, http.MethodPost, "/admin/v1/dlq/replay", map[string]any{"kind": "callback", "code": "address_refused"}, http.StatusOK, nil)
	if h := rc.next(30 * time.Second); h.path != "/cb" || h.header.Get("webhook-id") != "evt_"+job+"_1" {
		t.Fatalf("replayed callback %s %v", h.path, h.header)
	}
	// The same at dial time for addresses first refused by this release:
	// a webhook host that passed registration and now resolves to the
	// IPv4-compatible form of Azure's WireServer.
	sys.Resolver.Set("wire.test", "127.0.0.1")
	setWebhooks(t, a, webhookSpec{ID: "wire", URL: "https://wire.test:" + port + "/h", Events: allEvents, Enabled: true})
	sys.Resolver.Set("wire.test", "::168.63.129.16")
	job2 := submit(t, p, "demo-echo", `"to a rebound webhook"`, nil)
	if e := waitDLQ(t, a, func(e dlqEntry) bool { return e.JobID == job2 }); e.Code != "address_refused" || !strings.Contains(e.Message, "metadata") {
		t.Fatalf("DLQ entry %+v", e)
	}
}

// A dead receiver trips its endpoint's breaker: further attempts fail at
// once without a request (and follow the schedule to the DLQ), while
// another receiver is served as usual.
func TestBreakerStopsCallingADeadReceiver(t *testing.T) {
	sys := testkit.Start(t, testkit.Options{Configure: func(c *broker.Config) {
		seconds(2)(c)
		c.Delivery.Breaker.ConsecutiveFailures = 2
		c.Delivery.Breaker.OpenFor = time.Hour
	}})
	a := admin(t, sys)
	dead := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusBadGateway) })
	ok := newReceiver(t, nil)
	setWebhooks(t, a,
		webhookSpec{ID: "dead", URL: dead.url("/"), Events: allEvents, Enabled: true},
		webhookSpec{ID: "ok", URL: ok.url("/"), Events: allEvents, Enabled: true})
	p := sys.Partner()
	job := submit(t, p, "demo-echo", `1`, nil)
	e := waitDLQ(t, a, func(e dlqEntry) bool { return e.JobID == job && e.WebhookID == "dead" })
	if e.Code != "attempts_exhausted" || e.Attempts != 3 || !strings.Contains(e.Message, "circuit breaker open") {
		t.Fatalf("DLQ entry %+v", e)
	}
	if n := dead.count(); n != 2 {
		t.Fatalf("the dead receiver got %d requests; the breaker should stop them after 2", n)
	}
	job2 := submit(t, p, "demo-echo", `2`, nil)
	for _, id := range []string{job, job2} {
		if h := ok.next(30 * time.Second); h.header.Get("webhook-id") != "evt_"+id+"_1" {
			t.Fatalf("healthy receiver got %s", h.header.Get("webhook-id"))
		}
	}
	if n := dead.count(); n != 2 {
		t.Fatalf("the dead receiver got %d requests while its breaker is open", n)
	}
	// The admin API lists the endpoint breakers next to the flows'.
	var list struct {
		Endpoints []struct{ Client, Lane, State string } `json:"endpoints"`
	}
	a.Do(http.MethodGet, "/admin/v1/breakers", nil, nil).JSON(t, &list)
	states := map[string]int{}
	for _, e := range list.Endpoints {
		if e.Client != demo.PartnerID || e.Lane == "" {
			t.Fatalf("endpoint breaker %+v", e)
		}
		states[e.State]++
	}
	if states["open"] != 1 || states["closed"] != 1 {
		t.Fatalf("endpoint breakers %+v, want the dead receiver's open and the healthy one's closed", list.Endpoints)
	}
}
