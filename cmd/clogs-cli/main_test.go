package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clogs-io/clogs/clogs"
	"github.com/clogs-io/clogs/internal/leakcheck"
	"github.com/clogs-io/clogs/internal/proctest"
)

// TestMain fails the package if a test leaves goroutines behind, waiting
// out the embedded etcd's peer connections of the cluster test, and
// removes the binary the terminal test builds.
func TestMain(m *testing.M) {
	code := m.Run()
	proctest.RemoveBuilds()
	os.Exit(leakcheck.AfterRun(code))
}

// received is one log datagram a listener received.
type received struct {
	seq                     uint32
	sys, msgType, file, msg string
	headLen                 uint16
}

// listener is a stand-in collector: a UDP socket that answers pings and
// records the log datagrams it decodes.
type listener struct {
	conn *net.UDPConn
	done chan struct{}
	mu   sync.Mutex
	got  []received // guarded by mu
}

func newListener(t *testing.T) *listener {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	l := &listener{conn: conn, done: make(chan struct{})}
	go l.serve()
	t.Cleanup(func() {
		conn.Close()
		<-l.done
	})
	return l
}

func (l *listener) serve() {
	defer close(l.done)
	buf := make([]byte, clogs.MaxDatagram)
	for {
		n, from, err := l.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		var d clogs.Datagram
		if clogs.Decode(buf[:n], &d) != nil {
			continue
		}
		if d.Kind == clogs.KindPing {
			pong := clogs.PongFor(&d)
			out, _ := clogs.AppendEncode(nil, &pong)
			l.conn.WriteToUDPAddrPort(out, from)
			continue
		}
		l.mu.Lock()
		l.got = append(l.got, received{seq: d.Seq, sys: string(d.SysID), msgType: string(d.MsgType),
			file: string(d.FileName), msg: string(d.Message), headLen: d.HeadLen})
		l.mu.Unlock()
	}
}

// wait waits until n lines have arrived and returns them.
func (l *listener) wait(t *testing.T, n int) []received {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		l.mu.Lock()
		got := append([]received(nil), l.got...)
		l.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d lines arrived, want %d: %+v", len(got), n, got)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// writeConfig writes a sender config of the collector addresses and
// returns its path.
func writeConfig(t *testing.T, addrs ...string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("collectors:\n")
	for i, a := range addrs {
		fmt.Fprintf(&b, "  - name: c%d\n    addr: %s\n", i+1, a)
	}
	return writeFile(t, b.String())
}

func writeFile(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "clogs.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// runCLI runs the command line in-process with stdin, as main does.
func runCLI(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), code
}

// TestCommandLineMessage: SYS TYPE FILE MSG… sends one line; the words
// of MSG are joined, and flag-like words after SYS are message.
func TestCommandLineMessage(t *testing.T) {
	l := newListener(t)
	conf := writeConfig(t, l.conn.LocalAddr().String())
	stdout, stderr, code := runCLI(t, "", "-c", conf, "--head-len", "2", "core", "txn", "pay.log", "hi", "there", "-r", "3")
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, stdout, stderr)
	}
	got := l.wait(t, 1)
	want := received{seq: 1, sys: "core", msgType: "txn", file: "pay.log", msg: "hi there -r 3", headLen: 2}
	if len(got) != 1 || got[0] != want {
		t.Fatalf("received %+v, want %+v", got, want)
	}
}

// TestRepeat: -r N -i SECONDS sends the message N times, that far apart.
func TestRepeat(t *testing.T) {
	l := newListener(t)
	conf := writeConfig(t, l.conn.LocalAddr().String())
	start := time.Now()
	stdout, stderr, code := runCLI(t, "", "-c", conf, "-r", "4", "-i", "0.05", "core", "-", "a.log", "again")
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, stdout, stderr)
	}
	if took := time.Since(start); took < 150*time.Millisecond {
		t.Fatalf("4 lines 0.05 s apart took %v", took)
	}
	if !strings.Contains(stdout, "sent 4 lines to c1") {
		t.Fatalf("stdout %q", stdout)
	}
	got := l.wait(t, 4)
	for i, r := range got {
		if r.msg != "again" || r.msgType != "" || r.seq != uint32(i+1) {
			t.Fatalf("line %d: %+v", i, r)
		}
	}
}

