// Command stream-client is the clogs operator CLI. It talks to the stream
// manager (--sm) for stream commands, and reads extent files directly for
// the offline "extent" commands.
//
// Each subcommand lives in its own file and is added to the root in
// newRootCmd. Commands return their errors from RunE; main prints an error
// once, to stderr, and exits with its code:
//
//	0  success
//	1  usage errors and errors doing the work (a file that cannot be read,
//	   a server that cannot be reached)
//	2  the command ran and found invalid data (extent verify)
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/clogs-io/clogs/internal/buildinfo"
	"github.com/clogs-io/clogs/internal/daemon"
	"github.com/clogs-io/clogs/streamclient"
)

// Exit codes. They are part of the command-line contract: scripts test them.
const (
	exitOK      = 0
	exitFailure = 1 // usage or I/O error
	exitInvalid = 2 // the data checked is invalid
)

// defaultSM is the stream manager address when neither --sm nor $CLOGS_SM
// says otherwise (the stream-manager's default --listen).
const defaultSM = "127.0.0.1:3401"

// smEnv names the environment variable that overrides defaultSM.
const smEnv = "CLOGS_SM"

// version is set at link time (-ldflags "-X main.version=v1.2.3"); when it
// is empty the module version and VCS revision from the build info are used.
var version string

// globalOptions holds the root's persistent flags, shared by subcommands.
type globalOptions struct {
	// sm is the stream manager's gRPC address, host:port.
	sm string
	// maxExtentSize is where writers roll over to a new extent.
	maxExtentSize daemon.ByteSize
}

// exitError carries a non-default exit code with an error.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// exitCode is the process exit code for err, the result of Execute.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var withCode *exitError
	if errors.As(err, &withCode) {
		return withCode.code
	}
	return exitFailure
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the CLI with args and returns the exit code. Tests call it
// in-process.
func run(args []string, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteC()
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", cmd.CommandPath(), err)
		var usage *usageError
		if errors.As(err, &usage) {
			fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
		}
	}
	return exitCode(err)
}

// usageError marks a command line that does not parse: wrong arguments or
// flags. It exits with exitFailure and a hint to --help.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// usageArgs wraps a cobra argument check so that its errors are usage
// errors.
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return &usageError{err}
		}
		return nil
	}
}

// newRootCmd builds the command tree. Subcommands are added here.
func newRootCmd() *cobra.Command {
	opts := &globalOptions{}
	root := &cobra.Command{
		Use:   "stream-client",
		Short: "Operate a clogs cluster: streams, extents, benchmarks",
		Long: `stream-client is the clogs operator CLI.

Stream commands talk to the stream manager given by --sm (or $CLOGS_SM).
The "extent" commands read extent files directly and need no cluster.

Exit codes: 0 success, 1 usage or I/O error, 2 invalid data found.`,
		Version: versionString(),
		// Errors are printed once, by run; a failed command is not a
		// reason to show the usage text.
		SilenceUsage:  true,
		SilenceErrors: true,
		// Runnable only so that an unknown command is a usage error.
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &usageError{err}
	})
	root.PersistentFlags().StringVar(&opts.sm, "sm", defaultSMAddr(),
		"stream managers, comma-separated host:port list; any of them will do, the client follows the leader (env "+smEnv+")")
	opts.maxExtentSize = daemon.ByteSize(streamclient.DefaultConfig().MaxExtentSize)
	root.PersistentFlags().Var(&opts.maxExtentSize, "max-extent-size", "writers (append, wbench) roll over to a new extent at this size (KiB, MiB, GiB suffixes)")
	root.AddCommand(newCreateCmd(opts), newPolicyCmd(opts), newLsCmd(opts), newInfoCmd(opts), newNodesCmd(opts))
	root.AddCommand(newAppendCmd(opts), newCatCmd(opts))
	root.AddCommand(newExtentCmd(opts))
	root.AddCommand(newWbenchCmd(opts), newRbenchCmd(opts))
	return root
}

// defaultSMAddr is $CLOGS_SM when set, else defaultSM.
func defaultSMAddr() string {
	if addr := os.Getenv(smEnv); addr != "" {
		return addr
	}
	return defaultSM
}

// versionString is the version --version prints.
func versionString() string { return buildinfo.Version(version) }
