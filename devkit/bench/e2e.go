package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/cpibroker/cpibroker/internal/natsx"
	"github.com/cpibroker/cpibroker/jobs"
	cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
)

// drainPoll is how often the JOBS stream is looked at while draining.
const drainPoll = 100 * time.Millisecond

// e2eResult is what the e2e phase measured.
type e2eResult struct {
	submit    loadResult
	completed int64 // terminal jobs among the accepted
	succeeded int64
	failed    int64
	lost      int64         // accepted jobs not terminal at the end
	elapsed   time.Duration // first submit → last completed_at
	drain     time.Duration // end of submits → JOBS empty (or deadline)
	latency   *Histogram    // created_at → completed_at
	cpu       *CPUUsage     // submits and drain
	writes    Writes
	api       APICalls
}

// jobsPerSecond is completed jobs over first submit → last completion.
func (r e2eResult) jobsPerSecond() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.completed) / r.elapsed.Seconds()
}

// runE2E submits with dispatching on for the duration, then waits until
// the JOBS stream is empty: the broker acks a job message only after the
// job's terminal record is written (or its retry is scheduled, which puts
// a schedule message back in the stream), so an empty work-queue stream
// means every accepted job is terminal. This is watched through the
// stream's state, never by HTTP polling. Records are then read once (a KV
// watch of the latest values) for the latencies and outcomes.
func runE2E(ctx context.Context, cfg Config, dir string, payload []byte) (e2eResult, error) {
	out := e2eResult{latency: NewHistogram()}
	sys, err := startSystem(ctx, cfg, dir, false)
	if err != nil {
		return out, err
	}
	defer sys.stop()
	if cfg.IdleConsumers > 0 {
		if err := sys.addIdleConsumers(ctx, cfg); err != nil {
			return out, err
		}
	}
	res := sys.b.Resources

	// Snapshot first, then the API reading: the snapshot's own requests
	// stay outside the measured window.
	before, err := takeSnapshot(ctx, res.JS, natsx.StreamJobs)
	if err != nil {
		return out, err
	}
	api0, err := apiTotal(ctx, res.JS)
	if err != nil {
		return out, err
	}
	own := int64(1) // the reading above, counted once it answered

	profiling := false
	if cfg.CPUProfile != nil {
		if err := pprof.StartCPUProfile(cfg.CPUProfile); err != nil {
			return out, fmt.Errorf("bench: cpu profile: %w", err)
		}
		profiling = true
	}
	stopProfile := func() {
		if profiling {
			pprof.StopCPUProfile()
			profiling = false
		}
	}
	defer stopProfile()

	ids := make([][]string, cfg.Concurrency) // per worker: no lock
	t := sys.target(payload)
	t.onAccepted = func(w int, resp *http.Response) {
		ids[w] = append(ids[w], strings.TrimPrefix(resp.Header.Get("Location"), "/v1/jobs/"))
	}
	client := newHTTPClient(cfg.Concurrency)
	defer client.CloseIdleConnections()
	cpu0 := sampleCPU()
	out.submit = runLoad(ctx, client, t, cfg.Concurrency, cfg.Duration, cfg.ProgressInterval, loadProgress(cfg.Progress, PhaseE2E, cfg.Duration))
	if ctx.Err() != nil {
		return out, ctx.Err()
	}

	polls, drained, err := waitDrained(ctx, cfg, res.Jobs, out.submit.accepted)
	own += polls
	out.drain = time.Since(out.submit.end)
	out.cpu = usageSince(cpu0, sampleCPU())
	stopProfile()
	if err != nil {
		return out, err
	}
	if !drained {
		logf(cfg.Progress, "bench: e2e      drain deadline (%s) passed with jobs left in JOBS; counting them lost", cfg.DrainTimeout)
	}

	// The second reading first, then the snapshot (outside the window).
	api1, err := apiTotal(ctx, res.JS)
	if err != nil {
		return out, err
	}
	after, err := takeSnapshot(ctx, res.JS, natsx.StreamJobs)
	if err != nil {
		return out, err
	}
	out.writes = countWrites(before, after)
	out.api = countAPICalls(api0, api1, own)

	accepted := make(map[string]struct{}, out.submit.accepted)
	for _, ws := range ids {
		for _, id := range ws {
			accepted[id] = struct{}{}
		}
	}
	last, err := scanRecords(ctx, res.Records, accepted, &out)
	if err != nil {
		return out, err
	}
	out.lost = out.submit.accepted - out.completed
	if last.After(out.submit.start) {
		out.elapsed = last.Sub(out.submit.start)
	}
	return out, nil
}

// waitDrained polls the JOBS stream's state until it holds no message or
// the drain deadline passes. It returns how many API requests it made.
func waitDrained(ctx context.Context, cfg Config, st jetstream.Stream, accepted int64) (int64, bool, error) {
	start := time.Now()
	deadline := start.Add(cfg.DrainTimeout)
	nextReport := start.Add(cfg.ProgressInterval)
	var polls int64
	for {
		polls++
		info, err := st.Info(ctx)
		switch {
		case err == nil && info.State.Msgs == 0:
			return polls, true, nil
		case err != nil && ctx.Err() != nil:
			return polls, false, ctx.Err()
		}
		now := time.Now()
		if now.After(deadline) {
			return polls, false, nil
		}
		if now.After(nextReport) && info != nil {
			logf(cfg.Progress, "bench: e2e      draining %5.1fs: %d of %d accepted jobs not finished",
				now.Sub(start).Seconds(), info.State.Msgs, accepted)
			nextReport = now.Add(cfg.ProgressInterval)
		}
		select {
		case <-ctx.Done():
			return polls, false, ctx.Err()
		case <-time.After(drainPoll):
		}
	}
}

// scanRecords reads the latest record of every job and tallies the
// accepted ones into out; it returns the last completed_at.
func scanRecords(ctx context.Context, kv jetstream.KeyValue, accepted map[string]struct{}, out *e2eResult) (time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	w, err := kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return time.Time{}, fmt.Errorf("bench: watch records: %w", err)
	}
	defer func() { _ = w.Stop() }()
	var last time.Time
	for e := range w.Updates() {
		if e == nil {
			return last, nil
		}
		if _, ok := accepted[e.Key()]; !ok {
			continue
		}
		rec := &cpibv1.JobRecord{}
		if err := proto.Unmarshal(e.Value(), rec); err != nil {
			return last, fmt.Errorf("bench: record %s: %w", e.Key(), err)
		}
		if !jobs.Terminal(rec.GetStatus()) {
			continue
		}
		out.completed++
		switch rec.GetStatus() {
		case cpibv1.JobStatus_JOB_STATUS_SUCCEEDED:
			out.succeeded++
		case cpibv1.JobStatus_JOB_STATUS_FAILED:
			out.failed++
		}
		done := rec.GetCompletedAt().AsTime()
		out.latency.Record(done.Sub(rec.GetCreatedAt().AsTime()))
		if done.After(last) {
			last = done
		}
	}
	if err := ctx.Err(); err != nil {
		return last, fmt.Errorf("bench: reading records: %w", err)
	}
	return last, errors.New("bench: record watch ended early")
}
