//go:build linux

package e2e

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/clogs-io/clogs/clogs"
	"github.com/clogs-io/clogs/internal/proctest"
	"github.com/clogs-io/clogs/streamclient"
	"github.com/clogs-io/clogs/streammanager"
)

// repoRoot is the module's top directory, where the Procfiles live.
const repoRoot = "../.."

// interruptBound is how soon goreman and every process it started must be
// gone after Ctrl-C.
const interruptBound = 15 * time.Second

// procEntry is one line of a Procfile: a name and a command split at
// spaces (Procfiles here use no quoting).
type procEntry struct {
	name string
	args []string
}

// parseProcfile reads Procfile lines the way goreman does: "name: command",
// skipping lines without a colon and names starting with '#'.
func parseProcfile(text string) []procEntry {
	var entries []procEntry
	for line := range strings.SplitSeq(text, "\n") {
		name, cmd, ok := strings.Cut(line, ":")
		if !ok || name == "" || name[0] == '#' {
			continue
		}
		entries = append(entries, procEntry{name: strings.TrimSpace(name), args: strings.Fields(cmd)})
	}
	return entries
}

// runs reports whether the entry runs command from ./bin.
func (e procEntry) runs(command string) bool {
	return len(e.args) > 0 && e.args[0] == "./bin/"+command
}

// flag returns the value of --name (as "--name value" or "--name=value"),
// or "".
func (e procEntry) flag(name string) string {
	for i, a := range e.args {
		if a == "--"+name && i+1 < len(e.args) {
			return e.args[i+1]
		}
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v
		}
	}
	return ""
}

// byCommand picks the stream managers and extent-nodes out of entries,
// failing on a command not run from ./bin (where `make build` puts them).
func byCommand(t *testing.T, entries []procEntry) (managers, nodes []procEntry) {
	t.Helper()
	for _, e := range entries {
		switch {
		case len(e.args) == 0 || !strings.HasPrefix(e.args[0], "./bin/"):
			t.Fatalf("Procfile entry %s runs %q, not a command from ./bin", e.name, e.args)
		case e.runs("stream-manager"):
			managers = append(managers, e)
		case e.runs("extent-node"):
			nodes = append(nodes, e)
		}
	}
	return managers, nodes
}

// checkDistinct fails if two entries share a value of flag.
func checkDistinct(t *testing.T, file, flag string, entries []procEntry) {
	t.Helper()
	seen := map[string]string{}
	for _, e := range entries {
		v := e.flag(flag)
		if v == "" {
			t.Fatalf("%s: %s has no --%s", file, e.name, flag)
		}
		if other, dup := seen[v]; dup {
			t.Fatalf("%s: %s and %s share --%s %s", file, other, e.name, flag, v)
		}
		seen[v] = e.name
	}
}

// checkNodesFollow checks that every node names exactly the managers.
func checkNodesFollow(t *testing.T, file string, nodes, managers []procEntry) {
	t.Helper()
	var want []string
	for _, m := range managers {
		want = append(want, m.flag("listen"))
	}
	slices.Sort(want)
	for _, n := range nodes {
		got := strings.Split(n.flag("sm"), ",")
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s: %s has --sm %s; want the managers %s", file, n.name, n.flag("sm"), strings.Join(want, ","))
		}
	}
	checkDistinct(t, file, "listen", append(slices.Clone(managers), nodes...))
	checkDistinct(t, file, "http", append(slices.Clone(managers), nodes...))
	checkDistinct(t, file, "disk", nodes)
}

// makeRunShape checks the shape `make run` promises (README): one stream
// manager and three extent-nodes that report to it.
func makeRunShape(t *testing.T, entries []procEntry) (manager procEntry, nodes []procEntry) {
	t.Helper()
	managers, nodes := byCommand(t, entries)
	if len(managers) != 1 || len(nodes) != 3 {
		t.Fatalf("Procfile has %d stream managers and %d extent-nodes; make run promises 1 and 3", len(managers), len(nodes))
	}
	checkNodesFollow(t, "Procfile", nodes, managers)
	return managers[0], nodes
}

var loopbackAddr = regexp.MustCompile(`127\.0\.0\.1:\d+`)

