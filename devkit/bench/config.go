package bench

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"
)

// Phase names a benchmark phase of DESIGN 10.
type Phase string

// The phases, in the order they run.
const (
	PhaseBaseline Phase = "baseline"
	PhaseAccept   Phase = "accept"
	PhaseE2E      Phase = "e2e"
	PhaseFairness Phase = "fairness"
)

// knownPhases lists every known phase in run order.
func knownPhases() []Phase {
	return []Phase{PhaseBaseline, PhaseAccept, PhaseE2E, PhaseOrdered, PhaseFairness}
}

// DefaultPhases are the phases run when none are given.
func DefaultPhases() []Phase { return []Phase{PhaseBaseline, PhaseAccept, PhaseE2E} }

// Fsync modes, as in `cpibroker serve --fsync`.
const (
	FsyncInterval = "interval"
	FsyncAlways   = "always"
)

// Limits of the settings.
const (
	// MaxPayload is the largest --payload: well below the embedded server's
	// max_payload (8 MiB) so the baseline can publish it in one message.
	MaxPayload = 4 << 20
	// MaxConcurrency is the largest --concurrency.
	MaxConcurrency = 4096
	// MaxCPILatency is the largest --cpi-latency; the bench flow's timeout
	// is set above it, and flow timeouts stop at 10m.
	MaxCPILatency = 5 * time.Minute
	// MaxIdleConsumers is the largest --idle-consumers.
	MaxIdleConsumers = 50000
)

