package main

// The test harness of the stream commands: a real cluster in this process
// and the CLI run in-process against it. wbench and rbench tests use it
// too.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/clogs-io/clogs/internal/testcluster"
)

// startTestCluster starts a real stream manager (embedded etcd on free
// ports, temp data dir) and n real extent-nodes in this process that
// register and heartbeat (HeartbeatInterval 100ms), waits until n nodes are
// alive, registers cleanup, and returns the manager's gRPC address.
func startTestCluster(t *testing.T, n int) string {
	t.Helper()
	addr := testcluster.StartManager(t, testcluster.ManagerConfig(t)).Addr()
	testcluster.StartNodes(t, n, testcluster.NodeConfig(nil, addr))
	testcluster.WaitAlive(t, addr, n)
	return addr
}

// runCLI runs the root command in-process with args (prefixing --sm addr),
// returning stdout, stderr and the exit code as main would.
func runCLI(t *testing.T, smAddr string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(append([]string{"--sm", smAddr}, args...), &out, &errOut)
	return out.String(), errOut.String(), code
}

// runCLIContext is runCLI with a context for the command (cancel it to
// interrupt --follow) and stdin, nil for none. It writes to stdout and
// stderr as the command runs, so a test can watch output of a command that
// has not ended; they must be safe for concurrent use when the test reads
// them before it returns. It prints errors and maps exit codes as run does.
func runCLIContext(ctx context.Context, smAddr string, stdin io.Reader, stdout, stderr io.Writer, args ...string) int {
	root := newRootCmd()
	root.SetArgs(append([]string{"--sm", smAddr}, args...))
	if stdin == nil {
		stdin = bytes.NewReader(nil)
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", cmd.CommandPath(), err)
		var usage *usageError
		if errors.As(err, &usage) {
			fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
		}
	}
	return exitCode(err)
}
