package proctest

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(RemoveBuildsAndExit))
}

// sleeper builds testdata/sleeper once.
func sleeper(t *testing.T) string {
	t.Helper()
	return Build(t, "./testdata/sleeper")
}

func TestBuildOnce(t *testing.T) {
	first := sleeper(t)
	var wg sync.WaitGroup
	paths := make([]string, 4)
	for i := range paths {
		wg.Go(func() { paths[i] = Build(t, "./testdata/sleeper") })
	}
	wg.Wait()
	for _, p := range paths {
		if p != first {
			t.Fatalf("second build at %s, first at %s", p, first)
		}
	}
	if !strings.HasSuffix(first, "/sleeper") {
		t.Fatalf("binary %s is not named after its package", first)
	}
}

func TestStartWaitReadyStop(t *testing.T) {
	addr := FreeAddr(t)
	p := Start(t, "sleeper", sleeper(t), "serve", addr)
	if err := p.WaitReady(addr, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := p.Stderr().WaitFor("ready", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	code, err := p.Stop(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0", code)
	}
	if !strings.Contains(p.Stderr().String(), "bye") {
		t.Fatalf("stderr %q lacks the goodbye", p.Stderr())
	}
}

func TestKillAll(t *testing.T) {
	addrs := FreeAddrs(t, 2)
	var procs []*Process
	for i, addr := range addrs {
		p := Start(t, fmt.Sprint("sleeper", i), sleeper(t), "stubborn", addr)
		if err := p.WaitReady(addr, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		procs = append(procs, p)
	}
	KillAll(t, procs...)
	for _, p := range procs {
		if !p.Exited() || p.ExitCode() != -1 {
			t.Fatalf("%s after SIGKILL: exited %v, code %d", p.Name(), p.Exited(), p.ExitCode())
		}
	}
	procs[0].Kill() // killing a dead process is fine
}

func TestStopKillsAfterTimeout(t *testing.T) {
	addr := FreeAddr(t)
	p := Start(t, "stubborn", sleeper(t), "stubborn", addr)
	if err := p.WaitReady(addr, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	if _, err := p.Stop(300 * time.Millisecond); err == nil {
		t.Fatal("Stop of a process that ignores SIGTERM succeeded")
	}
	if !p.Exited() {
		t.Fatal("still running after Stop gave up")
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Fatalf("Stop took %v", took)
	}
}

func TestWaitReadyNoticesExit(t *testing.T) {
	addr := FreeAddr(t)
	p := Start(t, "quitter", sleeper(t), "exit", "3")
	err := p.WaitReady(addr, 10*time.Second)
	if err == nil || !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), "exiting") {
		t.Fatalf("WaitReady = %v, want the exit status and stderr", err)
	}
	if code, err := p.Wait(time.Second); err != nil || code != 3 {
		t.Fatalf("Wait = %d, %v; want 3", code, err)
	}
}

func TestWaitReadyTimesOut(t *testing.T) {
	addr := FreeAddr(t)
	// Serves elsewhere: nothing listens on addr.
	other := FreeAddr(t)
	p := Start(t, "elsewhere", sleeper(t), "serve", other)
	if err := p.WaitReady(addr, 200*time.Millisecond); err == nil {
		t.Fatal("WaitReady on a closed port succeeded")
	}
}

func TestRun(t *testing.T) {
	res := Run(t, 10*time.Second, sleeper(t), "exit", "7")
	if res.ExitCode != 7 || res.Stderr != "exiting\n" {
		t.Fatalf("Run = %+v", res)
	}
	res = Run(t, 10*time.Second, sleeper(t), "print", "hello")
	if res.ExitCode != 0 || res.Stdout != "hello\n" {
		t.Fatalf("Run = %+v", res)
	}
}

func TestFreeAddrs(t *testing.T) {
	addrs := FreeAddrs(t, 8)
	seen := map[string]bool{}
	for _, a := range addrs {
		if seen[a] {
			t.Fatalf("%s twice", a)
		}
		seen[a] = true
		l, err := net.Listen("tcp", a)
		if err != nil {
			t.Fatalf("free address %s: %v", a, err)
		}
		l.Close()
	}
}

// failedTB is a test that has failed, recording what is logged; its
// cleanups run when the fake test ends.
type failedTB struct {
	*testing.T
	mu       sync.Mutex
	logs     []string
	cleanups []func()
}

func (f *failedTB) Failed() bool { return true }
func (f *failedTB) Helper()      {}
func (f *failedTB) Cleanup(fn func()) {
	f.cleanups = append(f.cleanups, fn)
}
func (f *failedTB) Logf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logs = append(f.logs, fmt.Sprintf(format, args...))
}

func (f *failedTB) end() {
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
}

func TestFailedTestShowsOutputAndKills(t *testing.T) {
	addr := FreeAddr(t)
	bin := sleeper(t)
	fake := &failedTB{T: t}
	p := Start(fake, "shown", bin, "stubborn", addr)
	if err := p.WaitReady(addr, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := p.Stderr().WaitFor("ready", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	fake.end()
	if !p.Exited() {
		t.Fatal("cleanup left the process running")
	}
	logs := strings.Join(fake.logs, "\n")
	if !strings.Contains(logs, "shown") || !strings.Contains(logs, "stderr:\nready") {
		t.Fatalf("a failed test logged %q, want the process's stderr", logs)
	}
}
