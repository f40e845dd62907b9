package bench

// Report is the outcome of a run; its JSON is the shape of DESIGN 10 plus
// details. Phases that did not run leave their numbers at zero.
type Report struct {
	Machine  Machine   `json:"machine"`
	Params   Params    `json:"params"`
	Baseline Baseline  `json:"baseline"`
	Broker   Broker    `json:"broker"`
	Ratios   Ratios    `json:"ratios"`
	Targets  []Target  `json:"targets"`
	Fairness *Fairness `json:"fairness,omitempty"` // only when the fairness phase ran
	Ordered  *Ordered  `json:"ordered,omitempty"`  // only when the ordered phase ran
}

// Machine describes where the run happened.
type Machine struct {
	CPUs  int    `json:"cpus"`  // runtime.NumCPU
	Go    string `json:"go"`    // runtime.Version
	Fsync string `json:"fsync"` // interval or always
	OS    string `json:"os"`    // GOOS/GOARCH
	// NATS is "embedded" or "external R<replicas>" (--nats-url).
	NATS string `json:"nats"`
	// IdleConsumers is --idle-consumers.
	IdleConsumers int `json:"idle_consumers,omitempty"`
}

// Params are the run's settings.
type Params struct {
	PayloadBytes int      `json:"payload_bytes"`
	Concurrency  int      `json:"concurrency"`
	DurationS    float64  `json:"duration_s"`
	CPILatencyMS float64  `json:"cpi_latency_ms"`
	Phases       []string `json:"phases"`
	// NonBindingLimits: quotas and flow limits were set but never bind.
	NonBindingLimits bool `json:"non_binding_limits,omitempty"`
}

// Baseline is the bare Gin + one publish reference.
type Baseline struct {
	AcceptRPS float64    `json:"accept_rps"`
	P50MS     float64    `json:"p50_ms"`
	P99MS     float64    `json:"p99_ms"`
	Load      *LoadStats `json:"load,omitempty"`
}

// Broker is what the broker phases measured.
type Broker struct {
	// accept phase (dispatching paused)
	AcceptRPS float64 `json:"accept_rps"`
	P50MS     float64 `json:"p50_ms"`
	P99MS     float64 `json:"p99_ms"`
	// e2e phase
	E2EJobsPerS      float64 `json:"e2e_jobs_per_s"`
	E2EP50MS         float64 `json:"e2e_p50_ms"`
	E2EP99MS         float64 `json:"e2e_p99_ms"`
	Lost             int64   `json:"lost"`
	Failed           int64   `json:"failed"`
	JSWritesPerJob   float64 `json:"js_writes_per_job"`
	JSAPICallsPerJob float64 `json:"js_api_calls_per_job"`
	// Details.
	Accept *LoadStats `json:"accept,omitempty"`
	E2E    *E2EStats  `json:"e2e,omitempty"`
}

// LoadStats details one load run.
type LoadStats struct {
	Requests        int64            `json:"requests"`
	Accepted        int64            `json:"accepted"`
	Non2xx          map[string]int64 `json:"non_2xx,omitempty"`
	TransportErrors int64            `json:"transport_errors,omitempty"`
	FirstError      string           `json:"first_error,omitempty"`
	ElapsedS        float64          `json:"elapsed_s"`
	RPS             float64          `json:"rps"`
	P50MS           float64          `json:"p50_ms"`
	P90MS           float64          `json:"p90_ms"`
	P99MS           float64          `json:"p99_ms"`
	MaxMS           float64          `json:"max_ms"`
	CPU             *CPUUsage        `json:"cpu,omitempty"`
}

// E2EStats details the e2e phase.
type E2EStats struct {
	// Submit is the load run (dispatching on).
	Submit LoadStats `json:"submit"`
	// Completed jobs are terminal (Succeeded + Failed + canceled).
	Completed int64 `json:"completed"`
	Succeeded int64 `json:"succeeded"`
	// ElapsedS is first submit → last completed_at.
	ElapsedS float64 `json:"elapsed_s"`
	// DrainS is end of submits → the JOBS stream empty (or the deadline).
	DrainS float64 `json:"drain_s"`
	// E2EMaxMS is the longest created_at → completed_at.
	E2EMaxMS float64 `json:"e2e_max_ms"`
	// CPU is the machine's use from the first submit to the end of the drain.
	CPU *CPUUsage `json:"cpu,omitempty"`
	// Writes and APICalls are the raw counts behind the per-job figures.
	Writes   Writes   `json:"js_writes"`
	APICalls APICalls `json:"js_api_calls"`
}