// ParsePhases parses a comma-separated phase list. Unknown and repeated
// names are errors; "fairness" parses (Config.Validate refuses it). The
// result is in run order, whatever the order given.
func ParsePhases(s string) ([]Phase, error) {
	known := knownPhases()
	var out []Phase
	for _, name := range strings.Split(s, ",") {
		p := Phase(strings.TrimSpace(name))
		if p == "" {
			continue
		}
		if !slices.Contains(known, p) {
			return nil, fmt.Errorf("unknown phase %q (phases: baseline, accept, e2e, ordered, fairness)", p)
		}
		if slices.Contains(out, p) {
			return nil, fmt.Errorf("phase %q given twice", p)
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, errors.New("no phase given (phases: baseline, accept, e2e)")
	}
	slices.SortFunc(out, func(a, b Phase) int { return slices.Index(known, a) - slices.Index(known, b) })
	return out, nil
}

// Config is one benchmark run. Zero values take the documented defaults.
type Config struct {
	// Duration is how long each phase submits. Default 10s.
	Duration time.Duration
	// Concurrency is the number of client goroutines (and connections).
	// Default 64.
	Concurrency int
	// PayloadBytes is the size of every request body. Default 1024; 1..MaxPayload.
	PayloadBytes int
	// CPILatency is the simulated iFlow's answer delay. Default 0.
	CPILatency time.Duration
	// Phases to run. Default DefaultPhases().
	Phases []Phase
	// Fsync is interval (default) or always, for the baseline's and the
	// broker's embedded servers alike.
	Fsync string
	// DataDir holds one fresh subdirectory per phase, left in place. Empty
	// means a temporary directory removed afterwards.
	DataDir string
	// DrainTimeout bounds the e2e wait for accepted jobs to become terminal
	// after submitting stops; jobs still not terminal are counted lost.
	// Default 60s + Duration.
	DrainTimeout time.Duration
	// ProgressInterval is how often progress lines are written. Default 2s.
	ProgressInterval time.Duration
	// Progress receives progress lines (stderr in the command). Default discard.
	Progress io.Writer
	// CPUProfile, when set, receives a CPU profile of the e2e phase
	// (submits and drain), else of the ordered phase, else of the accept
	// phase.
	CPUProfile io.Writer
	// Logger receives the broker's and NATS server's logs. Default discard.
	Logger *slog.Logger
	// NATSURL, when set, runs every phase against that external NATS
	// (comma-separated URLs of a cluster) instead of embedded servers.
	// Before each phase the bench deletes cpibroker's streams and buckets
	// there, so point it at a cluster kept for benchmarking.
	NATSURL string
	// Replicas of every stream and bucket (with NATSURL; 3 on a cluster).
	// Default 1.
	Replicas int
	// IdleConsumers adds, before the e2e phase, this many partners granted
	// the bench flow, each with its own (client, flow) consumer and no jobs:
	// the dispatcher carries a puller for each while the phase measures.
	IdleConsumers int
	// Flood is how many jobs client A queues in the fairness phase.
	// Default 100000.
	Flood int
	// FairnessRate is client B's steady submit rate (jobs/s) in the
	// fairness phase. Default 20.
	FairnessRate float64
	// FairnessWindow is how long B submits, alone and under the flood.
	// Default 5s.
	FairnessWindow time.Duration
	// FairnessConcurrency is the bench flow's policy.concurrency in the
	// fairness phase: the capacity A and B share. Default 20 (DESIGN 3.1's
	// default flow policy); -1 leaves the flow unlimited.
	FairnessConcurrency int
	// NonBindingLimits gives the bench client a quota (rate, burst,
	// concurrency, daily allowance) and the bench flow a rate and
	// concurrency that never bind, so the run measures what enforcing
	// global quotas costs (compare with a run without).
	NonBindingLimits bool
	// OrderedKeys and OrderedPerKey size the ordered phase: that many
	// Ordering-Keys with that many jobs each. Default 1000 × 10.
	OrderedKeys, OrderedPerKey int
}

func (c *Config) setDefaults() {
	if c.Duration == 0 {
		c.Duration = 10 * time.Second
	}
	if c.Concurrency == 0 {
		c.Concurrency = 64
	}
	if c.PayloadBytes == 0 {
		c.PayloadBytes = 1024
	}
	if len(c.Phases) == 0 {
		c.Phases = DefaultPhases()
	}
	if c.Fsync == "" {
		c.Fsync = FsyncInterval
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = time.Minute + c.Duration
	}
	if c.ProgressInterval == 0 {
		c.ProgressInterval = 2 * time.Second
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.Flood == 0 {
		c.Flood = 100_000
	}
	if c.FairnessRate == 0 {
		c.FairnessRate = 20
	}
	if c.FairnessWindow == 0 {
		c.FairnessWindow = 5 * time.Second
	}
	if c.FairnessConcurrency == 0 {
		c.FairnessConcurrency = 20
	}
	if c.OrderedKeys == 0 {
		c.OrderedKeys = 1000
	}
	if c.OrderedPerKey == 0 {
		c.OrderedPerKey = 10
	}
}

// Validate reports every impossible setting in one error.
func (c *Config) Validate() error {
	var errs []error
	if c.Duration < 100*time.Millisecond || c.Duration > 24*time.Hour {
		errs = append(errs, fmt.Errorf("--duration must be 100ms..24h, got %s", c.Duration))
	}
	if c.Concurrency < 1 || c.Concurrency > MaxConcurrency {
		errs = append(errs, fmt.Errorf("--concurrency must be 1..%d, got %d", MaxConcurrency, c.Concurrency))
	}
	if c.PayloadBytes < 1 || c.PayloadBytes > MaxPayload {
		errs = append(errs, fmt.Errorf("--payload must be 1..%d bytes, got %d", MaxPayload, c.PayloadBytes))
	}
	if c.CPILatency < 0 || c.CPILatency > MaxCPILatency {
		errs = append(errs, fmt.Errorf("--cpi-latency must be 0..%s, got %s", MaxCPILatency, c.CPILatency))
	}
	if c.Fsync != FsyncInterval && c.Fsync != FsyncAlways {
		errs = append(errs, fmt.Errorf("--fsync must be interval or always, got %q", c.Fsync))
	}
	for _, p := range c.Phases {
		switch {
		case !slices.Contains(knownPhases(), p):
			errs = append(errs, fmt.Errorf("unknown phase %q", p))
		}
	}
	if c.Replicas < 1 || c.Replicas > 5 || (c.Replicas > 1 && c.NATSURL == "") {
		errs = append(errs, fmt.Errorf("--replicas must be 1..5 and above 1 only with --nats-url (a cluster), got %d", c.Replicas))
	}
	if c.IdleConsumers < 0 || c.IdleConsumers > MaxIdleConsumers {
		errs = append(errs, fmt.Errorf("--idle-consumers must be 0..%d, got %d", MaxIdleConsumers, c.IdleConsumers))
	}
	if c.Flood < 1 || c.Flood > 10_000_000 {
		errs = append(errs, fmt.Errorf("--flood must be 1..10000000, got %d", c.Flood))
	}
	if c.FairnessRate <= 0 || c.FairnessRate > 1000 {
		errs = append(errs, fmt.Errorf("--fairness-rate must be above 0 and at most 1000 jobs/s, got %g", c.FairnessRate))
	}
	if c.FairnessConcurrency < -1 {
		errs = append(errs, fmt.Errorf("--fairness-concurrency must be -1 (unlimited) or above 0, got %d", c.FairnessConcurrency))
	}
	if c.FairnessWindow < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("--fairness-window must be at least 100ms, got %s", c.FairnessWindow))
	}
	if c.OrderedKeys < 1 || c.OrderedKeys > 1_000_000 || c.OrderedPerKey < 1 || c.OrderedPerKey > 10_000 {
		errs = append(errs, fmt.Errorf("--ordered-keys must be 1..1000000 and --ordered-per-key 1..10000, got %d and %d", c.OrderedKeys, c.OrderedPerKey))
	}
	if c.DrainTimeout < time.Second {
		errs = append(errs, errors.New("drain timeout must be at least 1s"))
	}
	return errors.Join(errs...)
}

// runs reports whether phase p is part of the run.
func (c *Config) runs(p Phase) bool { return slices.Contains(c.Phases, p) }
