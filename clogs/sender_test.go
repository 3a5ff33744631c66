package clogs

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// How a responder answers pings.
const (
	answer  int32 = iota // with the right pong
	silent               // not at all (it still receives lines)
	wrongID              // with a pong for another ping
	garbage              // with bytes that are no datagram
)

// responder is a collector's UDP face on loopback: it answers pings as
// its mode says and records the log lines it receives.
type responder struct {
	conn *net.UDPConn
	mode atomic.Int32
	done chan struct{}

	mu    sync.Mutex
	files map[string]int // lines received by file name since reset; guarded by mu
	first Datagram       // the first line received, copied; guarded by mu
	lines int            // guarded by mu
}

func newResponder(t *testing.T) *responder {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	r := &responder{conn: conn, done: make(chan struct{}), files: map[string]int{}}
	go r.serve()
	t.Cleanup(func() {
		conn.Close()
		<-r.done
	})
	return r
}

func (r *responder) addr() string { return r.conn.LocalAddr().String() }

func (r *responder) serve() {
	defer close(r.done)
	buf := make([]byte, MaxDatagram)
	var out []byte
	for {
		n, from, err := r.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		var d Datagram
		if Decode(buf[:n], &d) != nil {
			continue
		}
		switch d.Kind {
		case KindLog:
			r.record(&d)
		case KindPing:
			out = r.answer(out[:0], &d)
			if len(out) > 0 {
				r.conn.WriteToUDPAddrPort(out, from)
			}
		}
	}
}

func (r *responder) answer(out []byte, ping *Datagram) []byte {
	pong := PongFor(ping)
	switch r.mode.Load() {
	case silent:
		return out
	case wrongID:
		pong.Seq++
	case garbage:
		return append(out, "pong!"...)
	}
	out, _ = AppendEncode(out, &pong)
	return out
}

func (r *responder) record(d *Datagram) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.lines == 0 {
		r.first = Datagram{Kind: d.Kind, Seq: d.Seq, SysID: clone(d.SysID), MsgType: clone(d.MsgType),
			FileName: clone(d.FileName), HeadLen: d.HeadLen, Message: clone(d.Message)}
	}
	r.lines++
	r.files[string(d.FileName)]++
}

func clone(b []byte) []byte { return append([]byte{}, b...) }

// received returns the lines received since the last reset, by file.
func (r *responder) received() (int, map[string]int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lines, maps.Clone(r.files)
}

func (r *responder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines, r.files = 0, map[string]int{}
}

