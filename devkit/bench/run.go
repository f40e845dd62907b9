package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"time"
)

// Run validates cfg, runs its phases in order (baseline, accept, e2e), each
// on a fresh embedded JetStream server in its own directory, and returns
// the report with the ratios and targets of DESIGN 10.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	root := cfg.DataDir
	if root == "" {
		tmp, err := os.MkdirTemp("", "cpibench-")
		if err != nil {
			return nil, fmt.Errorf("bench: data dir: %w", err)
		}
		defer os.RemoveAll(tmp)
		root = tmp
	} else if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("bench: data dir: %w", err)
	}
	rep := &Report{
		Machine: Machine{CPUs: runtime.NumCPU(), Go: runtime.Version(), Fsync: cfg.Fsync, OS: runtime.GOOS + "/" + runtime.GOARCH,
			NATS: "embedded", IdleConsumers: cfg.IdleConsumers},
		Params: Params{
			PayloadBytes: cfg.PayloadBytes, Concurrency: cfg.Concurrency,
			DurationS: round(cfg.Duration.Seconds(), 3), CPILatencyMS: ms(cfg.CPILatency),
			NonBindingLimits: cfg.NonBindingLimits,
		},
	}
	for _, p := range cfg.Phases {
		rep.Params.Phases = append(rep.Params.Phases, string(p))
	}
	payload := payloadOf(cfg.PayloadBytes)
	if cfg.NATSURL != "" {
		rep.Machine.NATS = fmt.Sprintf("external R%d", cfg.Replicas)
		rep.Machine.Fsync = "the cluster's"
	}
	phaseDir := func(p Phase) (string, error) {
		d, err := os.MkdirTemp(root, string(p)+"-")
		if err != nil {
			return "", fmt.Errorf("bench: %s data dir: %w", p, err)
		}
		if err := resetExternal(ctx, cfg); err != nil {
			return "", err
		}
		return d, nil
	}

	if cfg.runs(PhaseBaseline) {
		dir, err := phaseDir(PhaseBaseline)
		if err != nil {
			return nil, err
		}
		logf(cfg.Progress, "bench: baseline starting: bare Gin + 1 JetStream publish, %d workers, %s", cfg.Concurrency, cfg.Duration)
		res, err := runBaseline(ctx, cfg, dir, payload)
		if err != nil {
			return nil, fmt.Errorf("bench: baseline: %w", err)
		}
		ls := loadStats(res)
		rep.Baseline = Baseline{AcceptRPS: ls.RPS, P50MS: ls.P50MS, P99MS: ls.P99MS, Load: ls}
		logf(cfg.Progress, "bench: baseline done: %.0f/s, p50 %.3f ms, p99 %.3f ms", ls.RPS, ls.P50MS, ls.P99MS)
	}
	if cfg.runs(PhaseAccept) {
		dir, err := phaseDir(PhaseAccept)
		if err != nil {
			return nil, err
		}
		logf(cfg.Progress, "bench: accept starting: broker, dispatching paused, %d workers, %s", cfg.Concurrency, cfg.Duration)
		res, err := runAccept(ctx, cfg, dir, payload)
		if err != nil {
			return nil, fmt.Errorf("bench: accept: %w", err)
		}
		ls := loadStats(res)
		rep.Broker.AcceptRPS, rep.Broker.P50MS, rep.Broker.P99MS, rep.Broker.Accept = ls.RPS, ls.P50MS, ls.P99MS, ls
		logf(cfg.Progress, "bench: accept done: %.0f/s, p50 %.3f ms, p99 %.3f ms", ls.RPS, ls.P50MS, ls.P99MS)
	}
	if cfg.runs(PhaseE2E) {
		dir, err := phaseDir(PhaseE2E)
		if err != nil {
			return nil, err
		}
		logf(cfg.Progress, "bench: e2e starting: broker, dispatching on, %d workers, %s, CPI latency %s", cfg.Concurrency, cfg.Duration, cfg.CPILatency)
		res, err := runE2E(ctx, cfg, dir, payload)
		if err != nil {
			return nil, fmt.Errorf("bench: e2e: %w", err)
		}
		fillE2E(&rep.Broker, res)
		logf(cfg.Progress, "bench: e2e done: %d jobs in %.2fs, %.0f jobs/s, lost %d, failed %d",
			res.completed, res.elapsed.Seconds(), rep.Broker.E2EJobsPerS, res.lost, res.failed)
	}
	if cfg.runs(PhaseOrdered) {
		dir, err := phaseDir(PhaseOrdered)
		if err != nil {
			return nil, err
		}
		logf(cfg.Progress, "bench: ordered starting: %d keys × %d jobs, %d workers, CPI latency %s", cfg.OrderedKeys, cfg.OrderedPerKey, cfg.Concurrency, cfg.CPILatency)
		if rep.Ordered, err = runOrdered(ctx, cfg, dir, payload); err != nil {
			return nil, fmt.Errorf("bench: ordered: %w", err)
		}
		rep.Ordered.VsE2E = ratio(rep.Ordered.JobsPerS, rep.Broker.E2EJobsPerS)
		logf(cfg.Progress, "bench: ordered done: %d jobs in %.2fs, %.0f jobs/s (%.2fx e2e), %d order violations, lost %d",
			rep.Ordered.Completed, rep.Ordered.ElapsedS, rep.Ordered.JobsPerS, rep.Ordered.VsE2E, rep.Ordered.Violations, rep.Ordered.Lost)
	}
	if cfg.runs(PhaseFairness) {
		dir, err := phaseDir(PhaseFairness)
		if err != nil {
			return nil, err
		}
		logf(cfg.Progress, "bench: fairness starting: A floods %d jobs, B submits %.0f/s", cfg.Flood, cfg.FairnessRate)
		res, err := runFairness(ctx, cfg, dir, payload)
		if err != nil {
			return nil, fmt.Errorf("bench: fairness: %w", err)
		}
		rep.Fairness = fairnessReport(res)
	}
	rep.Ratios = computeRatios(rep.Baseline, rep.Broker)
	rep.Targets = evaluateTargets(rep.Ratios, rep.Broker, cfg.runs)
	rep.Targets = append(rep.Targets, orderedTargets(rep.Ordered, cfg.runs)...)
	return rep, nil
}

