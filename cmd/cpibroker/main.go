// Command cpibroker is the asynchronous integration broker in front of SAP
// Cloud Integration. Run `cpibroker serve --demo` to try it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

const usage = `cpibroker — asynchronous integration broker for SAP Cloud Integration

Usage:
  cpibroker serve [--demo] [flags]   all roles in one process (embedded NATS unless --nats-url)
  cpibroker ingress --nats-url URL   the HTTP API only
  cpibroker dispatcher --nats-url URL the dispatcher only
  cpibroker cpisim [flags]           the CPI tenant simulator alone
  cpibroker bench [flags]            the benchmark (DESIGN 10)
  cpibroker admin clients|keys|audit operator commands over the admin API

Run "cpibroker <command> -h" for a command's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		// The first signal starts a graceful shutdown; a second one kills.
		<-ctx.Done()
		stop()
	}()
	if err := run(ctx, os.Args[1:]); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "cpibroker:", err)
		}
		os.Exit(2)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return flag.ErrHelp
	}
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:], roleAll)
	case "ingress":
		return runServe(ctx, args[1:], roleIngress)
	case "dispatcher":
		return runServe(ctx, args[1:], roleDispatcher)
	case "cpisim":
		return runCPISim(ctx, args[1:])
	case "admin":
		return runAdmin(ctx, args[1:])
	case "bench":
		return runBench(ctx, args[1:])
	case "cluster": // hidden: task cluster and task cluster:chaos
		return runCluster(ctx, args[1:])
	case "-h", "--help", "help":
		fmt.Print(usage)
		return nil
	}
	fmt.Fprint(os.Stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}