// rewriteProcfile makes text runnable beside other tests: every stream
// manager names its embedded etcd's ports (the defaults when the Procfile
// leaves them out), and every 127.0.0.1 port becomes a free one, the same
// port for the same address throughout. It returns the new text and the
// new address of every old one.
func rewriteProcfile(t *testing.T, text string) (string, map[string]string) {
	t.Helper()
	var lines []string
	for line := range strings.SplitSeq(text, "\n") {
		entries := parseProcfile(line)
		if len(entries) == 1 && entries[0].runs("stream-manager") && entries[0].flag("etcd-client-url") == "" {
			name := cmp.Or(entries[0].flag("name"), "sm1")
			line += " --etcd-client-url http://127.0.0.1:2379 --etcd-peer-url http://127.0.0.1:2380 --initial-cluster " + name + "=http://127.0.0.1:2380"
		}
		lines = append(lines, line)
	}
	text = strings.Join(lines, "\n")
	old := slices.Compact(slices.Sorted(slices.Values(loopbackAddr.FindAllString(text, -1))))
	fresh := proctest.FreeAddrs(t, len(old))
	moved := map[string]string{}
	for i, a := range old {
		moved[a] = fresh[i]
	}
	return loopbackAddr.ReplaceAllStringFunc(text, func(a string) string { return moved[a] }), moved
}

// TestProcfileHAShape: Procfile.ha is three stream managers forming one
// etcd cluster and three extent-nodes that know all three.
func TestProcfileHAShape(t *testing.T) {
	text, err := os.ReadFile(filepath.Join(repoRoot, "Procfile.ha"))
	if err != nil {
		t.Fatal(err)
	}
	managers, nodes := byCommand(t, parseProcfile(string(text)))
	if len(managers) != 3 || len(nodes) != 3 {
		t.Fatalf("Procfile.ha has %d stream managers and %d extent-nodes; want 3 and 3", len(managers), len(nodes))
	}
	checkNodesFollow(t, "Procfile.ha", nodes, managers)
	for _, flag := range []string{"name", "data-dir", "etcd-client-url", "etcd-peer-url"} {
		checkDistinct(t, "Procfile.ha", flag, managers)
	}
	var members []string
	for _, m := range managers {
		members = append(members, m.flag("name")+"="+m.flag("etcd-peer-url"))
	}
	for _, m := range managers {
		if got := m.flag("initial-cluster"); got != strings.Join(members, ",") {
			t.Errorf("Procfile.ha: %s has --initial-cluster %q; want %q on every manager", m.name, got, strings.Join(members, ","))
		}
	}
}

// TestMakeRun is the `make run` smoke test: the real Procfile, with its
// ports moved to free ones and run in a temporary directory, starts under
// goreman; a stream can be created, written and read; and Ctrl-C stops
// goreman and every process it started, cleanly, within interruptBound.
func TestMakeRun(t *testing.T) {
	ctx := testContext(t, 90*time.Second)
	text, err := os.ReadFile(filepath.Join(repoRoot, "Procfile"))
	if err != nil {
		t.Fatal(err)
	}
	entries := parseProcfile(string(text))
	manager, nodes := makeRunShape(t, entries)
	rewritten, moved := rewriteProcfile(t, string(text))
	dir := t.TempDir()
	buildCommands(ctx, t, dir)
	if err := os.WriteFile(filepath.Join(dir, "Procfile"), []byte(rewritten), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("Procfile as run in %s:\n%s", dir, rewritten)

	g := startGoreman(t, dir)
	smGRPC, smHTTP := moved[manager.flag("listen")], moved[manager.flag("http")]
	waitStatusAlive(ctx, t, g, smHTTP, len(nodes))
	writeAndRead(ctx, t, smGRPC)
	sendThroughCollector(ctx, t, entries, moved, smGRPC)
	g.interrupt(t)
	g.checkStoppedCleanly(t, entries, len(nodes))
}

// sendThroughCollector sends a log line to the Procfile's collector
// (its port moved like the others) and reads it back from its stream.
func sendThroughCollector(ctx context.Context, t *testing.T, entries []procEntry, moved map[string]string, smGRPC string) {
	t.Helper()
	var udp string
	for _, e := range entries {
		if e.runs("clogs-collector") {
			udp = moved[e.flag("listen")]
		}
	}
	if udp == "" {
		t.Fatal("the Procfile runs no clogs-collector")
	}
	s := newLineSender(t, udp)
	checkPong(t, s.conn) // the collector is up
	if !s.send() {
		t.Fatal("the collector refused a line")
	}
	cl := newClient(t, smGRPC)
	for {
		if lines, err := readStream(ctx, cl, "core/pay.log"); err == nil && len(lines) > 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatal("the line sent to the collector never reached stream core/pay.log")
		case <-time.After(pollEvery):
		}
	}
}

