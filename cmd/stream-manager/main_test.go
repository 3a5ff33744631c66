package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"

	"github.com/clogs-io/clogs/conn"
	"github.com/clogs-io/clogs/internal/proctest"
	clogspb "github.com/clogs-io/clogs/proto"
	"github.com/clogs-io/clogs/streammanager"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(proctest.RemoveBuildsAndExit))
}

// Bounds on waits; generous, because the managers run with the race
// detector when the tests do.
const (
	// readyTimeout: an embedded member serves only once a quorum of its
	// cluster is up.
	readyTimeout  = 60 * time.Second
	stopTimeout   = 20 * time.Second
	rpcTimeout    = 10 * time.Second
	leaderTimeout = 20 * time.Second
	// failoverBound is how soon a survivor must lead after the leader is
	// killed, with sessionTTL below.
	failoverBound = 10 * time.Second
	// sessionTTL keeps failover quick.
	sessionTTL = "2s"
)

// manager is one stream-manager process: its name, addresses and data
// directory stay the same across restarts.
type manager struct {
	name      string
	grpc      string
	http      string
	clientURL string
	peerURL   string
	dir       string
	proc      *proctest.Process
}

// managers is a set of stream-manager processes forming one embedded etcd
// cluster.
type managers struct {
	t              *testing.T
	bin            string
	initialCluster string
	ms             []*manager
	pool           *conn.Pool
	web            *http.Client
}

// newManagers starts n managers as one etcd cluster and waits until each
// serves gRPC.
func newManagers(t *testing.T, n int) *managers {
	t.Helper()
	addrs := proctest.FreeAddrs(t, 4*n)
	root := t.TempDir()
	c := &managers{t: t, bin: proctest.Build(t, ".")}
	var members []string
	for i := range n {
		name := fmt.Sprintf("sm%d", i+1)
		m := &manager{
			name: name, grpc: addrs[4*i], http: addrs[4*i+1],
			clientURL: "http://" + addrs[4*i+2], peerURL: "http://" + addrs[4*i+3],
			dir: filepath.Join(root, name),
		}
		c.ms = append(c.ms, m)
		members = append(members, name+"="+m.peerURL)
	}
	c.initialCluster = strings.Join(members, ",")
	cfg := conn.DefaultConfig()
	cfg.DialTimeout = 5 * time.Second
	pool, err := conn.NewPool(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.pool = pool
	// No keep-alive: no idle connection outlives a test (goleak).
	c.web = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	t.Cleanup(func() { pool.Close() })
	c.startAll()
	return c
}

// startAll starts every manager that is not running, all at once (a
// member waits for a quorum of its peers), and waits until each serves
// gRPC.
func (c *managers) startAll() {
	c.t.Helper()
	var started []*manager
	for _, m := range c.ms {
		if m.proc == nil || m.proc.Exited() {
			c.launch(m)
			started = append(started, m)
		}
	}
	for _, m := range started {
		if err := m.proc.WaitReady(m.grpc, readyTimeout); err != nil {
			c.t.Fatal(err)
		}
	}
}

func (c *managers) launch(m *manager) {
	c.t.Helper()
	m.proc = proctest.Start(c.t, m.name, c.bin,
		"--name", m.name, "--listen", m.grpc, "--http", m.http, "--data-dir", m.dir,
		"--etcd-client-url", m.clientURL, "--etcd-peer-url", m.peerURL, "--initial-cluster", c.initialCluster,
		"--session-ttl", sessionTTL, "--node-dead-after", "3s", "--seal-timeout", "2s")
	// A connection to the previous process would wait out gRPC's backoff.
	c.pool.Remove(m.grpc)
}

// status reads manager i's /status page.
func (c *managers) status(i int) (streammanager.Status, error) {
	var st streammanager.Status
	resp, err := c.web.Get("http://" + c.ms[i].http + "/status")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("GET /status: %s", resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return st, fmt.Errorf("GET /status: %w", err)
	}
	return st, nil
}

// waitLeader polls the /status of the managers among until one of them
// says it leads, and returns it. It fails the test after timeout.
func (c *managers) waitLeader(among []int, timeout time.Duration) int {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var seen []string
		for _, i := range among {
			st, err := c.status(i)
			if err == nil && st.IsLeader {
				return i
			}
			seen = append(seen, fmt.Sprintf("%s: leader %q, err %v", c.ms[i].name, st.Leader, err))
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("no leader after %v: %s", timeout, strings.Join(seen, "; "))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// client returns a StreamManager client for manager i.
func (c *managers) client(i int) clogspb.StreamManagerClient {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), rpcTimeout)
	defer cancel()
	cc, err := c.pool.Get(ctx, c.ms[i].grpc)
	if err != nil {
		c.t.Fatalf("%s: %v", c.ms[i].name, err)
	}
	return clogspb.NewStreamManagerClient(cc)
}

func rpcContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), rpcTimeout)
	t.Cleanup(cancel)
	return ctx
}

