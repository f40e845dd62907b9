package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/cpibroker/cpibroker/devkit/localcluster"
)

// runCluster is the hidden `cpibroker cluster` behind `task cluster` and
// `task cluster:chaos`: the local 3-node deployment, and with --chaos a
// run that kills processes under load and reports what was lost.
func runCluster(ctx context.Context, args []string) error {
	fs, o := clusterFlags()
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, cc, dur, asJS := o.cfg, o.cc, o.dur, o.asJS
	cfg.PartnerSecret, cfg.AdminSecret = os.Getenv("PARTNER_SECRET"), os.Getenv("ADMIN_SECRET")
	cfg.Out = os.Stderr
	c, err := localcluster.Start(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Stop()
	eff := c.Config()
	fmt.Printf(`
local cluster is up (logs in %[1]s/logs):

  NATS        %[2]s  (monitoring http://127.0.0.1:8222..8224)
  partner API %[3]s and %[4]s (one issuer)
  simulator   http://%[5]s
  partner     client_id=partner  client_secret=%[6]s
  admin       client_id=operator client_secret=%[7]s

`, eff.Dir, localcluster.NATSURLs, localcluster.Ingresses()[0], localcluster.Ingresses()[1], localcluster.CPISimAddr, eff.PartnerSecret, eff.AdminSecret)
	if dur == 0 {
		fmt.Println("Stop with Ctrl-C.")
		return c.Wait(ctx)
	}
	cc.Duration = dur
	rep, err := c.Chaos(ctx, cc)
	if err != nil {
		return err
	}
	if asJS {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		rep.WriteText(os.Stdout)
	}
	if rep.Lost > 0 || rep.Duplicates > 0 {
		return errors.New("chaos: accepted jobs were lost or ended more than once")
	}
	return nil
}

// clusterOptions are the flags of `cpibroker cluster`.
type clusterOptions struct {
	cfg  localcluster.Config
	cc   localcluster.ChaosConfig
	dur  time.Duration
	asJS bool
}

// clusterFlags is the flag set of `cpibroker cluster`.
func clusterFlags() (*flag.FlagSet, *clusterOptions) {
	fs := flag.NewFlagSet("cluster", flag.ContinueOnError)
	o := &clusterOptions{}
	fs.StringVar(&o.cfg.NATSServer, "nats-server", "bin/nats-server", "nats-server binary (task cluster installs it from the Go module proxy)")
	fs.StringVar(&o.cfg.DeployDir, "deploy", "deploy", "directory with nats/n*.conf and local/seed.yaml")
	fs.StringVar(&o.cfg.Dir, "dir", "data/cluster", "data and logs of every process (the NATS configs' store_dir points here)")
	fs.BoolVar(&o.cfg.Fresh, "fresh", false, "remove --dir first: a new, empty cluster")
	fs.DurationVar(&o.cfg.AckWait, "ack-wait", 5*time.Second, "the dispatchers' --ack-wait")
	fs.DurationVar(&o.dur, "chaos", 0, "kill processes at random under load for this long, report, and stop (0: run until interrupted)")
	fs.IntVar(&o.cc.Concurrency, "concurrency", 16, "chaos: submitting workers")
	fs.DurationVar(&o.cc.KillEvery, "kill-every", 4*time.Second, "chaos: pause between kills")
	fs.StringVar(&o.cc.Flow, "flow", "sim-echo", "chaos: the flow submitted to")
	fs.DurationVar(&o.cc.Drain, "drain", 2*time.Minute, "chaos: how long accepted jobs may take to end after the load")
	fs.Uint64Var(&o.cc.Seed, "seed", 0, "chaos: seed of the victim choice (0: random)")
	fs.BoolVar(&o.asJS, "json", false, "chaos: print the report as JSON")
	return fs, o
}