// startSender starts a sender of the responders, named r1, r2, …, that
// checks them every interval and isolates one after threshold failures.
func startSender(t *testing.T, interval time.Duration, threshold int, rs ...*responder) *Sender {
	t.Helper()
	cfg := DefaultSenderConfig()
	cfg.HealthInterval, cfg.FailureThreshold = interval, threshold
	for i, r := range rs {
		cfg.Collectors = append(cfg.Collectors, CollectorConfig{Name: fmt.Sprintf("r%d", i+1), Addr: r.addr()})
	}
	s, err := NewSender(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// waitFor waits until cond holds, polling.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// sendFiles sends one line for each of n files and returns where the
// sender routed each, by collector name.
func sendFiles(t *testing.T, s *Sender, n int) map[string]map[string]int {
	t.Helper()
	routed := map[string]map[string]int{}
	for i := range n {
		file := fmt.Sprintf("f%03d.log", i)
		to := s.CollectorFor(file)
		if err := s.Send("app", "txt", file, 0, []byte("line of "+file)); err != nil {
			t.Fatalf("send %s: %v", file, err)
		}
		if routed[to] == nil {
			routed[to] = map[string]int{}
		}
		routed[to][file]++
	}
	return routed
}

// expectRouted waits until the responders, named r1, r2, … in order, have
// received the lines routed to them, and checks that they received
// exactly those; then it resets them.
func expectRouted(t *testing.T, routed map[string]map[string]int, rs ...*responder) {
	t.Helper()
	total := 0
	for _, files := range routed {
		for _, n := range files {
			total += n
		}
	}
	waitFor(t, fmt.Sprintf("%d lines to arrive", total), func() bool {
		got := 0
		for _, r := range rs {
			n, _ := r.received()
			got += n
		}
		return got >= total
	})
	for i, r := range rs {
		name := fmt.Sprintf("r%d", i+1)
		_, files := r.received()
		if !maps.Equal(files, routed[name]) && (len(files) != 0 || len(routed[name]) != 0) {
			t.Fatalf("%s received %v, want %v", name, files, routed[name])
		}
		r.reset()
	}
}

// TestHealthTwoOneZeroOneTwo follows two collectors through the life the
// health checks are for: both live, one muted and isolated, both muted
// (sends fail and are counted), one back, both back. Lines go only to
// the live ones, and every file returns to its first collector.
func TestHealthTwoOneZeroOneTwo(t *testing.T) {
	// Ten checks of 20 ms: a live collector whose pongs a loaded machine
	// delays for a few intervals is not isolated by mistake.
	const threshold = 10
	r1, r2 := newResponder(t), newResponder(t)
	s := startSender(t, 20*time.Millisecond, threshold, r1, r2)
	live := func(n int) func() bool { return func() bool { l, _ := s.Live(); return l == n } }

	// 2 live: the files are spread over both.
	first := sendFiles(t, s, 100)
	if len(first["r1"]) == 0 || len(first["r2"]) == 0 {
		t.Fatalf("100 files on 2 collectors all went to one: %v", first)
	}
	expectRouted(t, first, r1, r2)

	// 1 live: r1 stops answering; after threshold checks it is isolated.
	r1.mode.Store(silent)
	waitFor(t, "r1 isolated", live(1))
	if st := s.Collectors()[0]; st.Live || st.Failures < threshold {
		t.Fatalf("r1 isolated with status %+v", st)
	}
	routed := sendFiles(t, s, 100)
	if len(routed) != 1 || len(routed["r2"]) != 100 {
		t.Fatalf("with r1 isolated, lines went to %v", routed)
	}
	expectRouted(t, routed, r1, r2)

	// 0 live: sends fail, and are counted.
	r2.mode.Store(silent)
	waitFor(t, "r2 isolated", live(0))
	before := s.Stats()
	for range 10 {
		if err := s.Send("app", "txt", "x.log", 0, []byte("lost")); !errors.Is(err, ErrNoCollector) {
			t.Fatalf("send with no live collector: %v, want ErrNoCollector", err)
		}
	}
	if st := s.Stats(); st.Errors != before.Errors+10 || st.NoCollector != before.NoCollector+10 || st.Sent != before.Sent || st.Isolations != 2 {
		t.Fatalf("stats %+v after 10 failed sends, before %+v", st, before)
	}

	// 1 live: r1 answers again and recovers on its first pong.
	r1.mode.Store(answer)
	waitFor(t, "r1 recovered", live(1))
	routed = sendFiles(t, s, 100)
	if len(routed) != 1 || len(routed["r1"]) != 100 {
		t.Fatalf("with r1 back alone, lines went to %v", routed)
	}
	expectRouted(t, routed, r1, r2)

	// 2 live again: every file is where it was at first.
	r2.mode.Store(answer)
	waitFor(t, "r2 recovered", live(2))
	routed = sendFiles(t, s, 100)
	if !maps.EqualFunc(routed, first, func(a, b map[string]int) bool { return maps.Equal(a, b) }) {
		t.Fatalf("after both returned, files went to %v, at first to %v", routed, first)
	}
	expectRouted(t, routed, r1, r2)
	if st := s.Stats(); st.Isolations != 2 || st.Recoveries != 2 || st.Sent != 400 || st.Errors != 10 {
		t.Fatalf("final stats %+v", st)
	}
}

// TestInvalidPongsIsolate: a collector that answers, but with the wrong
// ID or with garbage, fails its checks as if it were silent.
func TestInvalidPongsIsolate(t *testing.T) {
	for _, mode := range []int32{wrongID, garbage} {
		r := newResponder(t)
		r.mode.Store(mode)
		s := startSender(t, 20*time.Millisecond, 5, r)
		waitFor(t, "isolation", func() bool { return s.Stats().Isolations == 1 })
		r.mode.Store(answer)
		waitFor(t, "recovery", func() bool { return s.Stats().Recoveries == 1 })
		if l, _ := s.Live(); l != 1 {
			t.Fatalf("mode %d: %d live after recovery", mode, l)
		}
		s.Close()
	}
}

// TestDeadPortIsolates: a collector whose port is closed (ICMP port
// unreachable) is isolated too.
func TestDeadPortIsolates(t *testing.T) {
	r := newResponder(t)
	addr := r.addr()
	r.conn.Close()
	<-r.done
	cfg := DefaultSenderConfig()
	cfg.HealthInterval, cfg.FailureThreshold = 10*time.Millisecond, 2
	cfg.Collectors = []CollectorConfig{{Addr: addr}}
	s, err := NewSender(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	waitFor(t, "isolation", func() bool { l, _ := s.Live(); return l == 0 })
}

// TestThreshold drives the state machine by hand (the checks themselves
// wait an hour): threshold-1 failures keep a collector live, the next
// isolates it, and one good check brings it back.
func TestThreshold(t *testing.T) {
	r1, r2 := newResponder(t), newResponder(t)
	r1.mode.Store(silent)
	r2.mode.Store(silent)
	s := startSender(t, time.Hour, 3, r1, r2)
	c := s.collectors[0]
	for i := 1; i <= 2; i++ {
		s.checked(c, false)
		if l, _ := s.Live(); l != 2 || s.Stats().Isolations != 0 {
			t.Fatalf("after %d failures: %d live, stats %+v", i, l, s.Stats())
		}
	}
	s.checked(c, true) // a pass resets the count
	s.checked(c, false)
	s.checked(c, false)
	if l, _ := s.Live(); l != 2 {
		t.Fatalf("2 failures after a pass isolated the collector")
	}
	s.checked(c, false)
	if l, _ := s.Live(); l != 1 || s.Stats().Isolations != 1 || s.CollectorFor("any.log") != "r2" {
		t.Fatalf("after 3 failures: %d live, stats %+v", l, s.Stats())
	}
	s.checked(c, false) // more failures change nothing
	s.checked(c, true)
	if l, _ := s.Live(); l != 2 || s.Stats().Recoveries != 1 || s.Stats().Isolations != 1 {
		t.Fatalf("after a pass: %d live, stats %+v", l, s.Stats())
	}
}

// TestSendEncodes: the collector receives the datagram Send was given.
func TestSendEncodes(t *testing.T) {
	r := newResponder(t)
	s := startSender(t, time.Hour, 3, r)
	if err := s.Send("core", "8583", "pay.log", 4, []byte("HEADbody")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the line", func() bool { n, _ := r.received(); return n == 1 })
	r.mu.Lock()
	d := r.first
	r.mu.Unlock()
	if string(d.SysID) != "core" || string(d.MsgType) != "8583" || string(d.FileName) != "pay.log" ||
		d.HeadLen != 4 || string(d.Message) != "HEADbody" || d.Seq != 1 {
		t.Fatalf("received %+v", d)
	}
}

// TestSendRefusesBadLines: fields over the datagram's limits are refused
// and counted, and nothing is sent.
func TestSendRefusesBadLines(t *testing.T) {
	r := newResponder(t)
	s := startSender(t, time.Hour, 3, r)
	for _, tc := range []struct{ sys, file string }{{"", "f"}, {"s", ""}, {"seventeen-bytes-x", "f"}} {
		if err := s.Send(tc.sys, "", tc.file, 0, nil); !errors.Is(err, ErrMalformed) {
			t.Fatalf("send sys %q file %q: %v, want ErrMalformed", tc.sys, tc.file, err)
		}
	}
	if err := s.Send("s", "", "f", 5, []byte("abc")); !errors.Is(err, ErrMalformed) {
		t.Fatalf("head_len past the message: %v", err)
	}
	if st := s.Stats(); st.Errors != 4 || st.Sent != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestSendAfterClose(t *testing.T) {
	r := newResponder(t)
	s := startSender(t, time.Hour, 3, r)
	s.Close()
	if err := s.Send("s", "t", "f", 0, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("send after close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

// TestConcurrentSends: many goroutines share one sender (run with -race)
// while health checks run every 5 ms beside them. The threshold is high:
// on a loaded machine pongs can be late for longer than a few intervals,
// and isolating a collector is not what this test is about.
func TestConcurrentSends(t *testing.T) {
	r1, r2 := newResponder(t), newResponder(t)
	s := startSender(t, 5*time.Millisecond, 1000, r1, r2)
	const goroutines, each = 8, 500
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			msg := []byte("concurrent line")
			for i := range each {
				if err := s.Send("app", "", fmt.Sprintf("g%d-%d.log", g, i%7), 0, msg); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	var perCollector uint64
	for _, c := range s.Collectors() {
		perCollector += c.Sent
	}
	if st := s.Stats(); st.Sent != goroutines*each || perCollector != st.Sent {
		t.Fatalf("stats %+v, per collector %d", st, perCollector)
	}
}

// TestSendDoesNotAllocate: the hot path encodes into a pooled buffer.
func TestSendDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	r := newResponder(t)
	s := startSender(t, time.Hour, 3, r)
	msg := []byte("a log line of a typical length, with a card 4111111111111111 in it")
	file := "a-file-name-longer-than-thirty-two-bytes.log"
	allocs := testing.AllocsPerRun(1000, func() {
		if err := s.Send("core", "txn", file, 0, msg); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("Send allocated %v times per line", allocs)
	}
}

func BenchmarkSend(b *testing.B) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	cfg := DefaultSenderConfig()
	cfg.HealthInterval = time.Hour
	cfg.Collectors = []CollectorConfig{{Addr: conn.LocalAddr().String()}}
	s, err := NewSender(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	msg := make([]byte, 200)
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Send("bench", "txt", "bench.log", 0, msg); err != nil {
			b.Fatal(err)
		}
	}
}