// createStream creates a stream (or finds it) and returns its ID.
func createStream(t *testing.T, sm clogspb.StreamManagerClient, name string) uint64 {
	t.Helper()
	resp, err := sm.CreateStream(rpcContext(t), &clogspb.CreateStreamRequest{Name: name})
	if err != nil {
		t.Fatalf("create stream %s: %v", name, err)
	}
	if resp.Stream.GetName() != name || resp.Stream.GetId() == 0 {
		t.Fatalf("create stream %s: got %v", name, resp.Stream)
	}
	return resp.Stream.Id
}

// allocIDs allocates count IDs and returns the first and the last.
func allocIDs(t *testing.T, sm clogspb.StreamManagerClient, count uint32) (first, last uint64) {
	t.Helper()
	resp, err := sm.AllocID(rpcContext(t), &clogspb.AllocIDRequest{Count: count})
	if err != nil {
		t.Fatalf("alloc %d IDs: %v", count, err)
	}
	if resp.Count != count || resp.First == 0 {
		t.Fatalf("alloc %d IDs: got %v", count, resp)
	}
	return resp.First, resp.First + uint64(count) - 1
}

// checkStreams checks that the leader has exactly the streams in want,
// under the same IDs.
func checkStreams(t *testing.T, sm clogspb.StreamManagerClient, want map[string]uint64) {
	t.Helper()
	for name, id := range want {
		resp, err := sm.StreamInfo(rpcContext(t), &clogspb.StreamInfoRequest{Stream: &clogspb.StreamInfoRequest_Name{Name: name}})
		if err != nil {
			t.Fatalf("stream %s: %v", name, err)
		}
		if resp.Stream.Id != id {
			t.Errorf("stream %s has ID %d, was %d", name, resp.Stream.Id, id)
		}
		byID, err := sm.StreamInfo(rpcContext(t), &clogspb.StreamInfoRequest{Stream: &clogspb.StreamInfoRequest_Id{Id: id}})
		if err != nil || byID.Stream.Name != name {
			t.Errorf("stream %d: %v, %v; want %s", id, byID.GetStream(), err, name)
		}
	}
	list, err := sm.ListStreams(rpcContext(t), &clogspb.ListStreamsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Streams) != len(want) {
		t.Errorf("%d streams listed, want %d: %v", len(list.Streams), len(want), list.Streams)
	}
}