// TestBatch: lines from a pipe are sent in order; blank and comment
// lines are skipped; a bad line is reported with its number and the exit
// code says so, and the lines after it are still sent.
func TestBatch(t *testing.T) {
	l := newListener(t)
	conf := writeConfig(t, l.conn.LocalAddr().String())
	input := "core txn pay.log paid 4111111111111111\n\n# a comment\nweb - access.log GET /  HTTP/1.1 \r\nbroken line\n" +
		"core txn pay.log \t tabbed\tmessage\nseventeen-bytes-x t f m\n"
	stdout, stderr, code := runCLI(t, input, "-c", conf)
	if code != 1 {
		t.Fatalf("exit %d, want 1: %s%s", code, stdout, stderr)
	}
	for _, want := range []string{"line 5: want SYS TYPE FILE MSG", "line 7: clogs: malformed datagram", "2 of 5 lines not sent"} {
		if !strings.Contains(stderr, want) {
			t.Fatalf("stderr %q does not say %q", stderr, want)
		}
	}
	if !strings.Contains(stdout, "sent 3 lines, 2 failed") {
		t.Fatalf("stdout %q", stdout)
	}
	got := l.wait(t, 3)
	want := []received{
		{seq: 1, sys: "core", msgType: "txn", file: "pay.log", msg: "paid 4111111111111111"},
		{seq: 2, sys: "web", file: "access.log", msg: "GET /  HTTP/1.1 "},
		{seq: 3, sys: "core", msgType: "txn", file: "pay.log", msg: "tabbed\tmessage"},
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("line %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestBatchAllSent(t *testing.T) {
	l := newListener(t)
	conf := writeConfig(t, l.conn.LocalAddr().String())
	var in strings.Builder
	for i := range 50 {
		fmt.Fprintf(&in, "app log f%d.log line %d\n", i%5, i)
	}
	stdout, stderr, code := runCLI(t, in.String(), "-c", conf)
	if code != 0 || stdout != "sent 50 lines, 0 failed\n" {
		t.Fatalf("exit %d: %q %q", code, stdout, stderr)
	}
	l.wait(t, 50)
}

// TestUsageAndConfigErrors: each mistake exits 1 with a message that
// says what is wrong.
func TestUsageAndConfigErrors(t *testing.T) {
	good := writeConfig(t, "127.0.0.1:9")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no config", []string{"a", "b", "c", "d"}, "-c CONF is required"},
		{"too few words", []string{"-c", good, "a", "b"}, "want SYS TYPE FILE MSG…, got 2 argument(s)"},
		{"repeat without message", []string{"-c", good, "-r", "2"}, "-r and -i repeat a message"},
		{"zero repeat", []string{"-c", good, "-r", "0", "a", "b", "c", "d"}, "-r 0: want at least 1"},
		{"negative interval", []string{"-c", good, "-i", "-1", "a", "b", "c", "d"}, "-i -1"},
		{"unknown flag", []string{"--bogus"}, "unknown flag: --bogus"},
		{"missing config", []string{"-c", "/nonexistent/clogs.yaml", "a", "b", "c", "d"}, "no such file"},
		{"empty config", []string{"-c", writeFile(t, ""), "a", "b", "c", "d"}, "the file is empty"},
		{"no collectors", []string{"-c", writeFile(t, "collectors: []\n"), "a", "b", "c", "d"}, "no collectors"},
		{"typo", []string{"-c", writeFile(t, "colectors: []\n"), "a", "b", "c", "d"}, "field colectors not found"},
		{"bad addr", []string{"-c", writeFile(t, "collectors: [{addr: nowhere}]\n"), "a", "b", "c", "d"}, `addr "nowhere": want host:port`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := runCLI(t, "", tc.args...)
			if code != 1 || !strings.Contains(stderr, tc.want) || stdout != "" {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit 1 saying %q", code, stdout, stderr, tc.want)
			}
		})
	}
}

func TestVersionAndHelp(t *testing.T) {
	if stdout, _, code := runCLI(t, "", "--version"); code != 0 || !strings.HasPrefix(stdout, "clogs-cli version ") {
		t.Fatalf("--version: exit %d, %q", code, stdout)
	}
	if stdout, _, code := runCLI(t, "", "--help"); code != 0 || !strings.Contains(stdout, "clogs-cli -c CONF [-r N] [-i SECONDS] [SYS TYPE FILE MSG…]") {
		t.Fatalf("--help: exit %d, %q", code, stdout)
	}
}

// TestInteractiveCommands drives the interactive mode's interpreter (the
// terminal itself is the line-editing library's).
func TestInteractiveCommands(t *testing.T) {
	l := newListener(t)
	cfg, err := clogs.LoadSenderConfig(writeConfig(t, l.conn.LocalAddr().String()))
	if err != nil {
		t.Fatal(err)
	}
	sender, err := clogs.NewSender(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close()
	var out strings.Builder
	r := &repl{sender: sender, out: &out}
	if p := r.prompt(); p != "clogs [1/1 live]> " {
		t.Fatalf("prompt %q", p)
	}
	for _, step := range []struct {
		line string
		want string
		quit bool
	}{
		{"help", "SYS TYPE FILE MSG", false},
		{"core txn pay.log an interactive line", "sent to c1", false},
		{"nonsense", "error: want SYS TYPE FILE MSG", false},
		{"status", "c1    " + l.conn.LocalAddr().String(), false},
		{"stats", "sent 1, errors 0", false},
		{"quit", "", true},
	} {
		out.Reset()
		if quit := r.exec(step.line); quit != step.quit || !strings.Contains(out.String(), step.want) {
			t.Fatalf("%q: quit %v, printed %q; want %v and %q", step.line, quit, out.String(), step.quit, step.want)
		}
	}
	if got := l.wait(t, 1); got[0].msg != "an interactive line" {
		t.Fatalf("received %+v", got)
	}
}
