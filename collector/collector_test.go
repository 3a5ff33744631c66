package collector

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/clogs-io/clogs/clogs"
	clogspb "github.com/clogs-io/clogs/proto"
	"github.com/clogs-io/clogs/streamclient"
)

// TestLinesAreStoredInOrderAndMasked: lines of two files from one sender
// land in their streams ({sys}/{file}), each file's lines in order, card
// numbers masked; the accounting says every line was stored.
func TestLinesAreStoredInOrderAndMasked(t *testing.T) {
	c := startCluster(t)
	col := startCollector(t, testConfig(c))
	s := newSender(t, col.Addr())
	const n = 300
	for i := range n {
		file := []string{"pay.log", "auth.log"}[i%2]
		s.log("core", "txn", file, fmt.Sprintf("line %04d card 4111111111111111 ok", i))
	}
	waitStats(t, col, "every line stored", func(st Stats) bool { return st.LinesStored == n })
	for f, file := range []string{"pay.log", "auth.log"} {
		lines := readLines(t, c.sm.Addr(), "core/"+file)
		if len(lines) != n/2 {
			t.Fatalf("stream core/%s holds %d lines, want %d", file, len(lines), n/2)
		}
		for k, r := range lines {
			want := fmt.Sprintf("line %04d card 411111******1111 ok", 2*k+f)
			if string(r.Message) != want || string(r.SysID) != "core" || string(r.MsgType) != "txn" || string(r.FileName) != file {
				t.Fatalf("core/%s line %d: %q (%s/%s/%s), want %q", file, k, r.Message, r.SysID, r.MsgType, r.FileName, want)
			}
			if !strings.HasPrefix(string(r.Source), "127.0.0.1:") || r.ReceivedNanos == 0 {
				t.Fatalf("line %d: source %q, time %d", k, r.Source, r.ReceivedNanos)
			}
		}
	}
	if st := col.Stats(); st.DroppedTotal != 0 || st.Datagrams["clogs/log"] != n {
		t.Fatalf("stats %+v", st)
	}
}

// TestPingIsAnsweredWithPong: a ping gets a pong carrying its ID plus one,
// at once, and stores nothing.
func TestPingIsAnsweredWithPong(t *testing.T) {
	c := startCluster(t)
	col := startCollector(t, testConfig(c))
	s := newSender(t, col.Addr())
	ping := clogs.NewPing(41)
	b, _ := clogs.AppendEncode(nil, &ping)
	s.raw(b)
	s.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 1024)
	n, err := s.conn.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	var pong clogs.Datagram
	if err := clogs.Decode(buf[:n], &pong); err != nil || !clogs.IsPongFor(&pong, 41) {
		t.Fatalf("answer %x: %v, %+v", buf[:n], err, pong)
	}
	if st := col.Stats(); st.Datagrams["clogs/ping"] != 1 || st.LinesStored != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestMalformedDatagramsAreCountedByReason: garbage is dropped and counted
// by reason, and the lines after it are stored.
func TestMalformedDatagramsAreCountedByReason(t *testing.T) {
	c := startCluster(t)
	col := startCollector(t, testConfig(c))
	s := newSender(t, col.Addr())
	s.raw([]byte("x"))                             // short
	s.raw([]byte("hello, this is not a datagram")) // bad magic
	good := clogs.Datagram{Kind: clogs.KindLog, SysID: []byte("s"), FileName: []byte("f"), Message: []byte("m")}
	b, _ := clogs.AppendEncode(nil, &good)
	s.raw(append(b, 0)) // trailing byte
	s.raw(b[:len(b)-1]) // truncated
	pong := clogs.Datagram{Kind: clogs.KindPong, Seq: 2}
	p, _ := clogs.AppendEncode(nil, &pong)
	s.raw(p) // a pong nobody asked for
	s.log("s", "t", "f", "after the garbage")
	st := waitStats(t, col, "the good line stored", func(st Stats) bool { return st.LinesStored == 1 })
	want := map[string]uint64{"short": 1, "bad_magic": 1, "trailing_bytes": 1, "truncated": 1, "unexpected_pong": 1}
	for reason, n := range want {
		if st.Dropped[reason] != n {
			t.Errorf("dropped %s = %d, want %d (all: %v)", reason, st.Dropped[reason], n, st.Dropped)
		}
	}
	if st.DroppedTotal != 5 {
		t.Fatalf("dropped %d, want 5: %v", st.DroppedTotal, st.Dropped)
	}
}