func TestRestartKeepsState(t *testing.T) {
	c := newManagers(t, 1)
	c.waitLeader([]int{0}, leaderTimeout)
	sm := c.client(0)
	streams := map[string]uint64{}
	var highest uint64 // the largest ID handed out so far
	handedOut := func(ids ...uint64) {
		for _, id := range ids {
			highest = max(highest, id)
		}
	}
	for _, name := range []string{"app/web", "app/db", "syslog/sshd"} {
		id := createStream(t, sm, name)
		for other, otherID := range streams {
			if otherID == id {
				t.Fatalf("streams %s and %s share ID %d", name, other, id)
			}
		}
		streams[name] = id
		handedOut(id)
	}
	if again := createStream(t, sm, "app/web"); again != streams["app/web"] {
		t.Fatalf("creating app/web again gave ID %d, first %d", again, streams["app/web"])
	}
	// More than one reservation batch (100 IDs) at once.
	first, last := allocIDs(t, sm, 250)
	if first <= highest {
		t.Fatalf("IDs %d-%d overlap the IDs handed out before (up to %d)", first, last, highest)
	}
	handedOut(last)

	// Each restart must find every stream under its ID, and hand out only
	// IDs above every ID handed out before it.
	restartAndCheck := func(how string, name string) {
		t.Helper()
		began := time.Now()
		c.startAll()
		c.waitLeader([]int{0}, leaderTimeout)
		t.Logf("after %s: leading again %v after the restart", how, time.Since(began).Round(time.Millisecond))
		st, err := c.status(0)
		if err != nil {
			t.Fatal(err)
		}
		if st.Streams != len(streams) || st.Addr != c.ms[0].grpc || st.Leader != c.ms[0].grpc || st.Name != "sm1" {
			t.Fatalf("after %s: /status %+v; want %d streams, addr and leader %s", how, st, len(streams), c.ms[0].grpc)
		}
		sm := c.client(0)
		checkStreams(t, sm, streams)
		id := createStream(t, sm, name)
		first, last := allocIDs(t, sm, 5)
		if id <= highest || first <= highest {
			t.Fatalf("after %s: new stream ID %d and IDs %d-%d; IDs up to %d were handed out before", how, id, first, last, highest)
		}
		streams[name] = id
		handedOut(id, last)
	}

	code, err := c.ms[0].proc.Stop(stopTimeout)
	if err != nil {
		t.Fatal(err)
	}
	if code != exitOK || !strings.Contains(c.ms[0].proc.Stderr().String(), "stream-manager stopped") {
		t.Fatalf("exit %d after SIGTERM; want 0 after a clean shutdown", code)
	}
	restartAndCheck("SIGTERM", "app/after-term")

	c.ms[0].proc.Kill()
	restartAndCheck("SIGKILL", "app/after-kill")

	// SIGINT (Ctrl-C) stops it cleanly too.
	p := c.ms[0].proc
	if err := p.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if code, err := p.Wait(stopTimeout); err != nil || code != exitOK {
		t.Fatalf("after SIGINT: exit %d, %v; want 0", code, err)
	}
}

func TestThreeManagersFailover(t *testing.T) {
	c := newManagers(t, 3)
	all := []int{0, 1, 2}
	leader := c.waitLeader(all, leaderTimeout)
	t.Logf("%s leads", c.ms[leader].name)
	for _, i := range all {
		st, err := c.status(i)
		if err != nil {
			t.Fatal(err)
		}
		if st.IsLeader != (i == leader) || st.Leader != c.ms[leader].grpc || len(st.Members) != 3 {
			t.Fatalf("%s /status: %+v; want leader %s and 3 members", c.ms[i].name, st, c.ms[leader].grpc)
		}
	}
	sm := c.client(leader)
	id := createStream(t, sm, "app/failover")
	_, highest := allocIDs(t, sm, 10)
	highest = max(highest, id)

	killed := time.Now()
	c.ms[leader].proc.Kill()
	var survivors []int
	for _, i := range all {
		if i != leader {
			survivors = append(survivors, i)
		}
	}
	newLeader := c.waitLeader(survivors, failoverBound)
	t.Logf("%s leads %v after %s was killed", c.ms[newLeader].name, time.Since(killed).Round(time.Millisecond), c.ms[leader].name)
	follower := survivors[0]
	if follower == newLeader {
		follower = survivors[1]
	}

	sm = c.client(newLeader)
	checkStreams(t, sm, map[string]uint64{"app/failover": id})
	if first, _ := allocIDs(t, sm, 1); first <= highest {
		t.Fatalf("the new leader handed out ID %d; IDs up to %d were handed out before", first, highest)
	}

	// A follower refuses writes and names the leader.
	_, err := c.client(follower).CreateStream(rpcContext(t), &clogspb.CreateStreamRequest{Name: "app/elsewhere"})
	checkNotLeader(t, c.ms[follower].name, err, c.ms[newLeader].grpc)
	_, err = sm.StreamInfo(rpcContext(t), &clogspb.StreamInfoRequest{Stream: &clogspb.StreamInfoRequest_Name{Name: "app/elsewhere"}})
	if !errors.Is(streammanager.FromStatus(err), streammanager.ErrNotFound) {
		t.Fatalf("the stream a follower refused: %v; want not found", err)
	}

	// The killed manager rejoins as a follower.
	c.startAll()
	deadline := time.Now().Add(leaderTimeout)
	for {
		st, err := c.status(leader)
		if err == nil && st.Leader == c.ms[newLeader].grpc && !st.IsLeader {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("restarted %s: /status %+v, %v; want a follower of %s", c.ms[leader].name, st, err, c.ms[newLeader].grpc)
		}
		time.Sleep(50 * time.Millisecond)
	}
	_, err = c.client(leader).CreateStream(rpcContext(t), &clogspb.CreateStreamRequest{Name: "app/elsewhere"})
	checkNotLeader(t, c.ms[leader].name+" restarted", err, c.ms[newLeader].grpc)
}

