package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clogs-io/clogs/clogs"
	"github.com/clogs-io/clogs/collector"
	"github.com/clogs-io/clogs/internal/leakcheck"
	"github.com/clogs-io/clogs/internal/testcluster"
)

// TestMain fails the package if a test leaves goroutines behind, waiting
// out the embedded etcd's peer connections of the cluster tests.
func TestMain(m *testing.M) {
	os.Exit(leakcheck.AfterRun(m.Run()))
}

// runBenchCmd runs the command line in-process, as main does.
func runBenchCmd(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, &out, &errOut)
	return out.String(), errOut.String(), code
}

// writeConfig writes a sender config of the collector addresses.
func writeConfig(t *testing.T, addrs ...string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("collectors:\n")
	for _, a := range addrs {
		fmt.Fprintf(&b, "  - addr: %s\n", a)
	}
	path := filepath.Join(t.TempDir(), "clogs.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// startCollector starts a real cluster and a real collector in this
// process and returns the manager's and the collector's addresses.
func startCollector(t *testing.T) (smAddr, collectorAddr string) {
	t.Helper()
	sm := testcluster.StartManager(t, testcluster.ManagerConfig(t))
	testcluster.StartNodes(t, 3, testcluster.NodeConfig(nil, sm.Addr()))
	testcluster.WaitAlive(t, sm.Addr(), 3)
	cfg := collector.DefaultConfig()
	cfg.Listen, cfg.Syslog, cfg.HTTP = "127.0.0.1:0", "", ""
	cfg.FlushInterval = 20 * time.Millisecond
	cfg.Client.Managers = []string{sm.Addr()}
	col, err := collector.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { col.Close() })
	return sm.Addr(), col.Addr().String()
}

func parseResult(t *testing.T, stdout string) Result {
	t.Helper()
	var r Result
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("summary %q: %v", stdout, err)
	}
	return r
}

// TestVerifyAgainstRealCluster: a paced run through a real collector
// into a real cluster, with card numbers, verifies with every line
// stored, in order, masked. A second run into the same streams counts
// only its own lines.
func TestVerifyAgainstRealCluster(t *testing.T) {
	smAddr, colAddr := startCollector(t)
	conf := writeConfig(t, colAddr)
	args := []string{"-c", conf, "-x", "2", "-f", "6", "-t", "txn", "-d", "120", "-z", "4000", "-n", "3000",
		"--cards", "--verify", "--sm", smAddr, "--settle", "5s", "--json"}
	for attempt := range 2 {
		stdout, stderr, code := runBenchCmd(t, args...)
		if code != 0 {
			t.Fatalf("run %d: exit %d\n%s\n%s", attempt, code, stdout, stderr)
		}
		r := parseResult(t, stdout)
		v := r.Verify
		if r.Sent != 3000 || r.Errors != 0 || v == nil || v.Stored != 3000 || v.Lost != 0 || v.Reordered != 0 ||
			v.Duplicates != 0 || v.Unexpected != 0 || v.Unmasked != 0 || v.Streams != 6 {
			t.Fatalf("run %d: %s", attempt, stdout)
		}
		if wantOther := uint64(attempt * 3000); v.Other != wantOther {
			t.Fatalf("run %d: %d lines of other runs, want %d", attempt, v.Other, wantOther)
		}
		if r.TPS < 2000 || r.TPS > 4400 {
			t.Fatalf("run %d: %.0f lines a second, paced at 4000", attempt, r.TPS)
		}
	}
}

// pongOnly answers pings and drops every line: a collector that stores
// nothing.
func pongOnly(t *testing.T) string {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, clogs.MaxDatagram)
		for {
			n, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			var d clogs.Datagram
			if clogs.Decode(buf[:n], &d) == nil && d.Kind == clogs.KindPing {
				pong := clogs.PongFor(&d)
				out, _ := clogs.AppendEncode(nil, &pong)
				conn.WriteToUDPAddrPort(out, from)
			}
		}
	}()
	t.Cleanup(func() {
		conn.Close()
		<-done
	})
	return conn.LocalAddr().String()
}

