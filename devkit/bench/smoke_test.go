package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/devkit/bench"
)

// TestRun_smoke runs every implemented phase briefly and checks the JSON
// shape of DESIGN 10 and that no job is lost.
func TestRun_smoke(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole benchmark for a few seconds")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var progress bytes.Buffer
	rep, err := bench.Run(ctx, bench.Config{
		Duration: time.Second, Concurrency: 4, PayloadBytes: 512,
		DataDir: t.TempDir(), DrainTimeout: 20 * time.Second, Progress: &progress,
	})
	if err != nil {
		t.Fatalf("run: %v\n%s", err, progress.String())
	}
	raw, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	doc := map[string]map[string]any{}
	for _, obj := range []string{"machine", "params", "baseline", "broker", "ratios"} {
		var m map[string]any
		if err := json.Unmarshal(top[obj], &m); err != nil {
			t.Fatalf("%s: %v: %s", obj, err, raw)
		}
		doc[obj] = m
	}
	shape := map[string][]string{
		"machine":  {"cpus", "go", "fsync"},
		"params":   {"payload_bytes", "concurrency", "duration_s"},
		"baseline": {"accept_rps", "p50_ms", "p99_ms"},
		"broker": {"accept_rps", "p50_ms", "p99_ms", "e2e_jobs_per_s", "e2e_p50_ms", "e2e_p99_ms",
			"lost", "failed", "js_writes_per_job", "js_api_calls_per_job"},
		"ratios": {"accept", "e2e_vs_baseline_accept", "p99"},
	}
	for obj, keys := range shape {
		for _, k := range keys {
			if _, ok := doc[obj][k]; !ok {
				t.Errorf("%s.%s missing in %s", obj, k, raw)
			}
		}
	}
	if doc["params"]["payload_bytes"] != 512.0 || doc["params"]["concurrency"] != 4.0 || doc["params"]["duration_s"] != 1.0 {
		t.Errorf("params %v", doc["params"])
	}
	for _, k := range []string{"accept_rps", "e2e_jobs_per_s", "js_writes_per_job"} {
		if v, _ := doc["broker"][k].(float64); v <= 0 {
			t.Errorf("broker.%s = %v, want > 0", k, doc["broker"][k])
		}
	}
	if v, _ := doc["baseline"]["accept_rps"].(float64); v <= 0 {
		t.Errorf("baseline.accept_rps = %v", v)
	}
	for _, k := range []string{"accept", "e2e_vs_baseline_accept", "p99"} {
		if v, _ := doc["ratios"][k].(float64); v <= 0 {
			t.Errorf("ratios.%s = %v, want > 0", k, v)
		}
	}
	if rep.Broker.Lost != 0 || rep.Broker.Failed != 0 {
		t.Errorf("lost %d failed %d", rep.Broker.Lost, rep.Broker.Failed)
	}
	if e := rep.Broker.E2E; e == nil || e.Completed != e.Submit.Accepted || e.Submit.Accepted == 0 {
		t.Errorf("e2e %+v", rep.Broker.E2E)
	}
	if rep.Fairness != nil {
		t.Error("fairness did not run and must be omitted")
	}
	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", text.String())
}

// TestRun_fairness_smoke runs a small fairness phase (with non-binding
// limits on the flood's client) and checks its figures are there.
func TestRun_fairness_smoke(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the fairness phase for a few seconds")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var progress bytes.Buffer
	rep, err := bench.Run(ctx, bench.Config{
		Phases: []bench.Phase{bench.PhaseFairness}, Concurrency: 8, Flood: 300, FairnessRate: 50,
		FairnessWindow: 300 * time.Millisecond, NonBindingLimits: true,
		DataDir: t.TempDir(), DrainTimeout: 20 * time.Second, Progress: &progress,
	})
	if err != nil {
		t.Fatalf("run: %v\n%s", err, progress.String())
	}
	f := rep.Fairness
	if f == nil || f.Flood != 300 || f.BJobsAlone == 0 || f.BJobsFlood == 0 || f.BLost != 0 || f.BP99MSAlone <= 0 || f.BP99MSFlood <= 0 {
		t.Fatalf("fairness %+v\n%s", f, progress.String())
	}
	if !rep.Params.NonBindingLimits {
		t.Error("params.non_binding_limits")
	}
}
