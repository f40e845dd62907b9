package dispatcher_test

import (
	"bufio"
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/devkit/testkit"
)

// metricValue reads one sample from GET /metrics.
func metricValue(t *testing.T, baseURL, name string) float64 {
	t.Helper()
	resp, err := http.Get(baseURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && (f[0] == name || strings.HasPrefix(f[0], name+"{")) {
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				t.Fatalf("%s: %v", sc.Text(), err)
			}
			return v
		}
	}
	return 0 // not exported yet: none counted
}

// Jobs under budgets that never bind (the demo flows' default rate and
// concurrency) wait for no quota: permits fetched from KV on the way are
// not counted as quota waits.
func TestQuotaWaitsCountOnlyRealWaits(t *testing.T) {
	sys := testkit.Start(t, testkit.Options{})
	p := sys.Partner()
	for i := range 5 {
		var j testkit.Job
		p.Submit("demo-echo", "application/json", []byte(`{"n":`+strconv.Itoa(i)+`}`), nil).JSON(t, &j)
		if done := p.WaitJob(j.ID, 30*time.Second); done.Status != "succeeded" {
			t.Fatalf("job %+v", done)
		}
	}
	if got := sys.Broker.Dispatcher.QuotaWaits(); got != 0 {
		t.Fatalf("QuotaWaits %d after jobs that no budget held back", got)
	}
	if got := metricValue(t, sys.BaseURL, "cpibroker_quota_waits_total"); got != 0 {
		t.Fatalf("cpibroker_quota_waits_total %v", got)
	}
}
