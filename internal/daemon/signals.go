// Package daemon owns what the long-running clogs processes share around
// their business: how they react to signals.
package daemon

import (
	"os"
	"os/signal"
	"syscall"

	"go.uber.org/zap"
)

// WatchSignals returns a channel that receives the first SIGTERM or
// SIGINT, so the caller can shut down gracefully. A second signal exits the
// process at once with exitCode. release stops watching.
func WatchSignals(lg *zap.Logger, exitCode int) (stop <-chan os.Signal, release func()) {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, os.Interrupt)
	first := make(chan os.Signal, 1)
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-sigs:
			first <- sig
		case <-done:
			return
		}
		select {
		case sig := <-sigs:
			lg.Warn("second signal; exiting at once", zap.Stringer("signal", sig))
			lg.Sync() // exiting anyway
			os.Exit(exitCode)
		case <-done:
		}
	}()
	return first, func() {
		signal.Stop(sigs)
		close(done)
	}
}