// buildCommands builds every command into dir/bin, as `make build` does
// into ./bin.
func buildCommands(ctx context.Context, t *testing.T, dir string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(dir, "bin")+"/", "./cmd/...")
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/...: %v\n%s", err, out)
	}
}

// writeAndRead creates a stream through the manager at addr, appends
// three blocks and reads them back.
func writeAndRead(ctx context.Context, t *testing.T, addr string) {
	t.Helper()
	cl := newClient(t, addr)
	w, err := cl.OpenWriter(ctx, "e2e/make-run")
	if err != nil {
		t.Fatal(err)
	}
	var acked []streamclient.Address
	for seq := range 3 {
		addrs, err := w.Append(ctx, testBlock(seq))
		if err != nil {
			t.Fatalf("append %d: %v", seq, err)
		}
		acked = append(acked, addrs...)
	}
	checkBlocks(t, "make run", readAll(ctx, t, cl, "e2e/make-run"), acked)
}

// waitStatusAlive polls the manager's /status at addr until it shows want
// alive nodes.
func waitStatusAlive(ctx context.Context, t *testing.T, g *goreman, addr string, want int) {
	t.Helper()
	web := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	for {
		st, err := getStatus(ctx, web, addr)
		alive := 0
		for _, n := range st.Nodes {
			if n.GetAlive() {
				alive++
			}
		}
		if err == nil && alive >= want && st.IsLeader {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("/status at %s: %d of %d nodes alive, leader %v, error %v", addr, alive, want, st.IsLeader, err)
		case <-g.done:
			t.Fatalf("goreman exited while the cluster started: %v", g.waitErr)
		case <-time.After(pollEvery):
		}
	}
}

func getStatus(ctx context.Context, web *http.Client, addr string) (streammanager.Status, error) {
	var st streammanager.Status
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/status", nil)
	if err != nil {
		return st, err
	}
	resp, err := web.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("GET /status: %s", resp.Status)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// goreman is `go tool goreman` running a Procfile, in a process group of
// its own as a shell's job would be: go, and goreman under it. (goreman
// puts each of its processes in a group of their own.)
type goreman struct {
	cmd     *exec.Cmd
	out     syncBuffer
	done    chan struct{}
	waitErr error // set before done is closed
	started []int // every process under it, found when the cluster ran
}

// startGoreman runs `go tool goreman start` on dir/Procfile from the
// module (where the tool is pinned), without its RPC server (a fixed port
// on all interfaces). Cleanup kills whatever still runs, by PID.
func startGoreman(t *testing.T, dir string) *goreman {
	t.Helper()
	g := &goreman{done: make(chan struct{})}
	g.cmd = exec.Command("go", "tool", "goreman", "-basedir", dir, "-rpc-server=false", "-f", "Procfile", "start")
	g.cmd.Dir = repoRoot
	g.cmd.Stdout, g.cmd.Stderr = &g.out, &g.out
	g.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	g.cmd.WaitDelay = 2 * time.Second
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		g.waitErr = g.cmd.Wait()
		close(g.done)
	}()
	t.Cleanup(func() { g.cleanup(t) })
	t.Logf("started goreman, pid %d", g.cmd.Process.Pid)
	return g
}

