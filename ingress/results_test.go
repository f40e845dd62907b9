package ingress_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/devkit/cpisim"
	"github.com/cpibroker/cpibroker/devkit/testkit"
)

// feedPage is GET /v1/events.
type feedPage struct {
	Items []struct {
		ID        string      `json:"id"`
		Type      string      `json:"type"`
		Timestamp string      `json:"timestamp"`
		Data      testkit.Job `json:"data"`
	} `json:"items"`
	NextCursor string `json:"next_cursor"`
}

func readFeed(t *testing.T, p *testkit.Partner, query string) feedPage {
	t.Helper()
	r := p.Do(http.MethodGet, "/v1/events"+query, nil, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("GET /v1/events%s: %d %s", query, r.Status, r.Body)
	}
	var page feedPage
	r.JSON(t, &page)
	if page.NextCursor == "" {
		t.Fatalf("page without next_cursor: %s", r.Body)
	}
	return page
}

// waitFeedEvent waits until the event feed holds a terminal event of job
// id. A job's record turns terminal just before its event is published, so
// a test that needs the feed in the order its jobs ended waits for each
// event before starting the next job.
func waitFeedEvent(t *testing.T, p *testkit.Partner, id string) {
	t.Helper()
	testkit.Eventually(t, 30*time.Second, "the event of job "+id+" in the feed", func() bool {
		for _, e := range readFeed(t, p, "?limit=1000").Items {
			if e.Data.ID == id {
				return true
			}
		}
		return false
	})
}

// Prefer: wait=N answers the result when the job ends in time (with
// Location, Job-Id, Preference-Applied), the job resource when it ended
// without a CPI response, and the usual 202 otherwise.
func TestPreferWait(t *testing.T) {
	sys := testkit.Start(t, testkit.Options{})
	slow := sys.AddFlow(cpisim.IFlow{ID: "Slower", Name: "Slower", Address: "/t/slower",
		Faults: cpisim.Faults{Latency: 1500 * time.Millisecond}}, nil)
	p := sys.Partner()

	r := p.Submit("demo-echo", "application/json", []byte(`{"n":1}`), http.Header{"Prefer": {"respond-async, wait=10"}})
	if r.Status != 200 || string(r.Body) != `{"n":1}` || r.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("finished in time: %d %v %q", r.Status, r.Header, r.Body)
	}
	id := r.Header.Get("Job-Id")
	if id == "" || r.Header.Get("Location") != "/v1/jobs/"+id || r.Header.Get("Preference-Applied") != "wait=10" ||
		r.Header.Get("Job-Status") != "succeeded" || r.Header.Get("CPI-Status") != "200" {
		t.Fatalf("headers %v", r.Header)
	}
	// N above 60 is capped.
	if r := p.Submit("demo-echo", "text/plain", []byte("x"), http.Header{"Prefer": {"wait=600"}}); r.Status != 200 || r.Header.Get("Preference-Applied") != "wait=60" {
		t.Fatalf("capped wait: %d %v", r.Status, r.Header)
	}

	start := time.Now()
	r = p.Submit(slow, "text/plain", []byte("late"), http.Header{"Prefer": {"wait=1"}})
	if r.Status != 202 || r.Header.Get("Preference-Applied") != "" || r.Header.Get("Location") == "" {
		t.Fatalf("not finished in time: %d %v %s", r.Status, r.Header, r.Body)
	}
	if d := time.Since(start); d < time.Second {
		t.Fatalf("202 after %s for wait=1", d)
	}
	var j testkit.Job
	r.JSON(t, &j)
	if j.Status != "queued" && j.Status != "running" {
		t.Fatalf("202 body %+v", j)
	}

	// Ended without a CPI response (canceled while queued): the resource,
	// 200. (demo-slow has not been used yet, so its puller is paused from
	// the start: a puller already long-polling would still take one job.)
	sys.Broker.Dispatcher.Pause()
	var queued testkit.Job
	p.Submit("demo-slow", "text/plain", []byte("c"), nil).JSON(t, &queued)
	if r := p.Do(http.MethodDelete, "/v1/jobs/"+queued.ID, nil, nil); r.Status != 200 {
		t.Fatalf("cancel: %d", r.Status)
	}
	key := http.Header{"Idempotency-Key": {"pref-1"}}
	var first testkit.Job
	p.Submit("demo-slow", "text/plain", []byte("k"), key).JSON(t, &first)
	if r := p.Do(http.MethodDelete, "/v1/jobs/"+first.ID, nil, nil); r.Status != 200 {
		t.Fatalf("cancel: %d", r.Status)
	}
	key.Set("Prefer", "wait=5")
	r = p.Submit("demo-slow", "text/plain", []byte("k"), key)
	var again testkit.Job
	r.JSON(t, &again)
	if r.Status != 200 || again.ID != first.ID || again.Status != "canceled" || r.Header.Get("Preference-Applied") != "wait=5" ||
		r.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay of a canceled job with Prefer: %d %v %+v", r.Status, r.Header, again)
	}
}