// checkNotLeader checks that err is a follower's "not leader" naming
// leader.
func checkNotLeader(t *testing.T, who string, err error, leader string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s accepted a write as a follower", who)
	}
	var re *streammanager.RemoteError
	remote := streammanager.FromStatus(err)
	if !errors.As(remote, &re) || !errors.Is(remote, streammanager.ErrNotLeader) || re.Reason != "not-leader" ||
		(re.Code != codes.Unavailable && re.Code != codes.FailedPrecondition) {
		t.Fatalf("%s: %v; want Unavailable or FailedPrecondition not-leader", who, err)
	}
	if re.Leader != leader {
		t.Fatalf("%s: not-leader names leader %q, want %q", who, re.Leader, leader)
	}
}

// TestSignalWhileStarting: a member of a three-member cluster whose peers
// are not up waits for them; a signal ends that wait at once.
func TestSignalWhileStarting(t *testing.T) {
	bin := proctest.Build(t, ".")
	addrs := proctest.FreeAddrs(t, 6)
	cluster := fmt.Sprintf("sm1=http://%s,sm2=http://%s,sm3=http://%s", addrs[3], addrs[4], addrs[5])
	p := proctest.Start(t, "sm1", bin, "--listen", addrs[0], "--http", addrs[1], "--data-dir", filepath.Join(t.TempDir(), "sm1"),
		"--etcd-client-url", "http://"+addrs[2], "--etcd-peer-url", "http://"+addrs[3], "--initial-cluster", cluster)
	if err := p.Stderr().WaitFor("stream-manager starting", readyTimeout); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // into the wait for the peers
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	code, err := p.Wait(stopTimeout)
	if err != nil {
		t.Fatal(err)
	}
	stderr := strings.TrimSpace(p.Stderr().String())
	last := stderr[strings.LastIndex(stderr, "\n")+1:]
	if code != exitFailure || !strings.HasPrefix(last, "stream-manager: stopped while starting (signal: terminated)") {
		t.Fatalf("exit %d after SIGTERM while waiting for peers, last line %q; want 1 and why", code, last)
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Fatalf("took %v to exit", took)
	}
}

