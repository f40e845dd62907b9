package bench

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
)

// WriteText prints the report as tables for people: the phases, the e2e
// figures with the formulas behind the JetStream costs, and the targets
// of DESIGN 10 marked met or missed.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	m, p := r.Machine, r.Params
	fmt.Fprintf(&b, "cpibroker bench: %d CPUs, %s, %s, NATS %s, fsync %s; payload %d B, concurrency %d, %gs per phase, CPI latency %g ms",
		m.CPUs, m.Go, m.OS, m.NATS, m.Fsync, p.PayloadBytes, p.Concurrency, p.DurationS, p.CPILatencyMS)
	if m.IdleConsumers > 0 {
		fmt.Fprintf(&b, ", %d idle consumers", m.IdleConsumers)
	}
	b.WriteString("\n\n")

	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "phase\taccepted\treq/s\tp50 ms\tp90 ms\tp99 ms\tmax ms\tnon-2xx\terrors\tcores (this/other)")
	row := func(name string, s *LoadStats) {
		if s == nil {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\t-\t-\t-\t-\n", name)
			return
		}
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.3f\t%.3f\t%.3f\t%.3f\t%s\t%d\t%s\n",
			name, s.Accepted, s.RPS, s.P50MS, s.P90MS, s.P99MS, s.MaxMS, non2xx(s.Non2xx), s.TransportErrors, cores(s.CPU))
	}
	row("baseline (Gin + 1 publish)", r.Baseline.Load)
	row("broker accept (paused)", r.Broker.Accept)
	var e2eSubmit *LoadStats
	if r.Broker.E2E != nil {
		e2eSubmit = &r.Broker.E2E.Submit
	}
	row("broker e2e submits", e2eSubmit)
	if err := tw.Flush(); err != nil {
		return err
	}

	if e := r.Broker.E2E; e != nil {
		jobs := e.Submit.Accepted
		fmt.Fprintf(&b, "\nend to end: %d of %d accepted jobs completed (%d succeeded, %d failed), lost %d\n",
			e.Completed, jobs, e.Succeeded, r.Broker.Failed, r.Broker.Lost)
		fmt.Fprintf(&b, "  %.1f jobs/s = completed / (first submit → last completed_at = %.3fs); drain after submits %.3fs\n",
			r.Broker.E2EJobsPerS, e.ElapsedS, e.DrainS)
		fmt.Fprintf(&b, "  job latency created_at → completed_at: p50 %.3f ms, p99 %.3f ms, max %.3f ms\n",
			r.Broker.E2EP50MS, r.Broker.E2EP99MS, e.E2EMaxMS)
		fmt.Fprintf(&b, "  cores busy from first submit to end of drain (this process/other): %s\n", cores(e.CPU))
		fmt.Fprintf(&b, "\nJetStream writes per job: %.3f = (Σ stream last-seq deltas %d + JOBS acks %d) / %d accepted jobs\n",
			r.Broker.JSWritesPerJob, e.Writes.Total-e.Writes.Acks, e.Writes.Acks, jobs)
		fmt.Fprintf(&b, "  acks = Σ over JOBS consumers of Δ(delivered consumer seq − num_ack_pending)\n")
		for _, name := range slices.Sorted(maps.Keys(e.Writes.Streams)) {
			fmt.Fprintf(&b, "  %-22s %10d  %.3f/job\n", name, e.Writes.Streams[name], perJob(e.Writes.Streams[name], jobs))
		}
		fmt.Fprintf(&b, "  %-22s %10d  %.3f/job\n", "acks (JOBS consumers)", e.Writes.Acks, perJob(e.Writes.Acks, jobs))
		if len(e.Writes.ConsumersGone) > 0 {
			fmt.Fprintf(&b, "  consumers deleted during the phase (their acks are missing): %s\n", strings.Join(e.Writes.ConsumersGone, ", "))
		}
		fmt.Fprintf(&b, "JetStream API calls per job: %.3f = (API.Total delta %d − %d own requests) / %d accepted jobs\n",
			r.Broker.JSAPICallsPerJob, e.APICalls.CounterDelta, e.APICalls.Own, jobs)
		fmt.Fprintf(&b, "  own = the first AccountInfo reading + the JOBS stream-info polls of the drain\n")
	}

	if f := r.Fairness; f != nil {
		fmt.Fprintf(&b, "\nfairness: client B's queue wait (created → completed), %d jobs alone, %d under A's flood of %d queued jobs (%d still queued at the end); flow concurrency %d (0: unlimited)\n",
			f.BJobsAlone, f.BJobsFlood, f.Flood, f.ALeftQueued, f.FlowConcurrency)
		fmt.Fprintf(&b, "  alone:  p50 %.3f ms, p99 %.3f ms\n  flood:  p50 %.3f ms, p99 %.3f ms\n", f.BP50MSAlone, f.BP99MSAlone, f.BP50MSFlood, f.BP99MSFlood)
		if f.BLost > 0 {
			fmt.Fprintf(&b, "  B's jobs not terminal in time: %d\n", f.BLost)
		}
	}
	writeOrdered(&b, r.Ordered)
	if r.Params.NonBindingLimits {
		b.WriteString("\nlimits: the bench client has a quota and the bench flow a rate and concurrency that never bind\n")
	}

	fmt.Fprintf(&b, "\ntargets (DESIGN 10, ratios to this run's baseline):\n")
	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, t := range r.Targets {
		verdict := "not measured"
		switch {
		case t.Measured && t.Met:
			verdict = "met"
		case t.Measured:
			verdict = "MISSED"
		}
		value := fmt.Sprintf("%g", t.Value)
		if !t.Measured {
			value = "-"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s %g\t%s\n", t.Name, value, t.Op, t.Bound, verdict)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// cores renders CPU usage as "1.85/0.02".
func cores(u *CPUUsage) string {
	if u == nil {
		return "-"
	}
	return fmt.Sprintf("%.2f/%.2f", u.Process, u.Other)
}

func non2xx(m map[string]int64) string {
	if len(m) == 0 {
		return "0"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s×%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}