// runAccept measures authenticated submits with dispatching paused.
func runAccept(ctx context.Context, cfg Config, dir string, payload []byte) (loadResult, error) {
	sys, err := startSystem(ctx, cfg, dir, true)
	if err != nil {
		return loadResult{}, err
	}
	defer sys.stop()
	client := newHTTPClient(cfg.Concurrency)
	defer client.CloseIdleConnections()
	if cfg.CPUProfile != nil && !cfg.runs(PhaseE2E) && !cfg.runs(PhaseOrdered) {
		// The profile is the e2e (or ordered) phase's; without them, this phase's.
		if err := pprof.StartCPUProfile(cfg.CPUProfile); err != nil {
			return loadResult{}, fmt.Errorf("bench: cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	res := runLoad(ctx, client, sys.target(payload), cfg.Concurrency, cfg.Duration, cfg.ProgressInterval, loadProgress(cfg.Progress, PhaseAccept, cfg.Duration))
	if n := sys.sim.CallCount(benchIFlow); n > 0 {
		logf(cfg.Progress, "bench: accept WARNING: %d CPI calls while dispatching was paused", n)
	}
	return res, ctx.Err()
}

// fillE2E copies the e2e phase's figures into the report.
func fillE2E(br *Broker, r e2eResult) {
	jobs := r.submit.accepted
	br.E2EJobsPerS = round(r.jobsPerSecond(), 1)
	br.E2EP50MS, br.E2EP99MS = ms(r.latency.Percentile(0.50)), ms(r.latency.Percentile(0.99))
	br.Lost, br.Failed = r.lost, r.failed
	br.JSWritesPerJob = perJob(r.writes.Total, jobs)
	br.JSAPICallsPerJob = perJob(r.api.Total, jobs)
	br.E2E = &E2EStats{
		Submit: *loadStats(r.submit), Completed: r.completed, Succeeded: r.succeeded,
		ElapsedS: round(r.elapsed.Seconds(), 3), DrainS: round(r.drain.Seconds(), 3),
		E2EMaxMS: ms(r.latency.Max()), CPU: r.cpu, Writes: r.writes, APICalls: r.api,
	}
}

// loadProgress returns the progress callback of a load run.
func loadProgress(w io.Writer, p Phase, d time.Duration) func(time.Duration, int64, int64) {
	return func(el time.Duration, accepted, failed int64) {
		logf(w, "bench: %-8s %5.1fs/%s: %d accepted (%.0f/s), %d failed",
			p, el.Seconds(), d, accepted, float64(accepted)/el.Seconds(), failed)
	}
}

// logf writes one progress line.
func logf(w io.Writer, format string, args ...any) {
	fmt.Fprintf(w, format+"\n", args...)
}