// TestSyslogLandsInSyslogAppName: RFC 5424 and RFC 3164 datagrams land in
// syslog/<app-name>, whole and masked; one that is not syslog is counted.
func TestSyslogLandsInSyslogAppName(t *testing.T) {
	c := startCluster(t)
	col := startCollector(t, testConfig(c))
	conn, err := net.DialUDP("udp", nil, col.SyslogAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rfc5424 := `<165>1 2026-11-22T05:54:38.003Z host1 payd 42 ID7 - charged card 4111 1111 1111 1111`
	rfc3164 := `<34>Nov 22 05:54:38 host2 sshd[99]: password=hunter2 accepted`
	for _, m := range []string{rfc5424, rfc3164, "not syslog at all"} {
		if _, err := conn.Write([]byte(m + "\n")); err != nil {
			t.Fatal(err)
		}
	}
	st := waitStats(t, col, "two syslog lines stored", func(st Stats) bool { return st.LinesStored == 2 })
	if st.Dropped["bad_syslog"] != 1 {
		t.Fatalf("dropped %v, want one bad_syslog", st.Dropped)
	}
	payd := readLines(t, c.sm.Addr(), "syslog/payd")
	if len(payd) != 1 || string(payd[0].Message) != strings.Replace(rfc5424, "4111 1111 1111 1111", "4111 11** **** 1111", 1) ||
		string(payd[0].MsgType) != "rfc5424" || string(payd[0].FileName) != "payd" {
		t.Fatalf("syslog/payd: %+v", payd)
	}
	sshd := readLines(t, c.sm.Addr(), "syslog/sshd")
	if len(sshd) != 1 || !strings.Contains(string(sshd[0].Message), "password=******") || string(sshd[0].MsgType) != "rfc3164" {
		t.Fatalf("syslog/sshd: %+v", sshd)
	}
}

// TestShutdownStoresEverythingAccepted: lines accepted just before Close
// are all stored by the time it returns.
func TestShutdownStoresEverythingAccepted(t *testing.T) {
	c := startCluster(t)
	cfg := testConfig(c)
	cfg.FlushInterval = time.Hour // only shutdown flushes
	col := startCollector(t, cfg)
	s := newSender(t, col.Addr())
	const n = 100
	for i := range n {
		s.log("app", "t", "f", fmt.Sprintf("before shutdown %d", i))
	}
	waitStats(t, col, "every line accepted", func(st Stats) bool { return st.Datagrams["clogs/log"] == n })
	if err := col.Close(); err != nil {
		t.Fatal(err)
	}
	if st := col.Stats(); st.LinesStored != n || st.BufferedBytes != 0 {
		t.Fatalf("after shutdown: %+v", st)
	}
	if got := len(readLines(t, c.sm.Addr(), "app/f")); got != n {
		t.Fatalf("stored %d lines, want %d", got, n)
	}
}

// TestEveryLineIsStoredOrCounted: with the cluster's nodes gone, blocks
// cannot be stored and memory fills up; every line sent is then either
// stored or dropped with a reason (invariant 7).
func TestEveryLineIsStoredOrCounted(t *testing.T) {
	c := startCluster(t)
	cfg := testConfig(c)
	cfg.MaxBufferedBytes = 64 << 10
	cfg.BlockBytes = 16 << 10
	cfg.Client.Attempts = 2
	cfg.Client.CallTimeout = 500 * time.Millisecond
	col := startCollector(t, cfg)
	s := newSender(t, col.Addr())
	s.log("app", "t", "f", "stored before the outage")
	waitStats(t, col, "the first line stored", func(st Stats) bool { return st.LinesStored == 1 })
	for _, nd := range c.nodes {
		nd.Stop()
	}
	const n = 2000
	line := strings.Repeat("x", 200)
	for range n {
		s.log("app", "t", "f", line)
	}
	st := waitStats(t, col, "every line accounted for", func(st Stats) bool {
		return st.Datagrams["clogs/log"] == n+1 && st.LinesStored+st.DroppedTotal == n+1
	})
	if st.Dropped["overload"] == 0 || st.Dropped["append_failed"] == 0 {
		t.Fatalf("want drops for overload and failed appends: %v", st.Dropped)
	}
}

// TestMetricsAndStatus: /metrics has the collector's metrics, with the
// lines of a sys and type counted, and /status its accounting as JSON.
func TestMetricsAndStatus(t *testing.T) {
	c := startCluster(t)
	col := startCollector(t, testConfig(c))
	s := newSender(t, col.Addr())
	for i := range 5 {
		s.log("shop", "order", "o.log", fmt.Sprintf("order %d for 13912345678", i))
	}
	waitStats(t, col, "five lines stored", func(st Stats) bool { return st.LinesStored == 5 })
	metrics := httpGet(t, "http://"+col.HTTPAddr()+"/metrics")
	for _, want := range []string{
		`clogs_collector_lines_received_total{sys="shop",type="order"} 5`,
		`clogs_collector_lines_stored_total 5`,
		`clogs_collector_masked_total{kind="mobile"} 5`,
		`clogs_collector_dropped_total{reason="overload"} 0`,
		`clogs_collector_block_lines_count`,
		`clogs_collector_append_seconds_bucket`,
		`clogs_collector_kernel_drops_total 0`,
		`clogs_collector_buffered_bytes 0`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	var st Stats
	if err := json.Unmarshal([]byte(httpGet(t, "http://"+col.HTTPAddr()+"/status")), &st); err != nil {
		t.Fatal(err)
	}
	if st.LinesStored != 5 || st.Datagrams["clogs/log"] != 5 || st.Streams != 1 {
		t.Fatalf("/status %+v", st)
	}
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d, %v", url, resp.StatusCode, err)
	}
	return string(body)
}

// TestIdleStreamsAreRetired: a stream's batcher that has had no line for
// IdleTimeout goes away, so that streams that come and go (a file a day)
// never fill MaxStreams, and a line for it later starts a new one.
func TestIdleStreamsAreRetired(t *testing.T) {
	c := startCluster(t)
	cfg := testConfig(c)
	cfg.IdleTimeout = 200 * time.Millisecond
	cfg.MaxStreams = 2
	col := startCollector(t, cfg)
	s := newSender(t, col.Addr())
	for day := range 5 {
		s.log("app", "t", fmt.Sprintf("app-%d.log", day), "a line")
		waitStats(t, col, "the line stored", func(st Stats) bool { return st.LinesStored == uint64(day+1) })
		waitStats(t, col, "the idle stream retired", func(st Stats) bool { return st.Streams == 0 })
	}
	s.log("app", "t", "app-0.log", "back again")
	st := waitStats(t, col, "the line stored", func(st Stats) bool { return st.LinesStored == 6 })
	if st.DroppedTotal != 0 {
		t.Fatalf("dropped %v", st.Dropped)
	}
	if got := readLines(t, c.sm.Addr(), "app/app-0.log"); len(got) != 2 {
		t.Fatalf("app/app-0.log holds %d lines, want 2", len(got))
	}
}

// TestNewStreamsGetThePolicy: streams the collector creates get its
// stream policy (retention); a stream that existed keeps its own.
func TestNewStreamsGetThePolicy(t *testing.T) {
	c := startCluster(t)
	cfg := testConfig(c)
	cfg.StreamPolicy = &clogspb.StreamPolicy{MaxAgeSeconds: 86400}
	col := startCollector(t, cfg)
	ccfg := streamclient.DefaultConfig()
	ccfg.Managers = []string{c.sm.Addr()}
	cl, err := streamclient.New(ccfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := cl.CreateStreamWithPolicy(ctx, "app/old.log", &clogspb.StreamPolicy{MaxBytes: 1 << 30}); err != nil {
		t.Fatal(err)
	}
	s := newSender(t, col.Addr())
	s.log("app", "t", "new.log", "one")
	s.log("app", "t", "old.log", "two")
	waitStats(t, col, "both lines stored", func(st Stats) bool { return st.LinesStored == 2 })
	for name, want := range map[string]*clogspb.StreamPolicy{"app/new.log": {MaxAgeSeconds: 86400}, "app/old.log": {MaxBytes: 1 << 30}} {
		info, err := cl.StreamInfo(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if got := info.Stream.GetPolicy(); got.GetMaxAgeSeconds() != want.MaxAgeSeconds || got.GetMaxBytes() != want.MaxBytes {
			t.Fatalf("%s has policy %v, want %v", name, got, want)
		}
	}
}