// interrupt sends SIGINT to goreman's process group, as Ctrl-C in a
// terminal does, after noting every process under it.
func (g *goreman) interrupt(t *testing.T) {
	t.Helper()
	g.started = descendants(g.cmd.Process.Pid)
	t.Logf("processes under goreman: %v", g.started)
	if err := syscall.Kill(-g.cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
}

// checkStoppedCleanly waits up to interruptBound for goreman to exit 0,
// then checks that every process it started is gone and that each logged
// its clean shutdown.
func (g *goreman) checkStoppedCleanly(t *testing.T, entries []procEntry, nodes int) {
	t.Helper()
	began := time.Now()
	select {
	case <-g.done:
	case <-time.After(interruptBound):
		t.Fatalf("goreman still runs %v after SIGINT", interruptBound)
	}
	t.Logf("goreman and its processes stopped %v after SIGINT", time.Since(began).Round(time.Millisecond))
	if g.waitErr != nil {
		t.Errorf("goreman after SIGINT: %v; want exit 0", g.waitErr)
	}
	for _, pid := range g.started {
		if running(pid) {
			t.Errorf("process %d, started under goreman, still runs after goreman exited", pid)
		}
	}
	out := g.out.String()
	if n := strings.Count(out, "stream-manager stopped"); n != 1 {
		t.Errorf("%d stream managers logged a clean stop, want 1", n)
	}
	if n := strings.Count(out, "extent-node stopped"); n != nodes {
		t.Errorf("%d extent-nodes logged a clean stop, want %d", n, nodes)
	}
	if n := strings.Count(out, "clogs-collector stopped"); n != 1 {
		t.Errorf("%d collectors logged a clean stop, want 1", n)
	}
	for _, e := range entries {
		if !strings.Contains(out, "Terminating "+e.name) {
			t.Errorf("goreman did not report %s ending", e.name)
		}
	}
	if strings.Contains(out, "panic:") || strings.Contains(out, "DATA RACE") {
		t.Errorf("a process panicked or raced")
	}
	if t.Failed() {
		t.Logf("goreman's output:\n%s", out)
	}
}

// cleanup kills goreman's group and every process under it, by PID, if
// goreman still runs.
func (g *goreman) cleanup(t *testing.T) {
	select {
	case <-g.done:
		return
	default:
	}
	pids := descendants(g.cmd.Process.Pid)
	syscall.Kill(-g.cmd.Process.Pid, syscall.SIGKILL)
	for _, pid := range pids {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	select {
	case <-g.done:
	case <-time.After(10 * time.Second):
		t.Errorf("goreman (pid %d) not reaped 10s after SIGKILL", g.cmd.Process.Pid)
	}
	t.Logf("killed goreman and the processes under it %v; its output:\n%s", pids, g.out.String())
}

// descendants lists the processes under pid, from /proc.
func descendants(pid int) []int {
	children := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if parent, ok := parentPID(child); ok {
			children[parent] = append(children[parent], child)
		}
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		next := children[queue[0]]
		queue = append(queue[1:], next...)
		out = append(out, next...)
	}
	return out
}

// parentPID reads the parent of pid from /proc/<pid>/stat.
func parentPID(pid int) (int, bool) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// The command name, in parentheses, may hold spaces and parentheses:
	// skip past the last closing one.
	i := bytes.LastIndex(stat, []byte(") "))
	if i < 0 {
		return 0, false
	}
	fields := strings.Fields(string(stat[i+2:]))
	if len(fields) < 2 {
		return 0, false
	}
	parent, err := strconv.Atoi(fields[1])
	return parent, err == nil
}

// running reports whether pid exists and is not a zombie.
func running(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if errors.Is(err, os.ErrNotExist) {
		return false
	}
	i := bytes.LastIndex(stat, []byte(") "))
	return err != nil || i < 0 || len(stat) <= i+2 || stat[i+2] != 'Z'
}

// syncBuffer is a bytes.Buffer that goroutines may write concurrently.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer // guarded by mu
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestSenderConfigMatchesProcfile: the repository's clogs.yaml, which the
// README's tour hands to clogs-cli, names the collector the Procfile runs.
func TestSenderConfigMatchesProcfile(t *testing.T) {
	cfg, err := clogs.LoadSenderConfig(filepath.Join(repoRoot, "clogs.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile(filepath.Join(repoRoot, "Procfile"))
	if err != nil {
		t.Fatal(err)
	}
	var listen string
	for _, e := range parseProcfile(string(text)) {
		if e.runs("clogs-collector") {
			listen = e.flag("listen")
		}
	}
	if len(cfg.Collectors) != 1 || cfg.Collectors[0].Addr != listen {
		t.Fatalf("clogs.yaml names %+v; the Procfile's collector listens on %q", cfg.Collectors, listen)
	}
}