// TestVerifyCountsLoss: lines sent to a collector that stores nothing are
// all lost, and the exit code says so.
func TestVerifyCountsLoss(t *testing.T) {
	smAddr := testcluster.StartManager(t, testcluster.ManagerConfig(t)).Addr()
	conf := writeConfig(t, pongOnly(t))
	stdout, stderr, code := runBenchCmd(t, "-c", conf, "-f", "3", "-n", "300", "--verify", "--sm", smAddr, "--settle", "300ms")
	if code != exitInvalid {
		t.Fatalf("exit %d, want %d\n%s\n%s", code, exitInvalid, stdout, stderr)
	}
	if !strings.Contains(stderr, "verify: 300 lost, 0 reordered") || !strings.Contains(stdout, "FAILED") {
		t.Fatalf("stdout %q\nstderr %q", stdout, stderr)
	}
}

// TestProgressAndSummary: a line a second while sending, and a table at
// the end.
func TestProgressAndSummary(t *testing.T) {
	conf := writeConfig(t, pongOnly(t))
	stdout, stderr, code := runBenchCmd(t, "-c", conf, "-x", "2", "-f", "4", "-z", "1000", "--duration", "1500ms")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "[   1s] sent/s ") || !strings.Contains(stderr, "errors 0  live 1/1") {
		t.Fatalf("no progress line: %q", stderr)
	}
	for _, want := range []string{"2 handles, 4 files, 200-byte lines", "sent", "TPS"} {
		if !strings.Contains(stdout, want) {
			t.Fatalf("summary %q lacks %q", stdout, want)
		}
	}
}

// TestNoLiveCollectorIsCounted: lines with every collector isolated are
// errors in the summary, with their cause.
func TestNoLiveCollectorIsCounted(t *testing.T) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}) // never answers
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	path := filepath.Join(t.TempDir(), "clogs.yaml")
	text := fmt.Sprintf("collectors: [{addr: '%s'}]\nhealth_interval: 10ms\nfailure_threshold: 1\n", conn.LocalAddr())
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runBenchCmd(t, "-c", path, "-z", "1000", "--duration", "300ms", "--json")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	r := parseResult(t, stdout)
	if r.NoCollector == 0 || r.Errors < r.NoCollector || r.Isolations != 1 || !strings.Contains(r.FirstError, "no live collector") {
		t.Fatalf("summary %s", stdout)
	}
}

func TestUsageErrors(t *testing.T) {
	conf := writeConfig(t, "127.0.0.1:9")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-n", "1"}, "-c CONF is required"},
		{[]string{"-c", conf, "-x", "4", "-f", "2"}, "-f 2: want at least one file per handle"},
		{[]string{"-c", conf, "-d", "10"}, "-d 10: a message needs at least 22 bytes"},
		{[]string{"-c", conf, "-d", "30", "--cards"}, "-d 30: a message needs at least 44 bytes"},
		{[]string{"-c", conf, "-z", "-1"}, "cannot be negative"},
		{[]string{"-c", conf, "--sys", "a-sys-id-of-17-by"}, "--sys"},
		{[]string{"-c", conf, "--verify", "--stream-template", "{sys}"}, "needs {file}"},
		{[]string{"-c", conf, "extra"}, `unexpected argument "extra"`},
		{[]string{"-c", "/nonexistent.yaml"}, "no such file"},
	} {
		stdout, stderr, code := runBenchCmd(t, tc.args...)
		if code != exitFailure || !strings.Contains(stderr, tc.want) {
			t.Fatalf("%v: exit %d, stdout %q, stderr %q; want exit 1 saying %q", tc.args, code, stdout, stderr, tc.want)
		}
	}
}
