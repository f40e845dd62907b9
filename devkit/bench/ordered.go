package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cpibroker/cpibroker/devkit/cpisim"
	"github.com/cpibroker/cpibroker/internal/natsx"
)

// PhaseOrdered submits OrderedKeys × OrderedPerKey jobs with an
// Ordering-Key (each key's jobs one after the other, keys interleaved) and
// measures completed jobs/s, as a ratio to the e2e phase of the same run,
// and verifies from the simulator's call log that every key's jobs were
// called in order, one at a time.
const PhaseOrdered Phase = "ordered"

// Ordered is what the ordered phase measured.
type Ordered struct {
	Keys      int     `json:"keys"`
	PerKey    int     `json:"jobs_per_key"`
	Accepted  int64   `json:"accepted"`
	Completed int64   `json:"completed"`
	Lost      int64   `json:"lost"`
	Failed    int64   `json:"failed"`
	ElapsedS  float64 `json:"elapsed_s"`
	JobsPerS  float64 `json:"jobs_per_s"`
	E2EP50MS  float64 `json:"e2e_p50_ms"`
	E2EP99MS  float64 `json:"e2e_p99_ms"`
	// Violations counts jobs called before the previous job of their key
	// ended (target 0); Called how many jobs the simulator saw.
	Violations int    `json:"order_violations"`
	Called     int    `json:"called"`
	Sample     string `json:"first_violation,omitempty"`
	// VsE2E is jobs_per_s / broker.e2e_jobs_per_s of the same run (target
	// >= 0.7); 0 when the e2e phase did not run.
	VsE2E float64 `json:"vs_e2e"`
	// Writes are the JetStream writes from the first submit until every
	// job ended (counted as for the e2e phase, see Writes), and
	// WritesPerJob their number per accepted job.
	Writes       Writes  `json:"js_writes"`
	WritesPerJob float64 `json:"js_writes_per_job"`
	// CPU is how busy the machine was over the same span, and CPUMSPerJob
	// this process's CPU time per accepted job, in milliseconds.
	CPU         *CPUUsage `json:"cpu,omitempty"`
	CPUMSPerJob float64   `json:"cpu_ms_per_job,omitempty"`
}

