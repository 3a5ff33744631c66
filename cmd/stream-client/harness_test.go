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
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/clogs-io/clogs/node"
	"github.com/clogs-io/clogs/streamclient"
	"github.com/clogs-io/clogs/streammanager"
)

// freePorts returns n TCP ports on 127.0.0.1 that were free a moment ago.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var listeners []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range listeners {
		l.Close()
	}
	return ports
}

// startTestCluster starts a real stream manager (embedded etcd on free
// ports, temp data dir) and n real extent-nodes in this process that
// register and heartbeat (HeartbeatInterval 100ms), waits until n nodes are
// alive, registers cleanup, and returns the manager's gRPC address.
func startTestCluster(t *testing.T, n int) string {
	t.Helper()
	p := freePorts(t, 2)
	cfg := streammanager.DefaultConfig()
	cfg.Listen, cfg.HTTP, cfg.DataDir = "127.0.0.1:0", "", t.TempDir()
	cfg.EtcdClientURL = fmt.Sprintf("http://127.0.0.1:%d", p[0])
	cfg.EtcdPeerURL = fmt.Sprintf("http://127.0.0.1:%d", p[1])
	cfg.InitialCluster = "sm1=" + cfg.EtcdPeerURL
	cfg.SessionTTL, cfg.NodeDeadAfter, cfg.SealTimeout = 2*time.Second, 2*time.Second, 2*time.Second
	cfg.Conn.DialTimeout = time.Second
	sm, err := streammanager.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := sm.Start(); err != nil {
		sm.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { sm.Close() })
	addr := sm.Addr()

	root := t.TempDir()
	for i := range n {
		ncfg := node.DefaultConfig()
		ncfg.Listen, ncfg.HTTP = "127.0.0.1:0", ""
		ncfg.Disks = []string{filepath.Join(root, fmt.Sprintf("node%d", i+1))}
		ncfg.StreamManagers = []string{addr}
		ncfg.HeartbeatInterval = 100 * time.Millisecond
		ncfg.ReplicaTimeout = 2 * time.Second
		ncfg.Conn.DialTimeout = time.Second
		nd, err := node.New(ncfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := nd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nd.Stop)
	}
	waitAlive(t, addr, n)
	return addr
}

// waitAlive waits until n nodes are alive in the manager's view.
func waitAlive(t *testing.T, smAddr string, n int) {
	t.Helper()
	ccfg := streamclient.DefaultConfig()
	ccfg.Managers = []string{smAddr}
	ccfg.Conn.DialTimeout = time.Second
	ccfg.CallTimeout = 5 * time.Second
	cl, err := streamclient.New(ccfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		resp, err := cl.NodesInfo(ctx)
		cancel()
		alive := 0
		if err == nil {
			for _, st := range resp.Nodes {
				if st.Alive {
					alive++
				}
			}
		}
		if alive >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d nodes alive after 20s (last error %v)", alive, n, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
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
