package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/clogs-io/clogs/clogs"
	"github.com/clogs-io/clogs/internal/proctest"
	"github.com/clogs-io/clogs/logblock"
	"github.com/clogs-io/clogs/streamclient"
)

// collectorProc is a clogs-collector process of a cluster.
type collectorProc struct {
	*proctest.Process
	udp, syslog, http string
}

func startCollectorProc(t *testing.T, c *cluster) *collectorProc {
	t.Helper()
	addrs := proctest.FreeAddrs(t, 3) // TCP-free ports; the UDP ones of the same numbers are free in practice
	col := &collectorProc{udp: addrs[0], syslog: addrs[1], http: addrs[2]}
	col.Process = proctest.Start(t, "collector", proctest.Build(t, "github.com/clogs-io/clogs/cmd/clogs-collector"),
		"--listen", col.udp, "--syslog", col.syslog, "--http", col.http, "--sm", c.smAddr,
		"--flush-interval", "20ms", "--log-format", "json")
	if err := col.WaitReady(col.http, readyTimeout); err != nil {
		t.Fatal(err)
	}
	return col
}

// lineSender sends numbered log lines over four files from one socket.
type lineSender struct {
	conn *net.UDPConn
	mu   sync.Mutex
	sent map[string]int // by file: lines sent (numbered 0..n-1)
}

var senderFiles = []string{"pay.log", "auth.log", "risk.log", "settle.log"}

func newLineSender(t *testing.T, addr string) *lineSender {
	t.Helper()
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialUDP("udp", nil, ua)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &lineSender{conn: conn, sent: map[string]int{}}
}

// send sends one line to the next file; it reports false once the
// collector's socket is gone (the kernel refuses with ECONNREFUSED).
func (s *lineSender) send() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	total := 0
	for _, n := range s.sent {
		total += n
	}
	file := senderFiles[total%len(senderFiles)]
	msg := fmt.Sprintf("seq=%06d card=4111111111111111 amount=12.00", s.sent[file])
	d := clogs.Datagram{Kind: clogs.KindLog, Seq: uint32(total), SysID: []byte("core"), MsgType: []byte("txn"), FileName: []byte(file), Message: []byte(msg)}
	b, _ := clogs.AppendEncode(nil, &d)
	if _, err := s.conn.Write(b); err != nil {
		return false
	}
	s.sent[file]++
	return true
}

// sendPaced sends lines at rate per second until n are sent, ctx ends or
// the collector is gone; it returns how many it sent.
func (s *lineSender) sendPaced(ctx context.Context, rate, n int) int {
	const tick = 10 * time.Millisecond
	perTick := max(1, rate*int(tick)/int(time.Second))
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	sent := 0
	for sent < n {
		for range min(perTick, n-sent) {
			if !s.send() {
				return sent
			}
			sent++
		}
		select {
		case <-ctx.Done():
			return sent
		case <-ticker.C:
		}
	}
	return sent
}

// TestCollectorEndToEnd: a manager, three nodes and a collector as real
// processes. Lines sent at a fixed rate are stored, masked, in order per
// file; a ping is answered; malformed datagrams are counted and the
// collector keeps serving; syslog lands in syslog/<app-name>; and SIGTERM
// in the middle of the load loses nothing the collector accepted: every
// line it received is read back or counted as dropped.
func TestCollectorEndToEnd(t *testing.T) {
	ctx := testContext(t, 3*time.Minute)
	c := startCluster(t, 3)
	cl := newClient(t, c.smAddr)
	waitAlive(ctx, t, cl, 3)
	col := startCollectorProc(t, c)
	s := newLineSender(t, col.udp)

	checkPong(t, s.conn)
	for _, junk := range [][]byte{[]byte("x"), []byte("not a datagram at all"), {0xC1, 0x06, 9, 1}} {
		s.conn.Write(junk)
	}
	sendSyslog(t, col.syslog)
	if sent := s.sendPaced(ctx, 4000, 4000); sent != 4000 {
		t.Fatalf("sent %d of 4000 lines before the collector went away", sent)
	}
	// Under load again, then SIGTERM.
	var wg sync.WaitGroup
	wg.Go(func() { s.sendPaced(ctx, 4000, 1<<30) })
	time.Sleep(300 * time.Millisecond) // let the second wave be under way: this is the load, not a synchronisation
	if err := col.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code, err := col.Wait(stopTimeout)
	wg.Wait()
	if err != nil || code != 0 {
		t.Fatalf("collector after SIGTERM: exit %d, %v", code, err)
	}
	final := exitStats(t, col.Stderr().String())
	t.Logf("collector's last word: %+v", final)
	checkAccounting(t, final, 3)
	stored := 0
	for _, file := range senderFiles {
		stored += checkFileStream(ctx, t, cl, "core/"+file, s.sent[file])
	}
	syslogLines := readLogLines(ctx, t, cl, "syslog/payd")
	if len(syslogLines) != 1 || !strings.Contains(string(syslogLines[0].Message), "card 411111******1111 charged") {
		t.Fatalf("syslog/payd holds %d lines: %+v", len(syslogLines), syslogLines)
	}
	if stored+1 != int(final.LinesStored) {
		t.Fatalf("read back %d lines (and 1 syslog), the collector stored %d", stored, final.LinesStored)
	}
}

