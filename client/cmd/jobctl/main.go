// Command jobctl is the command-line client of JobManager. See package
// client/cli for its commands and exit statuses.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/jobmanager/jobmanager/client/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Execute(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
