package bench

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParsePhases(t *testing.T) {
	for i, tc := range []struct {
		in      string
		want    []Phase
		wantErr string
	}{
		{in: "baseline,accept,e2e", want: []Phase{PhaseBaseline, PhaseAccept, PhaseE2E}},
		{in: "e2e, baseline", want: []Phase{PhaseBaseline, PhaseE2E}},
		{in: "accept", want: []Phase{PhaseAccept}},
		{in: "fairness", want: []Phase{PhaseFairness}},
		{in: "", wantErr: "no phase"},
		{in: " , ", wantErr: "no phase"},
		{in: "accept,accept", wantErr: "twice"},
		{in: "latency", wantErr: `unknown phase "latency"`},
	} {
		got, err := ParsePhases(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Test %d: %q: error %v, want %q", i, tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("Test %d: %q: %v, %v; want %v", i, tc.in, got, err, tc.want)
		}
	}
}

func TestConfig_defaults(t *testing.T) {
	var c Config
	c.setDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Duration != 10*time.Second || c.Concurrency != 64 || c.PayloadBytes != 1024 || c.CPILatency != 0 ||
		c.Fsync != FsyncInterval || !slices.Equal(c.Phases, DefaultPhases()) || c.DrainTimeout != 70*time.Second {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestConfig_Validate_collects_every_error(t *testing.T) {
	c := Config{
		Duration: time.Millisecond, Concurrency: MaxConcurrency + 1, PayloadBytes: MaxPayload + 1,
		CPILatency: time.Hour, Fsync: "sometimes", Phases: []Phase{PhaseFairness, "x"}, Flood: -1, FairnessRate: 5000,
	}
	c.setDefaults()
	err := c.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"--duration", "--concurrency", "--payload", "--cpi-latency", "--fsync", "--flood", "--fairness-rate", `unknown phase "x"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestParseArgs(t *testing.T) {
	o, err := ParseArgs(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	c := o.Config
	if o.JSON || o.CPUProfile != "" || c.Duration != 10*time.Second || c.Concurrency != 64 || c.PayloadBytes != 1024 ||
		c.CPILatency != 0 || c.Fsync != FsyncInterval || c.DataDir != "" || !slices.Equal(c.Phases, DefaultPhases()) {
		t.Fatalf("defaults: %+v", o)
	}
	o, err = ParseArgs([]string{"--json", "--duration", "3s", "--concurrency", "8", "--payload", "10",
		"--cpi-latency", "20ms", "--phases", "e2e,accept", "--fsync", "always", "--data-dir", "/tmp/x", "--cpuprofile", "cpu.out"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	c = o.Config
	if !o.JSON || o.CPUProfile != "cpu.out" || c.Duration != 3*time.Second || c.Concurrency != 8 || c.PayloadBytes != 10 ||
		c.CPILatency != 20*time.Millisecond || c.Fsync != FsyncAlways || c.DataDir != "/tmp/x" ||
		!slices.Equal(c.Phases, []Phase{PhaseAccept, PhaseE2E}) {
		t.Fatalf("parsed: %+v", o)
	}
}

func TestParseArgs_errors(t *testing.T) {
	for i, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--payload", "0"}, "--payload must be"},
		{[]string{"--payload", "-5"}, "--payload must be"},
		{[]string{"--payload", "5000000"}, "--payload must be"},
		{[]string{"--concurrency", "0"}, "--concurrency must be"},
		{[]string{"--duration", "0s"}, "--duration must be"},
		{[]string{"--duration", "10ms"}, "--duration must be"},
		{[]string{"--fsync", "never"}, "--fsync must be"},
		{[]string{"--cpi-latency", "-1s"}, "--cpi-latency must be"},
		{[]string{"--flood", "-1"}, "--flood must be"},
		{[]string{"--fairness-rate", "-1"}, "--fairness-rate must be"},
		{[]string{"--phases", "warmup"}, `unknown phase "warmup"`},
		{[]string{"extra"}, "no arguments"},
		{[]string{"--nope"}, "flag provided but not defined"},
	} {
		_, err := ParseArgs(tc.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Test %d: %v: error %v, want %q", i, tc.args, err, tc.want)
		}
	}
}

func TestParseArgs_help_hides_cpuprofile(t *testing.T) {
	var out bytes.Buffer
	_, err := ParseArgs([]string{"-h"}, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err %v", err)
	}
	for _, want := range []string{"--json", "--duration", "--concurrency", "--payload", "--cpi-latency", "--phases", "--fsync", "--data-dir"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage lacks %s:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "cpuprofile") {
		t.Errorf("usage shows the hidden flag:\n%s", out.String())
	}
}
