package bench

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestComputeRatios(t *testing.T) {
	r := computeRatios(Baseline{AcceptRPS: 10000, P99MS: 4}, Broker{AcceptRPS: 8500, P99MS: 6, E2EJobsPerS: 3333})
	if r.Accept != 0.85 || r.E2EVsBaselineAccept != 0.333 || r.P99 != 1.5 {
		t.Fatalf("ratios %+v", r)
	}
	// A side that was not measured gives 0, never Inf or NaN.
	r = computeRatios(Baseline{}, Broker{AcceptRPS: 8500, P99MS: 6})
	if r != (Ratios{}) {
		t.Fatalf("ratios without baseline %+v", r)
	}
	r = computeRatios(Baseline{AcceptRPS: 10000, P99MS: 4}, Broker{})
	if r != (Ratios{}) {
		t.Fatalf("ratios without broker %+v", r)
	}
}

func TestEvaluateTargets(t *testing.T) {
	all := func(Phase) bool { return true }
	ts := evaluateTargets(Ratios{Accept: 0.8, E2EVsBaselineAccept: 0.29, P99: 2.01}, Broker{Lost: 0}, all)
	want := []bool{true, false, false, true}
	for i, tc := range ts {
		if !tc.Measured || tc.Met != want[i] {
			t.Errorf("Test %d: %+v, want met=%v", i, tc, want[i])
		}
	}
	ts = evaluateTargets(Ratios{}, Broker{Lost: 3}, func(p Phase) bool { return p == PhaseE2E })
	for i, tc := range ts[:3] {
		if tc.Measured || tc.Met {
			t.Errorf("Test %d: without baseline %+v must be unmeasured", i, tc)
		}
	}
	if lost := ts[3]; !lost.Measured || lost.Met || lost.Value != 3 {
		t.Errorf("lost target %+v", lost)
	}
}

func TestLoadStats(t *testing.T) {
	h := NewHistogram()
	for i := 1; i <= 100; i++ {
		h.Record(time.Duration(i) * 10 * time.Microsecond)
	}
	s := loadStats(loadResult{
		sent: 105, accepted: 100, byStatus: map[int]int64{503: 4}, transport: 1, firstError: "boom",
		latency: h, elapsed: 2 * time.Second,
	})
	if s.RPS != 50 || s.P50MS != 0.5 || s.P99MS != 0.99 || s.MaxMS != 1 || s.Non2xx["503"] != 4 || s.TransportErrors != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestWriteText_marks_targets(t *testing.T) {
	br := Broker{AcceptRPS: 900, P50MS: 1, P99MS: 3, E2EJobsPerS: 200, JSWritesPerJob: 5,
		Accept: &LoadStats{Accepted: 9000, RPS: 900},
		E2E: &E2EStats{Submit: LoadStats{Accepted: 100}, Completed: 100, Succeeded: 100,
			Writes:   Writes{Streams: map[string]int64{"JOBS": 100, "KV_cpib-jobs": 300}, Acks: 100, Total: 500},
			APICalls: APICalls{CounterDelta: 5, Own: 2, Total: 3}}}
	b := Baseline{AcceptRPS: 1000, P99MS: 2, Load: &LoadStats{Accepted: 10000, RPS: 1000}}
	rep := &Report{Baseline: b, Broker: br, Ratios: computeRatios(b, br)}
	rep.Targets = evaluateTargets(rep.Ratios, br, func(Phase) bool { return true })
	var out bytes.Buffer
	if err := rep.WriteText(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"met", "MISSED", "5.000 = (Σ stream last-seq deltas 400 + JOBS acks 100) / 100", "KV_cpib-jobs", "(API.Total delta 5 − 2 own requests)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, out.String())
		}
	}
}

func TestParseCPU(t *testing.T) {
	busy, err := parseProcStat([]byte("cpu  100 5 50 1000 20 3 2 1 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n"))
	if err != nil || busy != 100+5+50+3+2+1 {
		t.Fatalf("busy %d %v", busy, err)
	}
	self, err := parseSelfStat([]byte("42 (a b) c) S 1 42 42 0 -1 4194560 100 0 0 0 77 23 0 0 20 0 9 0 1 2 3"))
	if err != nil || self != 100 {
		t.Fatalf("self %d %v", self, err)
	}
	if _, err := parseProcStat([]byte("intr 1 2 3")); err == nil {
		t.Fatal("garbage accepted")
	}
	a := cpuSample{at: time.Unix(0, 0), machineBusy: 1000, self: 400, ok: true}
	b := cpuSample{at: time.Unix(2, 0), machineBusy: 1400, self: 750, ok: true}
	if u := usageSince(a, b); u == nil || u.Process != 1.75 || u.Other != 0.25 {
		t.Fatalf("usage %+v", u)
	}
	if usageSince(a, cpuSample{}) != nil {
		t.Fatal("unknown sample must give nil")
	}
}
