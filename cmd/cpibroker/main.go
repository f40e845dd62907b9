// Command cpibroker is the asynchronous integration broker in front of SAP
// Cloud Integration. Run `cpibroker serve --demo` to try it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/cpibroker/cpibroker/devkit/adminclient"
)

// usage is the help text; the admin groups come from the admin client.
func usage() string {
	return `cpibroker — asynchronous integration broker for SAP Cloud Integration

Usage:
  cpibroker serve [--demo] [flags]   all roles in one process (embedded NATS unless --nats-url)
  cpibroker ingress --nats-url URL   the HTTP API only
  cpibroker dispatcher --nats-url URL the dispatcher only
  cpibroker cpisim [flags]           the CPI tenant simulator alone
  cpibroker bench [flags]            the benchmark (DESIGN 10)
  cpibroker admin ` + strings.Join(adminclient.Groups(), "|") + `
                                     operator commands over the admin API

Run "cpibroker <command> -h" for a command's flags, "cpibroker admin --help"
for the admin commands. Exit codes: 0 done, 1 failed, 2 wrong command line.
`
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		// The first signal starts a graceful shutdown; a second one kills.
		<-ctx.Done()
		stop()
	}()
	os.Exit(exitCode(run(ctx, os.Args[1:]), os.Stderr))
}

// exitCode prints err and maps it to the exit code: 0 for none or a help
// request, 2 for a command line that cannot run, 1 for anything else.
func exitCode(err error, stderr io.Writer) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	}
	fmt.Fprintln(stderr, "cpibroker:", err)
	if errors.Is(err, adminclient.ErrUsage) || isFlagError(err) {
		return 2
	}
	return 1
}

// flagError marks a command-line error of the server commands.
type flagError struct{ err error }

func (e flagError) Error() string { return e.err.Error() }
func (e flagError) Unwrap() error { return e.err }

func isFlagError(err error) bool {
	var fe flagError
	return errors.As(err, &fe)
}

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage())
		return flagError{errors.New("a command is missing")}
	}
	var err error
	switch args[0] {
	case "serve":
		err = runServe(ctx, args[1:], roleAll)
	case "ingress":
		err = runServe(ctx, args[1:], roleIngress)
	case "dispatcher":
		err = runServe(ctx, args[1:], roleDispatcher)
	case "cpisim":
		err = runCPISim(ctx, args[1:])
	case "admin":
		return runAdmin(ctx, args[1:])
	case "bench":
		err = runBench(ctx, args[1:])
	case "cluster": // hidden: task cluster and task cluster:chaos
		err = runCluster(ctx, args[1:])
	case "-h", "--help", "help":
		fmt.Print(usage())
		return nil
	default:
		return flagError{fmt.Errorf("unknown command %q; the commands are serve, ingress, dispatcher, cpisim, bench and admin (cpibroker --help)", args[0])}
	}
	if err != nil && !errors.Is(err, flag.ErrHelp) && isParseError(err) {
		return flagError{err}
	}
	return err
}

// isParseError tells the flag package's errors (a bad or unknown flag)
// from failures of a started command.
func isParseError(err error) bool {
	s := err.Error()
	return strings.HasPrefix(s, "flag provided but not defined") || strings.HasPrefix(s, "invalid value") ||
		strings.HasPrefix(s, "invalid boolean") || strings.HasPrefix(s, "bad flag syntax") ||
		strings.HasPrefix(s, "flag needs an argument")
}
