// Command clogs-cli sends log lines to clogs collectors through the
// sender library (clogs.Sender): consistent hashing of the file name over
// the collectors of a YAML config, and health checks.
//
//	clogs-cli -c CONF [-r N] [-i SECONDS] SYS TYPE FILE MSG…   send MSG N times
//	clogs-cli -c CONF < lines                                  one SYS TYPE FILE MSG a line
//	clogs-cli -c CONF                                          interactive, on a terminal
//
// It exits 0 when every line was sent, 1 on a usage or config error or
// when a line could not be sent (no live collector, a malformed line).
// UDP says nothing of delivery: "sent" means the datagram left.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/clogs-io/clogs/clogs"
	"github.com/clogs-io/clogs/internal/buildinfo"
	"github.com/clogs-io/clogs/internal/daemon"
)

// version is set at link time (-ldflags "-X main.version=v1.2.3"); when it
// is empty the module version and VCS revision from the build info are used.
var version string

// Exit codes, part of the command-line contract.
const (
	exitOK      = 0
	exitFailure = 1 // usage, config, or lines not sent
)

// options are the command-line flags.
type options struct {
	config   string
	repeat   int
	interval float64 // seconds
	headLen  uint16
}

// usageError marks a command line that does not parse; run adds a hint to
// --help.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes the command line and returns the exit code. Tests call it
// in-process, with stdin a pipe or a buffer (batch mode).
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCmd(stdin)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(stderr, "clogs-cli: %s\n", daemon.OneLine(err))
		var usage *usageError
		if errors.As(err, &usage) {
			fmt.Fprintln(stderr, "Run 'clogs-cli --help' for usage.")
		}
		return exitFailure
	}
	return exitOK
}

func newRootCmd(stdin io.Reader) *cobra.Command {
	o := &options{}
	cmd := &cobra.Command{
		Use:   "clogs-cli -c CONF [-r N] [-i SECONDS] [SYS TYPE FILE MSG…]",
		Short: "Send log lines to clogs collectors",
		Long: `clogs-cli sends log lines to the clogs collectors listed in a sender
config (-c), each line to the collector its file name hashes to among the
live ones.

With SYS TYPE FILE MSG on the command line it sends MSG (the remaining
words, joined by spaces) -r times, -i seconds apart. Without them, it reads
lines from standard input when that is not a terminal (batch mode: one
"SYS TYPE FILE MSG" a line, MSG being the rest of the line; empty lines and
lines starting with # are skipped), and on a terminal it starts an
interactive prompt with line editing and history (type "help").

TYPE "-" sends an empty message type. Flags go before SYS, so the message
may hold words that start with "-".

The sender config is YAML:

  collectors:
    - name: c1                 # optional, defaults to addr
      addr: 127.0.0.1:6000
      weight: 1                # optional
  health_interval: 5s          # optional
  failure_threshold: 3         # optional

Exit codes: 0 every line sent, 1 usage or config error, or lines not sent.`,
		Version:       buildinfo.Version(version),
		SilenceUsage:  true,
		SilenceErrors: true,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 && len(args) < 4 {
				return &usageError{fmt.Errorf("want SYS TYPE FILE MSG…, got %d argument(s)", len(args))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error { return runSend(cmd, o, stdin, args) },
	}
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	f := cmd.Flags()
	f.SetInterspersed(false)
	f.StringVarP(&o.config, "config", "c", "", "sender config, YAML (required)")
	f.IntVarP(&o.repeat, "repeat", "r", 1, "send the command-line message this many times")
	f.Float64VarP(&o.interval, "interval", "i", 1, "seconds between repeats (fractions allowed)")
	f.Uint16Var(&o.headLen, "head-len", 0, "bytes of application header at the start of each message (not masked)")
	return cmd
}

// runSend picks the mode and runs it with a sender of the config.
func runSend(cmd *cobra.Command, o *options, stdin io.Reader, args []string) error {
	if o.config == "" {
		return &usageError{errors.New("-c CONF is required")}
	}
	repeating := cmd.Flags().Changed("repeat") || cmd.Flags().Changed("interval")
	if repeating && len(args) == 0 {
		return &usageError{errors.New("-r and -i repeat a message given on the command line")}
	}
	if o.repeat < 1 {
		return &usageError{fmt.Errorf("-r %d: want at least 1", o.repeat)}
	}
	if o.interval < 0 || math.IsNaN(o.interval) || o.interval > 86400 {
		return &usageError{fmt.Errorf("-i %v: want 0 to 86400 seconds", o.interval)}
	}
	cfg, err := clogs.LoadSenderConfig(o.config)
	if err != nil {
		return err
	}
	sender, err := clogs.NewSender(cfg)
	if err != nil {
		return err
	}
	defer sender.Close()
	switch {
	case len(args) > 0:
		return sendArgs(cmd, sender, o, args)
	case isTerminal(stdin):
		return interactive(cmd, sender, o)
	default:
		return batch(cmd, sender, o, stdin)
	}
}

// isTerminal reports whether r is a terminal: a character device.
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// sendArgs sends the command-line message o.repeat times, o.interval
// apart, and stops at the first error or when interrupted.
func sendArgs(cmd *cobra.Command, sender *clogs.Sender, o *options, args []string) error {
	l := line{sys: args[0], msgType: msgTypeArg(args[1]), file: args[2], msg: strings.Join(args[3:], " ")}
	interval := time.Duration(o.interval * float64(time.Second))
	ctx := cmd.Context()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for i := range o.repeat {
		if i > 0 {
			timer.Reset(interval)
			select {
			case <-ctx.Done():
				return fmt.Errorf("interrupted after %d of %d lines", i, o.repeat)
			case <-timer.C:
			}
		}
		if err := l.send(sender, o.headLen); err != nil {
			return fmt.Errorf("line %d of %d: %w", i+1, o.repeat, err)
		}
	}
	if o.repeat > 1 {
		fmt.Fprintf(cmd.OutOrStdout(), "sent %d lines to %s\n", o.repeat, sender.CollectorFor(l.file))
	}
	return nil
}

// msgTypeArg reads a TYPE argument: "-" is the empty message type.
func msgTypeArg(s string) string {
	if s == "-" {
		return ""
	}
	return s
}
