package proctest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Bounds that keep a stuck process from hanging a test.
const (
	// killWait bounds the wait for a process to be reaped after SIGKILL.
	killWait = 10 * time.Second
	// outputWait bounds, after exit, the copying of output that a
	// grandchild may still hold open.
	outputWait = 2 * time.Second
	// shownOutput is how much of a process's output a failing test shows
	// (the end of it).
	shownOutput = 64 << 10
)

// Process is a command started by Start. Its methods may be called from
// any goroutine.
type Process struct {
	name string
	t    testing.TB
	cmd  *exec.Cmd

	stdout, stderr *Output
	done           chan struct{} // closed once the process has exited and been reaped
	state          *os.ProcessState
	waitErr        error // set before done is closed
}

// Start runs bin with args as a child process named name (for logs) and
// returns at once. Its stdout and stderr are captured; when the test fails
// they are logged. The process is killed with SIGKILL and reaped by
// t.Cleanup if it is still running then.
func Start(t testing.TB, name, bin string, args ...string) *Process {
	t.Helper()
	p := &Process{
		name: name, t: t, cmd: exec.Command(bin, args...),
		stdout: newOutput(), stderr: newOutput(), done: make(chan struct{}),
	}
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	p.cmd.WaitDelay = outputWait
	setDeathSignal(p.cmd)
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("proctest: start %s: %v", name, err)
	}
	go func() {
		err := p.cmd.Wait()
		p.state, p.waitErr = p.cmd.ProcessState, err
		close(p.done)
	}()
	t.Cleanup(p.cleanup)
	t.Logf("started %s, pid %d: %s %s", name, p.PID(), bin, strings.Join(args, " "))
	return p
}

// Name is the name given to Start.
func (p *Process) Name() string { return p.name }

// PID is the process ID.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Stdout is what the process wrote to its standard output so far.
func (p *Process) Stdout() *Output { return p.stdout }

// Stderr is what the process wrote to its standard error so far.
func (p *Process) Stderr() *Output { return p.stderr }

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// ExitCode is the exit code of an exited process, or -1 if a signal ended
// it or it has not exited.
func (p *Process) ExitCode() int {
	if !p.Exited() {
		return -1
	}
	return p.state.ExitCode()
}

// describe says how the process ended, for errors.
func (p *Process) describe() string {
	if !p.Exited() {
		return p.name + " is running"
	}
	return fmt.Sprintf("%s %s", p.name, p.state)
}

// Signal sends sig to the process (by PID).
func (p *Process) Signal(sig os.Signal) error {
	if err := p.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("proctest: signal %s: %w", p.name, err)
	}
	return nil
}

// Wait waits up to timeout for the process to exit and returns its exit
// code (-1 when a signal ended it).
func (p *Process) Wait(timeout time.Duration) (int, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-p.done:
		return p.ExitCode(), nil
	case <-timer.C:
		return -1, fmt.Errorf("proctest: %s (pid %d) still running after %v", p.name, p.PID(), timeout)
	}
}

// Stop sends SIGTERM and waits up to timeout for the process to exit,
// returning its exit code. If it does not exit in time, it is killed and
// Stop returns an error.
func (p *Process) Stop(timeout time.Duration) (int, error) {
	if p.Exited() {
		return p.ExitCode(), nil
	}
	if err := p.Signal(syscall.SIGTERM); err != nil && !p.Exited() {
		return -1, err
	}
	code, err := p.Wait(timeout)
	if err != nil {
		p.Kill()
		return -1, fmt.Errorf("%w after SIGTERM; killed it", err)
	}
	return code, nil
}

// Kill sends SIGKILL and waits until the process is reaped. It fails the
// test if that takes longer than killWait.
func (p *Process) Kill() {
	p.t.Helper()
	KillAll(p.t, p)
}

// KillAll sends SIGKILL to every process first and only then waits for
// each, so that they die as close to together as signals allow.
func KillAll(t testing.TB, procs ...*Process) {
	t.Helper()
	for _, p := range procs {
		if !p.Exited() {
			// os.ErrProcessDone when it exited meanwhile; Wait tells.
			_ = p.cmd.Process.Kill()
		}
	}
	for _, p := range procs {
		if _, err := p.Wait(killWait); err != nil {
			t.Errorf("%v after SIGKILL", err)
		}
	}
}

