package benchkit

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// Main runs a benchmark command with a context that SIGINT and SIGTERM
// cancel, so that the benchmark stops and removes its directory, and
// exits with status 1 if it fails. The command reports its error itself.
func Main(execute func(ctx context.Context) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := execute(ctx)
	stop()
	if err != nil {
		os.Exit(1)
	}
}
