package nodebench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// nodePackage is the extent-node's command, built when no binary is given.
const nodePackage = "./cmd/extent-node"

// readyTimeout bounds the wait for a node process to listen.
const readyTimeout = 30 * time.Second

// buildNode builds the extent-node of the module the current directory is
// in, into a fresh temporary directory that remove deletes.
func buildNode(ctx context.Context) (binary string, remove func() error, err error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", nil, fmt.Errorf("find the module: go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", nil, errors.New("not inside the clogs module: run from the repository, or pass --node-binary or --in-process")
	}
	tmp, err := os.MkdirTemp("", "node-bench-bin-")
	if err != nil {
		return "", nil, fmt.Errorf("build directory: %w", err)
	}
	remove = func() error { return os.RemoveAll(tmp) }
	binary = filepath.Join(tmp, "extent-node")
	var stderr bytes.Buffer
	build := exec.CommandContext(ctx, "go", "build", "-o", binary, nodePackage)
	build.Dir, build.Stderr = filepath.Dir(gomod), &stderr
	if err := build.Run(); err != nil {
		remove()
		return "", nil, fmt.Errorf("go build %s: %w: %s (use --in-process to run the nodes inside the benchmark)", nodePackage, err, strings.TrimSpace(stderr.String()))
	}
	return binary, remove, nil
}

// processCluster runs three extent-node processes.
type processCluster struct {
	procs []*nodeProcess
}

// nodeProcess is one running extent-node.
type nodeProcess struct {
	cmd      *exec.Cmd
	grpcAddr string
	httpAddr string
	logPath  string
	exited   chan struct{} // closed when the process has exited
	waitErr  error         // set before exited is closed
}

// nodeArgs are an extent-node's flags for one bench node.
func nodeArgs(grpcAddr, httpAddr, dir string, s settings) []string {
	return []string{
		"--listen", grpcAddr, "--http", httpAddr, "--disk", dir, "--sm", "",
		"--replica-timeout", replicaTimeout.String(),
		"--max-inflight-batches", strconv.Itoa(s.maxInflightBatches),
		"--compression=" + s.peerCompression, // "" is none
		"--max-extent-size", strconv.FormatUint(benchMaxExtentSize, 10),
	}
}

func startProcesses(ctx context.Context, binary string, spec clusterSpec) (*processCluster, error) {
	c := &processCluster{}
	fail := func(err error) (*processCluster, error) {
		stopCtx, cancel := context.WithTimeout(context.Background(), stopTimeout)
		defer cancel()
		return nil, errors.Join(err, c.stop(stopCtx))
	}
	if err := os.MkdirAll(spec.logDir, 0o755); err != nil {
		return nil, fmt.Errorf("node log directory: %w", err)
	}
	for i, dir := range spec.dirs {
		p, err := startProcess(binary, dir, filepath.Join(spec.logDir, fmt.Sprintf("node%d.log", i+1)), spec.settings)
		if err != nil {
			return fail(err)
		}
		c.procs = append(c.procs, p)
	}
	for _, p := range c.procs {
		if err := p.waitListening(ctx); err != nil {
			return fail(err)
		}
	}
	return c, nil
}

func startProcess(binary, dir, logPath string, s settings) (*nodeProcess, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	p := &nodeProcess{grpcAddr: ports[0], httpAddr: ports[1], logPath: logPath, exited: make(chan struct{})}
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("node log: %w", err)
	}
	defer logFile.Close() // the child has its own descriptor
	p.cmd = exec.Command(binary, nodeArgs(p.grpcAddr, p.httpAddr, dir, s)...)
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	// Its own process group keeps a Ctrl-C in the terminal from reaching
	// the node before the benchmark stops it in order; Pdeathsig kills it
	// if the benchmark itself dies.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", binary, err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// freePorts returns n loopback addresses whose ports were free a moment
// ago.
func freePorts(n int) ([]string, error) {
	var addrs []string
	for range n {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		addrs = append(addrs, lis.Addr().String())
		lis.Close()
	}
	return addrs, nil
}

// waitListening waits until the node accepts TCP connections on its gRPC
// address, and fails at once if it exits.
func (p *nodeProcess) waitListening(ctx context.Context) error {
	deadline := time.Now().Add(readyTimeout)
	for {
		c, err := net.DialTimeout("tcp", p.grpcAddr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("extent-node on %s exited at start: %v: %s", p.grpcAddr, p.waitErr, p.logTail())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("extent-node on %s not listening after %v: %s", p.grpcAddr, readyTimeout, p.logTail())
		}
	}
}

// logTail returns the end of the node's log, for error messages.
func (p *nodeProcess) logTail() string {
	raw, err := os.ReadFile(p.logPath)
	if err != nil {
		return "(no log)"
	}
	const tail = 2000
	if len(raw) > tail {
		raw = raw[len(raw)-tail:]
	}
	return strings.TrimSpace(string(raw))
}

func (c *processCluster) addrs() []string {
	var addrs []string
	for _, p := range c.procs {
		addrs = append(addrs, p.grpcAddr)
	}
	return addrs
}

func (c *processCluster) metricsAddrs() []string {
	var addrs []string
	for _, p := range c.procs {
		addrs = append(addrs, p.httpAddr)
	}
	return addrs
}

// failure reports nodes that exited while they should be running.
func (c *processCluster) failure() error {
	var errs []error
	for _, p := range c.procs {
		select {
		case <-p.exited:
			errs = append(errs, fmt.Errorf("extent-node on %s exited: %v: %s", p.grpcAddr, p.waitErr, p.logTail()))
		default:
		}
	}
	return errors.Join(errs...)
}

// stop sends every node SIGTERM, then SIGKILL to those still running when
// ctx ends, and waits for all.
func (c *processCluster) stop(ctx context.Context) error {
	for _, p := range c.procs {
		p.cmd.Process.Signal(syscall.SIGTERM)
	}
	var errs []error
	for _, p := range c.procs {
		select {
		case <-p.exited:
		case <-ctx.Done():
			p.cmd.Process.Kill()
			<-p.exited
			errs = append(errs, fmt.Errorf("extent-node on %s did not stop in time; killed", p.grpcAddr))
		}
		if p.waitErr != nil && !isSignalExit(p.waitErr) {
			errs = append(errs, fmt.Errorf("extent-node on %s: %w: %s", p.grpcAddr, p.waitErr, p.logTail()))
		}
	}
	c.procs = nil
	return errors.Join(errs...)
}

// isSignalExit says whether a process ended because of SIGTERM rather than
// failing by itself.
func isSignalExit(err error) bool {
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) {
		return false
	}
	status, ok := exitErr.Sys().(syscall.WaitStatus)
	return ok && status.Signaled() && status.Signal() == syscall.SIGTERM
}
