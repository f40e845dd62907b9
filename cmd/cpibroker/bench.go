package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/cpibroker/cpibroker/devkit/bench"
	"github.com/cpibroker/cpibroker/internal/telemetry"
)

// runBench is `cpibroker bench`: the benchmark of DESIGN 10. The report
// goes to stdout (JSON with --json, else tables); progress and warnings go
// to stderr.
func runBench(ctx context.Context, args []string) (err error) {
	o, err := bench.ParseArgs(args, os.Stderr)
	if err != nil {
		return err
	}
	cfg := o.Config
	cfg.Progress = os.Stderr
	cfg.Logger = telemetry.NewLogger(os.Stderr, slog.LevelWarn)
	if o.CPUProfile != "" {
		f, ferr := os.Create(o.CPUProfile)
		if ferr != nil {
			return fmt.Errorf("bench: cpu profile: %w", ferr)
		}
		defer func() { err = errors.Join(err, f.Close()) }()
		cfg.CPUProfile = f
	}
	rep, err := bench.Run(ctx, cfg)
	if err != nil {
		return err
	}
	if o.JSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(rep)
	}
	return rep.WriteText(os.Stdout)
}
