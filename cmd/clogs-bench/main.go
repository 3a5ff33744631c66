// Command clogs-bench loads clogs collectors through the sender library
// and, with --verify, reads the streams back to count what the whole
// pipeline lost or reordered.
//
//	clogs-bench -c CONF -x HANDLES -f FILES -t MSG_TYPE -d MSG_LEN -z TPS -n TOTAL [--duration D] [--verify --sm ADDRS]
//
// It exits 0 when the run completed (and verified clean), 1 on a usage,
// config or cluster error, and 2 when --verify found lines lost,
// reordered or not masked.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
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
	exitFailure = 1 // usage, config, or the run could not be done
	exitInvalid = 2 // --verify found lines lost, reordered or unmasked
)

// defaultDuration is how long a run lasts when neither -n nor --duration
// bounds it.
const defaultDuration = 10 * time.Second

// options are the command-line flags.
type options struct {
	config     string
	handles    int
	files      int
	msgType    string
	msgLen     int
	tps        int
	total      int64
	duration   time.Duration
	sys        string
	filePrefix string
	cards      bool
	json       bool

	verify        bool
	sm            string
	template      string
	settle        time.Duration
	verifyTimeout time.Duration
}

// usageError marks a command line that does not parse; run adds a hint to
// --help.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// invalidError marks a run whose verification failed: exit code 2.
type invalidError struct{ err error }

func (e *invalidError) Error() string { return e.err.Error() }
func (e *invalidError) Unwrap() error { return e.err }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes the command line and returns the exit code; tests call it
// in-process.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "clogs-bench: %s\n", daemon.OneLine(err))
	var usage *usageError
	if errors.As(err, &usage) {
		fmt.Fprintln(stderr, "Run 'clogs-bench --help' for usage.")
	}
	var invalid *invalidError
	if errors.As(err, &invalid) {
		return exitInvalid
	}
	return exitFailure
}

func newRootCmd() *cobra.Command {
	o := &options{}
	cmd := &cobra.Command{
		Use:   "clogs-bench -c CONF -x HANDLES -f FILES -t MSG_TYPE -d MSG_LEN -z TPS -n TOTAL",
		Short: "Load clogs collectors with log lines, and check that every line was stored",
		Long: `clogs-bench sends log lines to the collectors of a sender config (-c)
through HANDLES sender handles (-x), each with its own sockets, health
checks and sending goroutine. FILES file names (-f) are dealt out to the
handles; each handle sends to its files in turn, so each file's lines leave
in order from one socket. Lines are MSG_LEN bytes (-d) of message type
MSG_TYPE (-t) and carry the run's ID and their sequence number within their
file (and with --cards a card number for the collector to mask).

TPS (-z) paces the lines in total over the handles, in small batches per
millisecond (0: as fast as they go). The run ends after TOTAL lines (-n),
after --duration, or on Ctrl-C; without -n and --duration it lasts 10s.
It prints a line a second on stderr (lines sent in that second, errors,
live collectors) and a summary at the end (--json: one object).

--verify then reads every file's stream back through the stream managers
(--sm), waiting until every line is stored or nothing new has arrived for
--settle, and counts lines stored, lost (sent and not stored), reordered
(stored after a later line of the same file), duplicated, and with --cards
not masked. Lines of earlier runs in the same streams are ignored.

Exit codes: 0 done (and verified clean), 1 usage, config or cluster error,
2 --verify found lines lost, reordered or not masked.`,
		Version:       buildinfo.Version(version),
		Args:          func(_ *cobra.Command, args []string) error { return usageArgs(args) },
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE:          func(cmd *cobra.Command, _ []string) error { return runBench(cmd, o) },
	}
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	f := cmd.Flags()
	f.StringVarP(&o.config, "config", "c", "", "sender config, YAML (required)")
	f.IntVarP(&o.handles, "handles", "x", 1, "sender handles, each with its own sockets and goroutine")
	f.IntVarP(&o.files, "files", "f", 10, "distinct file names, dealt out to the handles")
	f.StringVarP(&o.msgType, "type", "t", "bench", "message type of the lines")
	f.IntVarP(&o.msgLen, "len", "d", 200, "bytes per message")
	f.IntVarP(&o.tps, "tps", "z", 0, "lines per second in total (0: as fast as possible)")
	f.Int64VarP(&o.total, "total", "n", 0, "lines to send in total (0: until --duration)")
	f.DurationVar(&o.duration, "duration", 0, "how long to send (0: until -n lines; 10s if neither is given)")
	f.StringVar(&o.sys, "sys", "bench", "subsystem ID of the lines")
	f.StringVar(&o.filePrefix, "file-prefix", "f", "file names are this prefix and a number")
	f.BoolVar(&o.cards, "cards", false, "put a test card number in every line, for the collector to mask")
	f.BoolVar(&o.json, "json", false, "print the summary as one JSON object")
	f.BoolVar(&o.verify, "verify", false, "read the streams back and count lines lost and reordered")
	f.StringVar(&o.sm, "sm", defaultSM(), "stream managers for --verify, comma-separated host:port (env CLOGS_SM)")
	f.StringVar(&o.template, "stream-template", "{sys}/{file}", "the collectors' --stream-template, to find the streams")
	f.DurationVar(&o.settle, "settle", 3*time.Second, "--verify stops waiting when no new line is stored for this long")
	f.DurationVar(&o.verifyTimeout, "verify-timeout", 2*time.Minute, "--verify gives up waiting after this long")
	return cmd
}

