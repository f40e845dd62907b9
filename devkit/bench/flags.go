package bench

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"time"
)

// Options are the parsed command line of `cpibroker bench`.
type Options struct {
	// Config is the run; Progress, CPUProfile and Logger are left for the
	// caller to wire.
	Config Config
	// JSON prints the report as JSON instead of a table.
	JSON bool
	// CPUProfile is the file for a CPU profile of the e2e phase, else the
	// ordered, else the accept phase (hidden flag --cpuprofile); empty means
	// none.
	CPUProfile string
}

// hiddenFlag is accepted but not listed by -h: a tool for developers.
const hiddenFlag = "cpuprofile"

// ParseArgs parses the flags of `cpibroker bench` and validates them. Usage
// and errors go to out. It returns flag.ErrHelp for -h.
func ParseArgs(args []string, out io.Writer) (Options, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(out)
	var (
		o       Options
		phases  string
		payload int
	)
	fs.BoolVar(&o.JSON, "json", false, "print the report as JSON (DESIGN 10)")
	fs.DurationVar(&o.Config.Duration, "duration", 10*time.Second, "how long each phase submits")
	fs.IntVar(&o.Config.Concurrency, "concurrency", 64, "concurrent client connections")
	fs.IntVar(&payload, "payload", 1024, "request body size in bytes")
	fs.DurationVar(&o.Config.CPILatency, "cpi-latency", 0, "simulated iFlow latency")
	fs.StringVar(&phases, "phases", "baseline,accept,e2e", "comma-separated phases: baseline, accept, e2e, ordered, fairness")
	fs.StringVar(&o.Config.Fsync, "fsync", FsyncInterval, "JetStream durability of every embedded server: interval or always")
	fs.StringVar(&o.Config.NATSURL, "nats-url", "", "run the phases against this NATS cluster (comma-separated URLs) instead of embedded servers; DELETES cpibroker's streams and buckets there before each phase")
	fs.IntVar(&o.Config.Replicas, "replicas", 1, "stream and bucket replicas with --nats-url (3 on a cluster)")
	fs.IntVar(&o.Config.IdleConsumers, "idle-consumers", 0, "before the e2e phase, add this many partners each with an idle (client, flow) consumer")
	fs.IntVar(&o.Config.Flood, "flood", 100_000, "fairness phase: jobs client A queues at once")
	fs.Float64Var(&o.Config.FairnessRate, "fairness-rate", 20, "fairness phase: client B's steady submit rate (jobs/s)")
	fs.DurationVar(&o.Config.FairnessWindow, "fairness-window", 5*time.Second, "fairness phase: how long B submits, alone and under A's flood")
	fs.IntVar(&o.Config.FairnessConcurrency, "fairness-concurrency", 20, "fairness phase: the bench flow's policy.concurrency, the capacity A and B share (-1: unlimited)")
	fs.BoolVar(&o.Config.NonBindingLimits, "non-binding-limits", false, "give the bench client a quota and the bench flow limits that never bind (measures what enforcing quotas costs)")
	fs.IntVar(&o.Config.OrderedKeys, "ordered-keys", 1000, "ordered phase: how many Ordering-Keys")
	fs.IntVar(&o.Config.OrderedPerKey, "ordered-per-key", 10, "ordered phase: jobs per key, submitted one after the other")
	fs.StringVar(&o.Config.DataDir, "data-dir", "", "directory for the phases' data (default: a temporary directory, removed afterwards)")
	fs.StringVar(&o.CPUProfile, hiddenFlag, "", "write a CPU profile of the e2e phase (else ordered, else accept) to this file")
	fs.Usage = func() {
		fmt.Fprintln(out, "Usage: cpibroker bench [flags]\n\nRuns the benchmark of DESIGN 10 in this process (embedded NATS, CPI simulator, loopback HTTP).\n\nFlags:")
		printDefaults(fs, out)
	}
	if err := fs.Parse(args); err != nil {
		return Options{}, err
	}
	if fs.NArg() > 0 {
		return Options{}, fmt.Errorf("bench takes no arguments, got %q", fs.Args())
	}
	var errs []error
	// Zero is a meaningful flag value here, not "default": refuse it before
	// Config's defaults would turn it into 1024 or 64.
	if payload < 1 {
		errs = append(errs, fmt.Errorf("--payload must be 1..%d bytes, got %d", MaxPayload, payload))
	}
	if o.Config.Concurrency < 1 {
		errs = append(errs, fmt.Errorf("--concurrency must be 1..%d, got %d", MaxConcurrency, o.Config.Concurrency))
	}
	if o.Config.Duration <= 0 {
		errs = append(errs, fmt.Errorf("--duration must be 100ms..24h, got %s", o.Config.Duration))
	}
	o.Config.PayloadBytes = payload
	ps, err := ParsePhases(phases)
	if err != nil {
		errs = append(errs, fmt.Errorf("--phases: %w", err))
	}
	o.Config.Phases = ps
	if err := errors.Join(errs...); err != nil {
		return Options{}, err
	}
	cfg := o.Config
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return Options{}, err
	}
	return o, nil
}

// printDefaults is flag.PrintDefaults without the hidden flags.
func printDefaults(fs *flag.FlagSet, out io.Writer) {
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name == hiddenFlag {
			return
		}
		name, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if name != "" {
			line += " " + name
		}
		line += "\n    \t" + usage
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0s" {
			line += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		fmt.Fprintln(out, line)
	})
}