func TestBadFlags(t *testing.T) {
	bin := proctest.Build(t, ".")
	dir := t.TempDir()
	file := filepath.Join(dir, "a-file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// Not defer: the parallel subtests run after this function returns.
	t.Cleanup(func() { busy.Close() })
	busyAddr := busy.Addr().String()
	twice := proctest.FreeAddr(t)

	cases := []struct {
		name string
		args []string
		want []string // each must be in the error line
		// started: the manager gets as far as starting etcd, whose
		// warnings may come before the error line.
		started bool
	}{
		{name: "unknown flag", args: []string{"--bogus"}, want: []string{"unknown flag: --bogus"}},
		{name: "argument", args: []string{"extra"}, want: []string{`unknown command "extra"`}},
		{name: "cluster name", args: []string{"--cluster", "my cluster"}, want: []string{`cluster name "my cluster"`}},
		{name: "empty cluster name", args: []string{"--cluster", ""}, want: []string{`cluster name ""`}},
		{name: "client URL", args: []string{"--etcd-client-url", "127.0.0.1:2379"}, want: []string{`etcd URL "127.0.0.1:2379" is not a URL`}},
		{name: "peer URL scheme", args: []string{"--etcd-peer-url", "https://127.0.0.1:2380"}, want: []string{`--etcd-peer-url "https://127.0.0.1:2380": want http://host:port`}},
		{name: "peer URL without port", args: []string{"--etcd-peer-url", "http://127.0.0.1"}, want: []string{`--etcd-peer-url "http://127.0.0.1"`}},
		{name: "listen without port", args: []string{"--listen", "localhost"}, want: []string{`listen address "localhost"`, "missing port"}},
		{name: "http without port", args: []string{"--http", "nowhere"}, want: []string{`http address "nowhere"`}},
		{name: "initial cluster entry", args: []string{"--initial-cluster", "sm1"}, want: []string{`entry "sm1" is not name=peer-URL`}},
		{name: "initial cluster URL", args: []string{"--initial-cluster", "sm1=127.0.0.1:2380"}, want: []string{`--initial-cluster member sm1 "127.0.0.1:2380"`}},
		{name: "initial cluster lacks member", args: []string{"--name", "sm2", "--initial-cluster", "sm1=http://127.0.0.1:2380"}, want: []string{`no member named "sm2" (--name)`}},
		{name: "initial cluster other peer URL", args: []string{"--initial-cluster", "sm1=http://127.0.0.1:1"}, want: []string{"gives sm1 the peer URL http://127.0.0.1:1, but --etcd-peer-url is"}},
		{name: "etcd endpoints", args: []string{"--etcd-endpoints", "http://127.0.0.1:2379,etcd2"}, want: []string{`--etcd-endpoints entry "etcd2"`}},
		{name: "session TTL syntax", args: []string{"--session-ttl", "soon"}, want: []string{`"--session-ttl"`, `"soon"`}},
		{name: "session TTL short", args: []string{"--session-ttl", "500ms"}, want: []string{"session TTL 500ms: whole seconds, at least 1s"}},
		{name: "session TTL fraction", args: []string{"--session-ttl", "2500ms"}, want: []string{"--session-ttl 2.5s: want whole seconds"}},
		{name: "node dead after", args: []string{"--node-dead-after", "0s"}, want: []string{"node-dead-after"}},
		{name: "seal timeout", args: []string{"--seal-timeout", "-1s"}, want: []string{"seal timeout"}},
		{name: "high water", args: []string{"--high-water", "1.5"}, want: []string{"high-water mark 1.5"}},
		{name: "high water zero", args: []string{"--high-water", "0"}, want: []string{"high-water mark 0"}},
		{name: "log level", args: []string{"--log-level", "loud"}, want: []string{`level "loud"`}},
		{name: "log format", args: []string{"--log-format", "xml"}, want: []string{`format "xml"`}},
		{name: "listen port in use", args: []string{"--listen", busyAddr}, want: []string{"--listen: listen tcp " + busyAddr, "address already in use"}},
		{name: "http port in use", args: []string{"--http", busyAddr}, want: []string{"--http: listen tcp " + busyAddr, "address already in use"}},
		{name: "etcd client port in use", args: []string{"--etcd-client-url", "http://" + busyAddr}, want: []string{"--etcd-client-url: listen tcp " + busyAddr, "address already in use"}},
		{name: "listen and http the same", args: []string{"--listen", twice, "--http", twice}, want: []string{"--http: listen tcp " + twice, "address already in use"}},
		{name: "two problems", args: []string{"--listen", "x", "--cluster", "a b"}, want: []string{`listen address "x"`, `cluster name "a b"`}},
		{name: "data dir is a file", args: []string{"--data-dir", file}, want: []string{"embedded etcd", file}, started: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// Ports and a data directory of the test's own, unless the
			// case sets them: the defaults would touch ./data/sm1 and
			// ports 3401, 3411, 2379 and 2380.
			ports := proctest.FreeAddrs(t, 2)
			args := []string{"--listen", "127.0.0.1:0", "--http", "", "--data-dir", filepath.Join(t.TempDir(), "sm1"),
				"--etcd-client-url", "http://" + ports[0], "--etcd-peer-url", "http://" + ports[1]}
			args = append(args, tc.args...)
			res := proctest.Run(t, readyTimeout, bin, args...)
			lines := strings.Split(strings.TrimSpace(res.Stderr), "\n")
			last := lines[len(lines)-1]
			if res.ExitCode != exitFailure || !strings.HasPrefix(last, "stream-manager: ") {
				t.Fatalf("exit %d, stderr:\n%s\nwant exit 1 and an error line", res.ExitCode, res.Stderr)
			}
			t.Log(last)
			for _, want := range tc.want {
				if !strings.Contains(last, want) {
					t.Errorf("error line %q lacks %q", last, want)
				}
			}
			if !tc.started && len(lines) > 1 {
				t.Errorf("stderr has more than the error line:\n%s", res.Stderr)
			}
		})
	}
}