func usageArgs(args []string) error {
	if len(args) > 0 {
		return &usageError{fmt.Errorf("unexpected argument %q: everything is a flag", args[0])}
	}
	return nil
}

// defaultSM is $CLOGS_SM, else the stream manager's default address.
func defaultSM() string {
	if sm := os.Getenv("CLOGS_SM"); sm != "" {
		return sm
	}
	return "127.0.0.1:3401"
}

// check validates the options that do not need the config.
func (o *options) check() error {
	var errs []error
	if o.config == "" {
		errs = append(errs, errors.New("-c CONF is required"))
	}
	if o.handles < 1 || o.handles > 1024 {
		errs = append(errs, fmt.Errorf("-x %d: want 1-1024 handles", o.handles))
	}
	if o.files < o.handles {
		errs = append(errs, fmt.Errorf("-f %d: want at least one file per handle (-x %d)", o.files, o.handles))
	}
	if o.files > 1_000_000 {
		errs = append(errs, fmt.Errorf("-f %d: at most 1,000,000 files", o.files))
	}
	if o.tps < 0 || o.total < 0 || o.duration < 0 {
		errs = append(errs, errors.New("-z, -n and --duration cannot be negative"))
	}
	if len(o.sys) == 0 || len(o.sys) > clogs.MaxSysID {
		errs = append(errs, fmt.Errorf("--sys %q: want 1-%d bytes", o.sys, clogs.MaxSysID))
	}
	if len(o.msgType) > clogs.MaxMsgType {
		errs = append(errs, fmt.Errorf("-t %q: at most %d bytes", o.msgType, clogs.MaxMsgType))
	}
	if longest := len(fileName(o.filePrefix, o.files-1)); o.filePrefix == "" || longest > clogs.MaxFileName {
		errs = append(errs, fmt.Errorf("--file-prefix %q: want 1 byte or more, and file names of at most %d bytes", o.filePrefix, clogs.MaxFileName))
	}
	if o.msgLen > clogs.MaxMessage-clogs.MaxSysID-clogs.MaxMsgType-clogs.MaxFileName {
		errs = append(errs, fmt.Errorf("-d %d: too long for one datagram", o.msgLen))
	}
	if o.msgLen < minMessageLen(o.cards) {
		_, err := newMessage("00000000", o.msgLen, o.cards)
		errs = append(errs, err)
	}
	if o.verify && !strings.Contains(o.template, "{file}") {
		errs = append(errs, fmt.Errorf("--stream-template %q: --verify needs {file} in it, to read each file's stream", o.template))
	}
	if err := errors.Join(errs...); err != nil {
		return &usageError{err}
	}
	return nil
}

// fileName is the name of file i.
func fileName(prefix string, i int) string { return fmt.Sprintf("%s%06d", prefix, i) }

// runBench sends, reports, and verifies if asked.
func runBench(cmd *cobra.Command, o *options) error {
	if err := o.check(); err != nil {
		return err
	}
	if o.total == 0 && o.duration == 0 {
		o.duration = defaultDuration
	}
	cfg, err := clogs.LoadSenderConfig(o.config)
	if err != nil {
		return err
	}
	result, files, err := send(cmd.Context(), cfg, o, cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	// An interrupted run still shows what it sent; its streams are not
	// checked, since the interrupt asked to stop.
	if o.verify && !result.Interrupted {
		v, err := verify(cmd.Context(), o, result.RunID, files, cmd.ErrOrStderr())
		if err != nil {
			return fmt.Errorf("verify: %w", err)
		}
		result.Verify = v
	}
	if err := printResult(cmd.OutOrStdout(), result, o.json); err != nil {
		return err
	}
	if o.verify && result.Interrupted {
		return errors.New("interrupted: not verified")
	}
	if v := result.Verify; v != nil && !v.clean() {
		return &invalidError{fmt.Errorf("verify: %d lost, %d reordered, %d unexpected, %d not masked", v.Lost, v.Reordered, v.Unexpected, v.Unmasked)}
	}
	return nil
}
