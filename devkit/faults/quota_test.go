package faults_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/broker"
	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/devkit/cpisim"
	"github.com/cpibroker/cpibroker/devkit/testkit"
	"github.com/cpibroker/cpibroker/internal/clock"
)

// TestQuotasOnCluster: a client's rate and burst hold exactly across three
// dispatcher processes (each its own NATS connection) on the 3-node
// cluster with R3 buckets, the budget leased from the replicated
// cpib-quota bucket. All dispatchers read one manual clock: while it
// stands still, the burst and not one call more reaches CPI.
func TestQuotasOnCluster(t *testing.T) {
	t.Parallel()
	clk := clock.NewManual(time.Now())
	r := newRig(t, rigOptions{ingresses: 1, dispatchers: 3, iflow: cpisim.IFlow{ID: "Metered"},
		configure: func(c *broker.Config) { c.DispatcherConfig.Now = clk.Now }})
	const id, secret = "metered", "secret-metered-0123456789"
	h, err := catalog.HashSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	c := catalog.Client{ID: id, Enabled: true, Grants: []string{r.flow}, SecretHashes: []string{h}, Weight: 1,
		Quota: &catalog.Quota{Rate: 2, Burst: 4}}
	c.SetDefaults()
	if err := r.first.Broker.Catalog.PutClient(context.Background(), c, false); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "the client at every dispatcher", func() bool {
		for _, d := range r.disp {
			if _, ok := d.Broker.Catalog.Client(id); !ok {
				return false
			}
		}
		return true
	})
	r.token = testkit.Token(t, r.first.BaseURL, id, secret, "")
	var ids []string
	for i := range 14 {
		status, code, jid, err := r.submit(0, fmt.Sprint(i))
		if err != nil || status != http.StatusAccepted {
			t.Fatalf("submit: %d %s %v", status, code, err)
		}
		ids = append(ids, jid)
	}
	pair := id + "/" + r.flow
	settled := func(want int) {
		t.Helper()
		testkit.Eventually(t, 30*time.Second, fmt.Sprintf("%d calls, then every dispatcher waiting on the quota", want), func() bool {
			if r.first.Sim.CallCount(r.iflow) < want || r.first.Sim.InFlight(r.iflow) != 0 {
				return false
			}
			for _, d := range r.disp {
				if d.Broker.Dispatcher.Waiting()[pair] != "quota" {
					return false
				}
			}
			return noHolds(t, r)
		})
		if n := r.first.Sim.CallCount(r.iflow); n != want {
			t.Fatalf("%d calls at the simulator, the quota allows %d", n, want)
		}
	}
	settled(4) // the burst, the clock standing still
	clk.Advance(time.Second)
	settled(6) // two tokens a second
	clk.Advance(time.Minute)
	settled(10) // a long pause refills up to the burst only
	clk.Advance(2 * time.Second)
	r.verify(ids, succeeded, time.Minute)
	if n := r.first.Sim.CallCount(r.iflow); n != 14 {
		t.Fatalf("%d calls for 14 jobs", n)
	}
}

// noHolds reports that no dispatcher holds unreported budget in the
// cpib-quota bucket (every leased token is accounted for).
func noHolds(t *testing.T, r *rig) bool {
	ctx := context.Background()
	q := r.first.Broker.Resources.Quota
	keys, err := q.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for k := range keys.Keys() {
		if !strings.HasPrefix(k, "rate.") {
			continue
		}
		e, err := q.Get(ctx, k)
		if err != nil {
			return false
		}
		var st struct {
			H map[string]any `json:"h"`
		}
		if json.Unmarshal(e.Value(), &st) != nil || len(st.H) > 0 {
			return false
		}
	}
	return true
}