// WaitReady polls until addr accepts TCP connections, the process exits
// (an error carrying its exit status and the end of its stderr) or timeout
// passes.
func (p *Process) WaitReady(addr string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var dialer net.Dialer
	retry := 5 * time.Millisecond
	for {
		attemptCtx, attemptCancel := context.WithTimeout(ctx, time.Second)
		c, err := dialer.DialContext(attemptCtx, "tcp", addr)
		attemptCancel()
		if err == nil {
			c.Close()
			return nil
		}
		timer := time.NewTimer(retry)
		select {
		case <-p.done:
			timer.Stop()
			return fmt.Errorf("proctest: %s exited before %s accepted connections: %s; stderr ends:\n%s",
				p.name, addr, p.describe(), tail(p.stderr.String(), 4096))
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("proctest: %s: %s accepts no connections after %v: %w", p.name, addr, timeout, err)
		case <-timer.C:
		}
		retry = min(2*retry, 100*time.Millisecond)
	}
}

// cleanup kills the process if it still runs, and shows its output when
// the test failed.
func (p *Process) cleanup() {
	if !p.Exited() {
		p.Kill()
	}
	if !p.t.Failed() {
		return
	}
	for _, o := range []struct {
		name string
		out  *Output
	}{{"stdout", p.stdout}, {"stderr", p.stderr}} {
		if s := o.out.String(); s != "" {
			p.t.Logf("%s (pid %d) %s:\n%s", p.name, p.PID(), o.name, tail(s, shownOutput))
		}
	}
}

// tail returns the last limit bytes of s, marked as cut if it was.
func tail(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	return fmt.Sprintf("[… %d bytes cut …]\n%s", len(s)-limit, s[len(s)-limit:])
}

// Output collects what a process writes to one of its streams.
type Output struct {
	mu      sync.Mutex
	buf     bytes.Buffer  // guarded by mu
	changed chan struct{} // guarded by mu; closed and replaced on every write
}

func newOutput() *Output { return &Output{changed: make(chan struct{})} }

// Write appends to the output; the process's copying goroutine calls it.
func (o *Output) Write(b []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buf.Write(b)
	close(o.changed)
	o.changed = make(chan struct{})
	return len(b), nil
}

// String is everything written so far.
func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// WaitFor waits up to timeout until the output contains substr.
func (o *Output) WaitFor(substr string, timeout time.Duration) error {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		o.mu.Lock()
		found, changed := strings.Contains(o.buf.String(), substr), o.changed
		o.mu.Unlock()
		if found {
			return nil
		}
		select {
		case <-changed:
		case <-timer.C:
			return fmt.Errorf("proctest: no %q in the output after %v", substr, timeout)
		}
	}
}

// FreeAddrs returns n distinct 127.0.0.1 addresses with free TCP ports. It
// holds every port open until all are chosen, then closes them: another
// process could still take one before the command binds it, so a command
// that fails with "address already in use" is a (rare) test flake, not a
// bug.
func FreeAddrs(t testing.TB, n int) []string {
	t.Helper()
	addrs := make([]string, 0, n)
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("proctest: find a free port: %v", err)
		}
		listeners = append(listeners, l)
		addrs = append(addrs, l.Addr().String())
	}
	return addrs
}

// FreeAddr returns one 127.0.0.1 address with a free TCP port; see
// FreeAddrs.
func FreeAddr(t testing.TB) string {
	t.Helper()
	return FreeAddrs(t, 1)[0]
}

// Result is how a command run by Run ended.
type Result struct {
	ExitCode int // -1 when a signal ended it
	Stdout   string
	Stderr   string
}

// Run runs bin with args to completion, for commands that end by
// themselves (a usage error, --version). It kills the command and fails the
// test if it runs longer than timeout.
func Run(t testing.TB, timeout time.Duration, bin string, args ...string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = outputWait
	setDeathSignal(cmd)
	err := cmd.Run()
	res := Result{Stdout: stdout.String(), Stderr: stderr.String(), ExitCode: -1}
	if cmd.ProcessState != nil {
		res.ExitCode = cmd.ProcessState.ExitCode()
	}
	if ctx.Err() != nil {
		t.Fatalf("proctest: %s %s ran longer than %v; killed it; stderr:\n%s", bin, strings.Join(args, " "), timeout, tail(res.Stderr, 4096))
	}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("proctest: run %s: %v", bin, err)
	}
	return res
}
