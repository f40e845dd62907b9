package adminclient_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/devkit/adminclient"
	"github.com/cpibroker/cpibroker/devkit/cpisim"
	"github.com/cpibroker/cpibroker/devkit/testkit"
)

// TestCLISequences: an operator finds a blocked ordered sequence with
// `admin sequences list --state blocked` (a table, or JSON with -o json),
// and releases it with `admin sequences skip`.
func TestCLISequences(t *testing.T) {
	sys := testkit.Start(t, testkit.Options{})
	flow := sys.AddFlow(cpisim.IFlow{ID: "Ordered", Address: "/ordered", Faults: cpisim.Faults{ErrorRate: 1, ErrorStatus: http.StatusBadRequest}},
		func(p *catalog.Policy) { p.Rate, p.Concurrency = 0, 0 })
	p := sys.Partner()
	jobs := p.SubmitOrdered(flow, []string{"ORDER-1"}, 2, 1)
	if j := p.WaitJob(jobs[0].ID, time.Minute); j.Status != "failed" {
		t.Fatalf("head: %s", j.Status)
	}
	env := map[string]string{"CPIB_ADMIN_CLIENT_ID": sys.Creds.Admin.ClientID, "CPIB_ADMIN_CLIENT_SECRET": sys.Creds.Admin.ClientSecret, "CPIB_URL": sys.BaseURL}
	run := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := adminclient.Run(context.Background(), args, &out, &errOut, func(k string) string { return env[k] })
		return out.String(), err
	}
	var list struct {
		Items []struct {
			ID, Key, State, Head string
		} `json:"items"`
	}
	testkit.Eventually(t, 30*time.Second, "the sequence to be listed as blocked", func() bool {
		out, err := run("sequences", "list", "--state", "blocked", "-o", "json")
		return err == nil && json.Unmarshal([]byte(out), &list) == nil && len(list.Items) == 1
	})
	if it := list.Items[0]; it.Key != "ORDER-1" || it.Head != jobs[0].ID || it.State != "blocked" {
		t.Fatalf("listed: %+v", it)
	}
	out, err := run("sequences", "list", "--state", "blocked", "-o", "table")
	if err != nil || !strings.Contains(out, "HEAD_STATUS") || !strings.Contains(out, "ORDER-1") || !strings.Contains(out, "cpi_error") {
		t.Fatalf("table: %v\n%s", err, out)
	}
	if err := sys.Sim.SetFaults("Ordered", cpisim.Faults{}); err != nil {
		t.Fatal(err)
	}
	if _, err := run("sequences", "skip", list.Items[0].ID, "-o", "json"); err != nil {
		t.Fatalf("skip: %v", err)
	}
	if j := p.WaitJob(jobs[1].ID, time.Minute); j.Status != "succeeded" {
		t.Fatalf("after skip: %s", j.Status)
	}
	var apiErr *adminclient.APIError
	if _, err := run("sequences", "replay", list.Items[0].ID); !errors.As(err, &apiErr) || apiErr.Status != http.StatusNotFound {
		t.Fatalf("replay of a released sequence: %v", err)
	}
	if _, err := run("sequences", "skip"); !errors.Is(err, adminclient.ErrUsage) {
		t.Fatalf("skip without ID: %v", err)
	}
}