// runOrdered runs the ordered phase on a fresh system.
func runOrdered(ctx context.Context, cfg Config, dir string, payload []byte) (*Ordered, error) {
	out := &Ordered{Keys: cfg.OrderedKeys, PerKey: cfg.OrderedPerKey}
	sys, err := startSystem(ctx, cfg, dir, false)
	if err != nil {
		return nil, err
	}
	defer sys.stop()
	client := newHTTPClient(cfg.Concurrency)
	defer client.CloseIdleConnections()
	if cfg.CPUProfile != nil && !cfg.runs(PhaseE2E) {
		// The profile is the e2e phase's; without it, this phase's.
		if err := pprof.StartCPUProfile(cfg.CPUProfile); err != nil {
			return nil, fmt.Errorf("bench: cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}

	before, err := takeSnapshot(ctx, sys.b.Resources.JS, natsx.StreamJobs)
	if err != nil {
		return nil, err
	}
	cpu0 := sampleCPU()

	seqs := make(map[string][]string, cfg.OrderedKeys)
	var mu sync.Mutex
	var accepted, failed atomic.Int64
	var firstErr atomic.Value
	keysOf := func(w int) []string {
		var ks []string
		for k := w; k < cfg.OrderedKeys; k += cfg.Concurrency {
			ks = append(ks, "key-"+strconv.Itoa(k))
		}
		return ks
	}
	start := time.Now()
	var wg sync.WaitGroup
	for w := range cfg.Concurrency {
		wg.Go(func() {
			ks := keysOf(w)
			for n := 0; n < cfg.OrderedPerKey && ctx.Err() == nil; n++ {
				for _, k := range ks {
					id, err := submitOrdered(ctx, client, sys, payload, k)
					if err != nil {
						failed.Add(1)
						firstErr.CompareAndSwap(nil, err.Error())
						continue
					}
					accepted.Add(1)
					mu.Lock()
					seqs[k] = append(seqs[k], id)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	out.Accepted = accepted.Load()
	if f := failed.Load(); f > 0 {
		logf(cfg.Progress, "bench: ordered  %d submits failed; first: %v", f, firstErr.Load())
	}
	logf(cfg.Progress, "bench: ordered  %d jobs accepted in %.2fs; waiting for them to finish", out.Accepted, time.Since(start).Seconds())
	if err := waitOrdered(ctx, cfg, sys, out.Accepted); err != nil {
		return nil, err
	}
	cpu1 := sampleCPU()
	if out.CPU = usageSince(cpu0, cpu1); out.CPU != nil && out.Accepted > 0 {
		out.CPUMSPerJob = round(float64(cpu1.self-cpu0.self)*1000/userHZ/float64(out.Accepted), 3)
	}
	after, err := takeSnapshot(ctx, sys.b.Resources.JS, natsx.StreamJobs)
	if err != nil {
		return nil, err
	}
	out.Writes = countWrites(before, after)
	out.WritesPerJob = perJob(out.Writes.Total, out.Accepted)
	ids := make(map[string]struct{}, out.Accepted)
	for _, s := range seqs {
		for _, id := range s {
			ids[id] = struct{}{}
		}
	}
	res := e2eResult{latency: NewHistogram()}
	last, err := scanRecords(ctx, sys.b.Resources.Records, ids, &res)
	if err != nil {
		return nil, err
	}
	out.Completed, out.Failed = res.completed, res.failed
	out.Lost = out.Accepted - res.completed
	if last.After(start) {
		out.ElapsedS = round(last.Sub(start).Seconds(), 3)
		out.JobsPerS = round(float64(res.completed)/last.Sub(start).Seconds(), 1)
	}
	out.E2EP50MS, out.E2EP99MS = ms(res.latency.Percentile(0.50)), ms(res.latency.Percentile(0.99))
	v, called := cpisim.OrderViolations(sys.sim.Spans(benchIFlow), seqs)
	out.Violations, out.Called = len(v), called
	if len(v) > 0 {
		out.Sample = v[0]
	}
	return out, nil
}

// submitOrdered posts one job with key as its Ordering-Key and returns its
// ID once it was accepted (202).
func submitOrdered(ctx context.Context, client *http.Client, sys *system, payload []byte, key string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sys.submit, bytes.NewReader(payload))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("Authorization", "Bearer "+sys.token)
	req.Header.Set("Ordering-Key", key)
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusAccepted {
		return "", fmt.Errorf("status %d", resp.StatusCode)
	}
	return strings.TrimPrefix(resp.Header.Get("Location"), "/v1/jobs/"), nil
}

// waitOrdered waits until the simulator saw every accepted job and the
// JOBS and SEQ streams are empty (every job acknowledged, every sequence
// ended), or the drain deadline passes (the rest is counted lost).
func waitOrdered(ctx context.Context, cfg Config, sys *system, accepted int64) error {
	deadline := time.Now().Add(cfg.DrainTimeout)
	next := time.Now().Add(cfg.ProgressInterval)
	for {
		calls := int64(sys.sim.CallCount(benchIFlow))
		if calls >= accepted {
			jobs, err1 := sys.b.Resources.Jobs.Info(ctx)
			seq, err2 := sys.b.Resources.Seq.Info(ctx)
			if err1 == nil && err2 == nil && jobs.State.Msgs == 0 && seq.State.Msgs == 0 {
				return nil
			}
		}
		now := time.Now()
		if now.After(deadline) {
			logf(cfg.Progress, "bench: ordered  drain deadline (%s) passed; counting unfinished jobs lost", cfg.DrainTimeout)
			return nil
		}
		if now.After(next) {
			logf(cfg.Progress, "bench: ordered  %d of %d jobs called", calls, accepted)
			next = now.Add(cfg.ProgressInterval)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(drainPoll):
		}
	}
}

// orderedTargets are the ordered phase's goals (issue 14): jobs/s at least
// 0.7× the e2e phase's, zero order violations, zero lost.
func orderedTargets(o *Ordered, ran func(Phase) bool) []Target {
	if o == nil {
		return nil
	}
	ts := []Target{
		{Name: "ordered jobs/s / e2e jobs/s", Value: o.VsE2E, Op: ">=", Bound: 0.7, Measured: ran(PhaseE2E) && o.VsE2E > 0},
		{Name: "ordered: order violations", Value: float64(o.Violations), Op: "==", Bound: 0, Measured: true},
		{Name: "ordered: lost jobs", Value: float64(o.Lost), Op: "==", Bound: 0, Measured: true},
	}
	for i := range ts {
		t := &ts[i]
		if t.Measured {
			t.Met = t.Op == ">=" && t.Value >= t.Bound || t.Op == "==" && t.Value == t.Bound
		}
	}
	return ts
}

// writeOrdered adds the ordered phase to the text report.
func writeOrdered(b *strings.Builder, o *Ordered) {
	if o == nil {
		return
	}
	fmt.Fprintf(b, "\nordered: %d keys × %d jobs (Ordering-Key), %d accepted, %d completed in %.2fs: %.0f jobs/s = %.2f× e2e; e2e p50 %.1f ms, p99 %.1f ms\n",
		o.Keys, o.PerKey, o.Accepted, o.Completed, o.ElapsedS, o.JobsPerS, o.VsE2E, o.E2EP50MS, o.E2EP99MS)
	fmt.Fprintf(b, "  order per key from the simulator's call log: %d violations (%d jobs called), lost %d, failed %d\n", o.Violations, o.Called, o.Lost, o.Failed)
	fmt.Fprintf(b, "  JetStream writes per job: %.2f (%d stored, %d acks); CPU per job %.3f ms\n", o.WritesPerJob, o.Writes.Total-o.Writes.Acks, o.Writes.Acks, o.CPUMSPerJob)
	if o.Sample != "" {
		fmt.Fprintf(b, "  first violation: %s\n", o.Sample)
	}
}
