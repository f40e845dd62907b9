package ingress_test

import (
	"bytes"
	"net/http"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/devkit/testkit"
)

func TestEchoRoundTrip(t *testing.T) {
	sys := testkit.Start(t, testkit.Options{})
	p := sys.Partner()
	body := []byte(`{"order":42,"note":"bytes \u00e9 kept"}`)
	r := p.Submit("demo-echo", "application/json; charset=utf-8", body, nil)
	if r.Status != http.StatusAccepted {
		t.Fatalf("submit: %d %s", r.Status, r.Body)
	}
	var j testkit.Job
	r.JSON(t, &j)
	if loc := r.Header.Get("Location"); loc != "/v1/jobs/"+j.ID {
		t.Fatalf("Location %q for job %s", loc, j.ID)
	}
	if r.Header.Get("Retry-After") != "1" || j.Status != "queued" || j.Flow != "demo-echo" || j.Run != 1 {
		t.Fatalf("unexpected 202: %+v headers %v", j, r.Header)
	}
	done := p.WaitJob(j.ID, 30*time.Second)
	if done.Status != "succeeded" || done.Attempts != 1 || done.Result == nil || done.Result.StatusCode != 200 {
		t.Fatalf("job ended %+v", done)
	}
	if done.Result.CPIMessageID == "" || done.Result.URL != "/v1/jobs/"+j.ID+"/result" {
		t.Fatalf("result %+v", done.Result)
	}
	res := p.Do(http.MethodGet, "/v1/jobs/"+j.ID+"/result", nil, nil)
	if res.Status != 200 || !bytes.Equal(res.Body, body) || res.Header.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Fatalf("result: %d %q %q", res.Status, res.Header.Get("Content-Type"), res.Body)
	}
	if res.Header.Get("Job-Status") != "succeeded" || res.Header.Get("CPI-Status") != "200" {
		t.Fatalf("result headers %v", res.Header)
	}
	calls := sys.Sim.Calls("Echo")
	if len(calls) != 1 {
		t.Fatalf("simulator saw %d calls", len(calls))
	}
	t.Logf("%+v", calls[0])
}
