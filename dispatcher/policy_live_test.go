package dispatcher_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/devkit/cpisim"
	"github.com/cpibroker/cpibroker/devkit/testkit"
)

// TestChangedPolicyReachesWaitingJobs (issue 12.5): a job waiting on a
// flow rate or a client quota runs as soon as an admin lifts the limit,
// without a restart: every waiter re-reads the specs that apply to it.
func TestChangedPolicyReachesWaitingJobs(t *testing.T) {
	sys := testkit.Start(t, testkit.Options{})
	admin := adminPartner(t, sys)
	flow := sys.AddFlow(cpisim.IFlow{ID: "Live", Name: "Live", Address: "/t/live"}, unlimited)

	// A flow rate of one call per 1000 s: the first job runs on the full
	// bucket, the second waits.
	patch := func(path string, body any) {
		t.Helper()
		if r := sendJSONTo(t, admin, http.MethodPatch, path, body); r.Status != http.StatusOK {
			t.Fatalf("PATCH %s: %d %s", path, r.Status, r.Body)
		}
	}
	patch("/admin/v1/flows/"+flow, map[string]any{"policy": map[string]any{"rate": 0.001}})
	p := addPartner(t, sys, "live", 1, nil, flow)
	ids := submitN(t, p, flow, 2)
	if j := p.WaitJob(ids[0], 30*time.Second); j.Status != "succeeded" {
		t.Fatalf("first job %+v", j)
	}
	testkit.Eventually(t, 20*time.Second, "the second job waits on the flow rate", func() bool {
		return waitingReason(t, p, ids[1]) == "quota"
	})
	patch("/admin/v1/flows/"+flow, map[string]any{"policy": map[string]any{"rate": 0}})
	if j := p.WaitJob(ids[1], 30*time.Second); j.Status != "succeeded" {
		t.Fatalf("second job after the rate was lifted: %+v", j)
	}

	// The same for a client quota.
	patch("/admin/v1/clients/live", map[string]any{"quota": catalog.Quota{Rate: 0.001, Burst: 1}})
	ids = submitN(t, p, flow, 2)
	if j := p.WaitJob(ids[0], 30*time.Second); j.Status != "succeeded" {
		t.Fatalf("first job %+v", j)
	}
	testkit.Eventually(t, 20*time.Second, "the second job waits on the client quota", func() bool {
		r := waitingReason(t, p, ids[1])
		if r != "quota" {
			t.Logf("second job: %s", p.Do(http.MethodGet, "/v1/jobs/"+ids[1], nil, nil).Body)
		}
		return r == "quota"
	})
	patch("/admin/v1/clients/live", map[string]any{"quota": nil})
	if j := p.WaitJob(ids[1], 30*time.Second); j.Status != "succeeded" {
		t.Fatalf("second job after the quota was removed: %+v", j)
	}
}

// sendJSONTo sends v as a JSON body with the partner's token.
func sendJSONTo(t *testing.T, p *testkit.Partner, method, path string, v any) testkit.Response {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return p.Do(method, path, bytes.NewReader(b), http.Header{"Content-Type": {"application/json"}})
}
