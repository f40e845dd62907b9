package main

import (
	"context"
	"os"

	"github.com/cpibroker/cpibroker/devkit/adminclient"
)

// runAdmin is `cpibroker admin …`, a thin client of the admin API.
func runAdmin(ctx context.Context, args []string) error {
	return adminclient.Run(ctx, args, os.Stdout, os.Stderr, os.Getenv)
}