// Ratios are the broker's figures over the same run's baseline; 0 when a
// side was not measured.
type Ratios struct {
	// Accept is broker.accept_rps / baseline.accept_rps (target >= 0.8).
	Accept float64 `json:"accept"`
	// E2EVsBaselineAccept is broker.e2e_jobs_per_s / baseline.accept_rps
	// (target >= 0.3).
	E2EVsBaselineAccept float64 `json:"e2e_vs_baseline_accept"`
	// P99 is broker.p99_ms / baseline.p99_ms, accept latency (target <= 2).
	P99 float64 `json:"p99"`
}

// Fairness is the fairness phase of DESIGN 10: client B's queue wait
// (created_at → completed_at) at a low steady rate, alone and while client
// A's flood of Flood queued jobs drains.
type Fairness struct {
	BP50MSAlone float64 `json:"b_p50_ms_alone"`
	BP99MSAlone float64 `json:"b_p99_ms_alone"`
	BP50MSFlood float64 `json:"b_p50_ms_flood"`
	BP99MSFlood float64 `json:"b_p99_ms_flood"`
	// FlowConcurrency is the bench flow's policy.concurrency in the phase
	// (0: unlimited).
	FlowConcurrency int `json:"flow_concurrency"`
	// Flood is how many of A's jobs were accepted and queued.
	Flood int64 `json:"flood"`
	// BJobsAlone and BJobsFlood are B's measured jobs.
	BJobsAlone uint64 `json:"b_jobs_alone"`
	BJobsFlood uint64 `json:"b_jobs_flood"`
	// ALeftQueued is how many of A's jobs were still queued when B's last
	// job under the flood ended (above 0: B was measured under the flood).
	ALeftQueued uint64 `json:"a_left_queued"`
	// BLost counts B's jobs not terminal within the drain timeout.
	BLost int64 `json:"b_lost"`
}

// Target is one goal of DESIGN 10 and whether the run met it.
type Target struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	// Op and Bound state the goal: value Op Bound (">=", "<=", "==").
	Op    string  `json:"op"`
	Bound float64 `json:"bound"`
	// Measured is false when a phase it needs did not run.
	Measured bool `json:"measured"`
	Met      bool `json:"met"`
}

// computeRatios derives the ratios from the two sides.
func computeRatios(b Baseline, br Broker) Ratios {
	return Ratios{
		Accept:              ratio(br.AcceptRPS, b.AcceptRPS),
		E2EVsBaselineAccept: ratio(br.E2EJobsPerS, b.AcceptRPS),
		P99:                 ratio(br.P99MS, b.P99MS),
	}
}

func ratio(num, den float64) float64 {
	if num <= 0 || den <= 0 {
		return 0
	}
	return round(num/den, 3)
}

// evaluateTargets checks the targets of DESIGN 10 (2-core machine, ratios
// to the in-run baseline): accept >= 0.8x, e2e >= 0.3x, accept p99 <= 2x,
// zero lost.
func evaluateTargets(r Ratios, br Broker, ran func(Phase) bool) []Target {
	both := func(p Phase) bool { return ran(PhaseBaseline) && ran(p) }
	ts := []Target{
		{Name: "accept rps / baseline", Value: r.Accept, Op: ">=", Bound: 0.8, Measured: both(PhaseAccept)},
		{Name: "e2e jobs/s / baseline accept rps", Value: r.E2EVsBaselineAccept, Op: ">=", Bound: 0.3, Measured: both(PhaseE2E)},
		{Name: "accept p99 / baseline p99", Value: r.P99, Op: "<=", Bound: 2, Measured: both(PhaseAccept) && r.P99 > 0},
		{Name: "lost jobs", Value: float64(br.Lost), Op: "==", Bound: 0, Measured: ran(PhaseE2E)},
	}
	for i := range ts {
		t := &ts[i]
		if !t.Measured {
			continue
		}
		switch t.Op {
		case ">=":
			t.Met = t.Value >= t.Bound
		case "<=":
			t.Met = t.Value <= t.Bound
		default:
			t.Met = t.Value == t.Bound
		}
	}
	return ts
}

// loadStats summarizes a load run.
func loadStats(r loadResult) *LoadStats {
	return &LoadStats{
		Requests: r.sent, Accepted: r.accepted,
		Non2xx: statusCounts(r.byStatus), TransportErrors: r.transport, FirstError: r.firstError,
		ElapsedS: round(r.elapsed.Seconds(), 3), RPS: round(r.rps(), 1),
		P50MS: ms(r.latency.Percentile(0.50)), P90MS: ms(r.latency.Percentile(0.90)),
		P99MS: ms(r.latency.Percentile(0.99)), MaxMS: ms(r.latency.Max()),
		CPU: r.cpu,
	}
}