func TestVersionAndHelp(t *testing.T) {
	bin := proctest.Build(t, ".")
	res := proctest.Run(t, readyTimeout, bin, "--version")
	if res.ExitCode != 0 || !strings.HasPrefix(res.Stdout, "stream-manager version ") {
		t.Fatalf("--version: exit %d, stdout %q, stderr %q", res.ExitCode, res.Stdout, res.Stderr)
	}
	res = proctest.Run(t, readyTimeout, bin, "--help")
	flags := []string{"--name", "--listen", "--http", "--data-dir", "--etcd-client-url", "--etcd-peer-url", "--initial-cluster",
		"--etcd-endpoints", "--cluster", "--session-ttl", "--node-dead-after", "--seal-timeout", "--high-water",
		"--log-level", "--log-format", "--version"}
	for _, flag := range flags {
		if !strings.Contains(res.Stdout, flag) {
			t.Errorf("--help lacks %s", flag)
		}
	}
	// The contract's defaults.
	for _, def := range []string{`"sm1"`, `"127.0.0.1:3401"`, `"127.0.0.1:3411"`, `"./data/sm1"`, `"http://127.0.0.1:2379"`,
		`"http://127.0.0.1:2380"`, `"sm1=http://127.0.0.1:2380"`, `"default"`, "default 5s", "default 10s", "default 3s", "default 0.95"} {
		if !strings.Contains(res.Stdout, def) {
			t.Errorf("--help lacks the default %s", def)
		}
	}
	if res.ExitCode != 0 {
		t.Fatalf("--help: exit %d", res.ExitCode)
	}
}

// TestInitialCluster: without --initial-cluster the member list is
// this member alone, under its --name and --etcd-peer-url.
func TestInitialCluster(t *testing.T) {
	o := defaultOptions()
	o.name, o.etcdPeerURL = "sm7", "http://127.0.0.1:12380"
	cfg, err := o.config(zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.InitialCluster != "sm7=http://127.0.0.1:12380" {
		t.Fatalf("initial cluster %q", cfg.InitialCluster)
	}
	o.initialClusterSet, o.initialCluster = true, "sm7=http://127.0.0.1:12380,sm8=http://127.0.0.1:22380"
	if _, err := o.config(zap.NewNop()); err != nil {
		t.Fatalf("two members: %v", err)
	}
	o.initialCluster = "sm7=http://localhost:12380" // etcd resolves names to compare
	if _, err := o.config(zap.NewNop()); err != nil {
		t.Fatalf("a host name: %v", err)
	}
	o.initialCluster = "sm7=http://127.0.0.1:12380/"
	if _, err := o.config(zap.NewNop()); err == nil || !strings.Contains(err.Error(), "want http://host:port") {
		t.Fatalf("a path (etcd refuses it): %v", err)
	}
	o.etcdEndpoints = []string{"127.0.0.1:2379", "https://etcd.example:2379"}
	o.initialCluster = "nonsense" // not looked at with an external etcd
	if _, err := o.config(zap.NewNop()); err != nil {
		t.Fatalf("external etcd: %v", err)
	}
}