func checkPong(t *testing.T, conn *net.UDPConn) {
	t.Helper()
	ping := clogs.NewPing(7)
	b, _ := clogs.AppendEncode(nil, &ping)
	if _, err := conn.Write(b); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer conn.SetReadDeadline(time.Time{})
	buf := make([]byte, 256)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("no pong: %v", err)
	}
	var pong clogs.Datagram
	if err := clogs.Decode(buf[:n], &pong); err != nil || !clogs.IsPongFor(&pong, 7) {
		t.Fatalf("answer to ping 7: %x (%v)", buf[:n], err)
	}
}

// sendSyslog sends one RFC 5424 line with logger(1) when the machine has
// it, else through a socket.
func sendSyslog(t *testing.T, addr string) {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	const msg = "card 4111111111111111 charged"
	if path, err := exec.LookPath("logger"); err == nil {
		out, err := exec.Command(path, "--server", host, "--port", port, "--udp", "--rfc5424", "-t", "payd", msg).CombinedOutput()
		if err != nil {
			t.Fatalf("logger: %v: %s", err, out)
		}
		return
	}
	conn, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "<14>1 %s host payd - - - %s", time.Now().UTC().Format(time.RFC3339), msg)
}

// collectorExit is the accounting the collector logs when it stops.
type collectorExit struct {
	Datagrams   map[string]uint64 `json:"datagrams"`
	LinesStored uint64            `json:"lines-stored"`
	Dropped     uint64            `json:"dropped"`
	ByReason    map[string]uint64 `json:"dropped-by-reason"`
}

func exitStats(t *testing.T, stderr string) collectorExit {
	t.Helper()
	for line := range strings.SplitSeq(stderr, "\n") {
		if strings.Contains(line, `"clogs-collector stopped"`) {
			var st collectorExit
			if err := json.Unmarshal([]byte(line), &st); err != nil {
				t.Fatalf("exit line %q: %v", line, err)
			}
			return st
		}
	}
	t.Fatalf("the collector did not log its stop:\n%s", stderr)
	return collectorExit{}
}

// checkAccounting: every log line received was stored or dropped with a
// reason, and nothing was dropped but the malformed datagrams.
func checkAccounting(t *testing.T, st collectorExit, malformed uint64) {
	t.Helper()
	received := st.Datagrams["clogs/log"] + st.Datagrams["syslog/syslog"]
	if st.LinesStored+st.Dropped-malformed != received {
		t.Fatalf("received %d lines, stored %d, dropped %d (%v, %d of them malformed datagrams)", received, st.LinesStored, st.Dropped, st.ByReason, malformed)
	}
	if st.Dropped != malformed {
		t.Fatalf("dropped %v; want only the %d malformed datagrams", st.ByReason, malformed)
	}
}

// checkFileStream reads one file's stream: its lines are numbered 0, 1,
// 2, … with no gap or repeat, masked, and the sender sent at least as
// many. It returns how many there are.
func checkFileStream(ctx context.Context, t *testing.T, cl *streamclient.Client, name string, sent int) int {
	t.Helper()
	lines := readLogLines(ctx, t, cl, name)
	for i, r := range lines {
		want := fmt.Sprintf("seq=%06d card=411111******1111 amount=12.00", i)
		if string(r.Message) != want {
			t.Fatalf("%s line %d: %q, want %q", name, i, r.Message, want)
		}
	}
	if len(lines) > sent || len(lines) < 1000 {
		t.Fatalf("%s holds %d lines; %d were sent", name, len(lines), sent)
	}
	return len(lines)
}

// readLogLines reads a stream's log records, each block once.
func readLogLines(ctx context.Context, t *testing.T, cl *streamclient.Client, name string) []logblock.Record {
	t.Helper()
	var out []logblock.Record
	var dedup logblock.Dedup
	for _, b := range readAll(ctx, t, cl, name) {
		records, h, err := logblock.Decode(b.Payload, b.UserData)
		if err != nil {
			t.Fatalf("%s block %v: %v", name, b.Address, err)
		}
		if !dedup.Repeat(h) {
			for _, r := range records {
				r.Message = bytes.Clone(r.Message)
				out = append(out, r)
			}
		}
	}
	return out
}