// The event feed: the webhook payloads in order with a cursor that
// survives a restart, limit, a long-poll that wakes on a new event, and the
// canceled event of a DELETE.
func TestEventFeed(t *testing.T) {
	dir := t.TempDir()
	sys := testkit.Start(t, testkit.Options{DataDir: dir})
	p := sys.Partner()
	var ids []string
	for i := range 3 {
		var j testkit.Job
		p.Submit("demo-echo", "text/plain", []byte{'a' + byte(i)}, nil).JSON(t, &j)
		p.WaitJob(j.ID, 30*time.Second)
		waitFeedEvent(t, p, j.ID)
		ids = append(ids, j.ID)
	}
	sys.Broker.Dispatcher.Pause() // demo-slow is new: its puller starts paused
	var canceled testkit.Job
	p.Submit("demo-slow", "text/plain", []byte("never"), nil).JSON(t, &canceled)
	if r := p.Do(http.MethodDelete, "/v1/jobs/"+canceled.ID, nil, nil); r.Status != 200 {
		t.Fatalf("cancel: %d", r.Status)
	}
	waitFeedEvent(t, p, canceled.ID)
	ids = append(ids, canceled.ID)

	page := readFeed(t, p, "?limit=2")
	if len(page.Items) != 2 {
		t.Fatalf("limit=2 gave %d items", len(page.Items))
	}
	rest := readFeed(t, p, "?after="+page.NextCursor)
	all := append(page.Items, rest.Items...)
	if len(all) != 4 {
		t.Fatalf("feed has %d events, want 4", len(all))
	}
	for i, e := range all {
		want := "job.succeeded"
		if i == 3 {
			want = "job.canceled"
		}
		if e.ID != "evt_"+ids[i]+"_1" || e.Type != want || e.Data.ID != ids[i] || e.Timestamp == "" {
			t.Fatalf("event %d: %+v", i, e)
		}
	}
	if all[3].Data.Status != "canceled" || all[3].Data.Error == nil || all[3].Data.Error.Code != "canceled" {
		t.Fatalf("canceled event data %+v", all[3].Data)
	}
	// The same bytes as a webhook body: result inline.
	raw := p.Do(http.MethodGet, "/v1/events?limit=1", nil, nil)
	var rawPage struct {
		Items []json.RawMessage `json:"items"`
	}
	raw.JSON(t, &rawPage)
	if !strings.Contains(string(rawPage.Items[0]), `"body":"a","body_encoding":"utf-8"`) {
		t.Fatalf("first event %s", rawPage.Items[0])
	}
	cursor := rest.NextCursor
	if empty := readFeed(t, p, "?after="+cursor); len(empty.Items) != 0 || empty.NextCursor != cursor {
		t.Fatalf("nothing new: %+v", empty)
	}
	// Another client sees none of these.
	other := addPartner(t, sys, "feed-other", []string{"demo-echo"})
	if pg := readFeed(t, other, ""); len(pg.Items) != 0 {
		t.Fatalf("another client's feed has %d events", len(pg.Items))
	}
	for _, q := range []string{"?after=x", "?limit=0", "?limit=1001", "?wait=soon"} {
		expectProblem(t, p.Do(http.MethodGet, "/v1/events"+q, nil, nil), 400, "invalid_request")
	}
	if err := sys.Broker.Stop(); err != nil {
		t.Fatal(err)
	}

	// After a restart the cursor still means the same place; a long-poll
	// wakes up when the next job's event arrives.
	again := testkit.Start(t, testkit.Options{DataDir: dir})
	p2 := again.Partner()
	if pg := readFeed(t, p2, "?after="+page.NextCursor); len(pg.Items) != 2 || pg.Items[0].Data.ID != ids[2] {
		t.Fatalf("old cursor after restart: %+v", pg)
	}
	type result struct {
		page feedPage
		took time.Duration
	}
	done := make(chan result, 1)
	go func() {
		start := time.Now()
		r := p2.Do(http.MethodGet, "/v1/events?after="+cursor+"&wait=30s", nil, nil)
		var pg feedPage
		_ = json.Unmarshal(r.Body, &pg)
		done <- result{pg, time.Since(start)}
	}()
	var j testkit.Job
	p2.Submit("demo-echo", "text/plain", []byte("after restart"), nil).JSON(t, &j)
	select {
	case r := <-done:
		if len(r.page.Items) != 1 || r.page.Items[0].Data.ID != j.ID || r.page.Items[0].Type != "job.succeeded" {
			t.Fatalf("long-poll answer %+v", r.page)
		}
		if r.took > 20*time.Second {
			t.Fatalf("long-poll took %s", r.took)
		}
	case <-time.After(40 * time.Second):
		t.Fatal("long-poll did not return")
	}
	// The canceled job's message is dropped without a second event.
	testkit.Eventually(t, 30*time.Second, "the canceled job's message dropped", func() bool {
		info, err := again.Broker.Resources.Jobs.Info(t.Context())
		return err == nil && info.State.Msgs == 0
	})
	if pg := readFeed(t, p2, "?after="+cursor); len(pg.Items) != 1 {
		t.Fatalf("after restart: %d new events, want 1", len(pg.Items))
	}
}
