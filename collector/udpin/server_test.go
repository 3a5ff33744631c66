package udpin

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/sys/unix"
)

func TestDatagramSizesArriveIntact(t *testing.T) {
	rec := newRecorder()
	s := listen(t, testConfig(2), rec.handle)
	conn := dial(t, s)
	sizes := []int{1, 0, 200, 1500, 9000, MaxDatagramSize}
	var wantBytes uint64
	for i, size := range sizes {
		send(t, conn, pattern(size, byte(i)))
		wantBytes += uint64(size)
	}
	rec.mustAwait(t, "all sizes", func() bool { return rec.count() == len(sizes) })

	from := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	for i, got := range rec.snapshot() {
		if want := pattern(sizes[i], byte(i)); !bytes.Equal(got.data, want) {
			t.Errorf("datagram %d: got %d bytes, want the %d sent", i, len(got.data), len(want))
		}
		if got.from != from {
			t.Errorf("datagram %d: from %v, want %v", i, got.from, from)
		}
	}
	stats := s.Stats()
	want := Stats{Datagrams: uint64(len(sizes)), Bytes: wantBytes}
	if stats != want {
		t.Fatalf("Stats() = %+v, want %+v", stats, want)
	}
}

func TestLongerThanBufferIsCountedTruncated(t *testing.T) {
	rec := newRecorder()
	cfg := testConfig(1)
	cfg.MaxDatagramSize = 100
	s := listen(t, cfg, rec.handle)
	conn := dial(t, s)
	send(t, conn, pattern(101, 0))
	send(t, conn, pattern(100, 1))
	rec.mustAwait(t, "the datagram that fits", func() bool { return rec.count() == 1 })
	if got := rec.snapshot()[0].data; !bytes.Equal(got, pattern(100, 1)) {
		t.Fatalf("delivered %d bytes, want the 100-byte datagram", len(got))
	}
	if stats := s.Stats(); stats.Truncated != 1 || stats.Datagrams != 1 {
		t.Fatalf("Stats() = %+v, want 1 truncated and 1 delivered", stats)
	}
}

// IPv6 carries UDP payloads up to 65,527 bytes, past the clogs limit.
func TestOverlongIPv6DatagramIsCountedTruncated(t *testing.T) {
	rec := newRecorder()
	cfg := testConfig(1)
	cfg.Addr = "[::1]:0"
	s, err := Listen(cfg, rec.handle)
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	defer s.Close()
	conn := dial(t, s)
	send(t, conn, pattern(MaxDatagramSize+1, 0))
	send(t, conn, pattern(MaxDatagramSize, 1))
	rec.mustAwait(t, "the datagram that fits", func() bool { return rec.count() == 1 })
	got := rec.snapshot()[0]
	if !bytes.Equal(got.data, pattern(MaxDatagramSize, 1)) {
		t.Fatalf("delivered %d bytes, want the %d-byte datagram", len(got.data), MaxDatagramSize)
	}
	if want := conn.LocalAddr().(*net.UDPAddr).AddrPort(); got.from != want {
		t.Fatalf("from %v, want %v", got.from, want)
	}
	if stats := s.Stats(); stats.Truncated != 1 {
		t.Fatalf("Stats() = %+v, want 1 truncated", stats)
	}
}

// Many senders spread over several SO_REUSEPORT sockets: every datagram is
// received exactly once and intact, or counted as a kernel drop.
func TestManySendersAllAccountedFor(t *testing.T) {
	const senders, perSender = 8, 1000
	rec := newRecorder()
	cfg := testConfig(4)
	cfg.BatchSize = 16
	s := listen(t, cfg, rec.handle)

	conns := make([]*net.UDPConn, senders)
	for i := range conns {
		conns[i] = dial(t, s)
	}
	errs := make(chan error, senders)
	var wg sync.WaitGroup
	for sender, conn := range conns {
		wg.Go(func() {
			for seq := range perSender {
				if _, err := conn.Write(numbered(sender, seq)); err != nil {
					errs <- fmt.Errorf("sender %d, datagram %d: %w", sender, seq, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// A marker from each sender, after everything else, reaches the
	// socket that sender hashes to and carries that socket's drop count.
	markers := flushDropCounts(t, s, rec, conns)
	sent := uint64(senders*perSender + markers)
	rec.mustAwait(t, "received + kernel drops == sent", func() bool {
		stats := s.Stats()
		return stats.Datagrams+stats.KernelDrops == sent
	})

	seen := make(map[[2]int]bool)
	for _, got := range rec.snapshot() {
		sender, seq, ok := parseNumbered(got.data)
		if !ok {
			t.Fatalf("corrupt datagram of %d bytes", len(got.data))
		}
		if seq < 0 { // a marker
			continue
		}
		if seen[[2]int{sender, seq}] {
			t.Fatalf("sender %d datagram %d delivered twice", sender, seq)
		}
		seen[[2]int{sender, seq}] = true
	}
	stats := s.Stats()
	t.Logf("sent %d, %+v", sent, stats)
	if stats.KernelDrops == 0 && len(seen) != senders*perSender {
		t.Fatalf("%d distinct datagrams delivered, no drops, want %d", len(seen), senders*perSender)
	}
	if stats.KernelDrops > 0 && s.sockets[0].receiveBufferForced(t) {
		t.Fatalf("%d kernel drops with forced %d-byte buffers", stats.KernelDrops, cfg.ReadBuffer)
	}
}

// numbered is a datagram of 20 to 1,219 bytes that names its sender and
// sequence number and whose filler depends on both; seq -1 marks a marker.
func numbered(sender, seq int) []byte {
	size := 20 + (sender*7919+(seq+1)*104729)%1200
	b := pattern(size, byte(sender^seq))
	binary.BigEndian.PutUint32(b[0:], uint32(sender))
	binary.BigEndian.PutUint32(b[4:], uint32(int32(seq)))
	return b
}

func parseNumbered(b []byte) (sender, seq int, ok bool) {
	if len(b) < 8 {
		return 0, 0, false
	}
	sender, seq = int(binary.BigEndian.Uint32(b)), int(int32(binary.BigEndian.Uint32(b[4:])))
	if sender > 1<<16 || seq < -1 {
		return 0, 0, false
	}
	return sender, seq, bytes.Equal(b, numbered(sender, seq))
}

// flushDropCounts sends a marker from every conn until it is delivered,
// so that each socket has received a datagram after every earlier one was
// queued or dropped, and its SO_RXQ_OVFL counter has been read. It returns
// how many markers it sent.
func flushDropCounts(t *testing.T, s *Server, rec *recorder, conns []*net.UDPConn) int {
	t.Helper()
	markers := 0
	for sender, conn := range conns {
		delivered := func() bool { return rec.markerArrived(sender) }
		for attempt := 0; !delivered(); attempt++ {
			if attempt == 100 {
				t.Fatalf("marker of sender %d not delivered after %d tries: %+v", sender, attempt, s.Stats())
			}
			send(t, conn, numbered(sender, -1))
			markers++
			rec.await(100*time.Millisecond, delivered)
		}
	}
	return markers
}

// receiveBufferForced reports whether the socket's buffer is past the
// rmem_max cap, which only SO_RCVBUFFORCE achieves.
func (sock *socket) receiveBufferForced(t testing.TB) bool {
	t.Helper()
	rmemMax, err := os.ReadFile("/proc/sys/net/core/rmem_max")
	if err != nil {
		t.Fatal(err)
	}
	var capBytes int
	fmt.Sscan(string(rmemMax), &capBytes)
	return sock.receiveBufferSize(t) > 2*capBytes
}

func (sock *socket) receiveBufferSize(t testing.TB) int {
	t.Helper()
	rawConn, err := sock.conn.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var size int
	var optErr error
	if err := rawConn.Control(func(fd uintptr) {
		size, optErr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF)
	}); err != nil {
		t.Fatal(err)
	}
	if optErr != nil {
		t.Fatal(optErr)
	}
	return size
}

// overflowTinyBuffer starts a server with the smallest receive buffer,
// sends one datagram, and while the handler holds it sends a burst of
// numbered datagrams that overflow the buffer; then lets the handler go
// on. It returns the server, its recorder, the sending socket and the
// burst's size (the datagrams sent are 1 + burst).
func overflowTinyBuffer(t *testing.T) (*Server, *recorder, *net.UDPConn, int) {
	t.Helper()
	paused, resume := make(chan struct{}), make(chan struct{})
	var pauseOnce sync.Once
	rec := newRecorder()
	rec.onBatch = func([]Packet) {
		pauseOnce.Do(func() {
			close(paused)
			<-resume
		})
	}
	cfg := testConfig(1)
	cfg.ReadBuffer = 1 // the kernel raises it to its minimum, about 2 KiB
	s := listen(t, cfg, rec.handle)
	conn := dial(t, s)
	send(t, conn, numbered(0, 0))
	<-paused
	const burst = 500
	for seq := 1; seq <= burst; seq++ {
		send(t, conn, numbered(0, seq))
	}
	close(resume)
	return s, rec, conn, burst
}

// A reader paused in the handler lets a tiny receive buffer overflow; the
// kernel's drops arrive with the next datagram (SO_RXQ_OVFL) and are
// counted, so that received + dropped == sent.
func TestKernelDropsAreCounted(t *testing.T) {
	s, rec, conn, burst := overflowTinyBuffer(t)
	markers := flushDropCounts(t, s, rec, []*net.UDPConn{conn})
	sent := uint64(1 + burst + markers)
	rec.mustAwait(t, "received + kernel drops == sent", func() bool {
		stats := s.Stats()
		return stats.Datagrams+stats.KernelDrops == sent
	})
	stats := s.Stats()
	t.Logf("sent %d, %+v", sent, stats)
	if stats.KernelDrops == 0 {
		t.Fatalf("no kernel drops counted after %d datagrams into a %d-byte buffer", burst, s.sockets[0].receiveBufferSize(t))
	}
	if got := uint64(rec.count()); got != stats.Datagrams {
		t.Fatalf("handler saw %d datagrams, Stats says %d", got, stats.Datagrams)
	}
}

func TestPongFromHandler(t *testing.T) {
	var s *Server
	replyErrs := make(chan error, 1)
	ready := make(chan struct{})
	handler := func(batch []Packet) {
		<-ready
		for _, p := range batch {
			pong := append([]byte("pong:"), p.Data...)
			replyErrs <- s.WriteTo(pong, p.From)
		}
	}
	s = listen(t, testConfig(2), handler)
	close(ready)
	conn := dial(t, s)
	send(t, conn, []byte("ping 7"))
	if err := <-replyErrs; err != nil {
		t.Fatal(err)
	}
	if err := conn.SetReadDeadline(time.Now().Add(waitTimeout)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	n, from, err := conn.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(buf[:n]); got != "pong:ping 7" {
		t.Fatalf("reply %q, want %q", got, "pong:ping 7")
	}
	if want := s.Addr().(*net.UDPAddr).AddrPort(); from != want {
		t.Fatalf("reply from %v, want the listen address %v", from, want)
	}
}

func TestWriteToUnreachableFamilyCountsError(t *testing.T) {
	s := listen(t, testConfig(1), func([]Packet) {})
	err := s.WriteTo([]byte("x"), netip.MustParseAddrPort("[::1]:9"))
	if err == nil {
		t.Fatal("WriteTo an IPv6 address from an IPv4 socket succeeded")
	}
	if got := s.Stats().WriteErrors; got != 1 {
		t.Fatalf("WriteErrors = %d, want 1", got)
	}
}

// Close delivers what the kernel had queued, stops the readers (goleak
// checks in TestMain), frees the port, and is idempotent.
func TestCloseDrainsQueuedAndStops(t *testing.T) {
	paused, resume := make(chan struct{}), make(chan struct{})
	var pauseOnce sync.Once
	rec := newRecorder()
	rec.onBatch = func([]Packet) {
		pauseOnce.Do(func() {
			close(paused)
			<-resume
		})
	}
	s, err := Listen(testConfig(1), rec.handle)
	if err != nil {
		t.Fatal(err)
	}
	conn := dial(t, s)
	send(t, conn, []byte("first"))
	<-paused
	const queued = 10
	for i := range queued {
		send(t, conn, fmt.Appendf(nil, "queued %d", i))
	}
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	close(resume)
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := rec.count(); got != 1+queued {
		t.Fatalf("delivered %d datagrams, want all %d sent before Close", got, 1+queued)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.WriteTo([]byte("late"), conn.LocalAddr().(*net.UDPAddr).AddrPort()); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("WriteTo after Close = %v, want net.ErrClosed", err)
	}
	// Nothing holds the port any more: a socket without SO_REUSEPORT can
	// bind it.
	again, err := net.ListenUDP("udp", s.Addr().(*net.UDPAddr))
	if err != nil {
		t.Fatalf("port still held after Close: %v", err)
	}
	again.Close()
}

func TestListenErrors(t *testing.T) {
	taken, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cases := []struct {
		addr     string
		wantErrs []error
		wantText string
	}{
		{"nonsense", nil, "missing port"},
		{"127.0.0.1:99999", nil, "invalid port"},
		{"[::1:0", nil, "missing ']'"},
		{taken.LocalAddr().String(), []error{syscall.EADDRINUSE}, taken.LocalAddr().String()},
	}
	for _, tc := range cases {
		cfg := testConfig(2)
		cfg.Addr = tc.addr
		s, err := Listen(cfg, func([]Packet) {})
		if err == nil {
			s.Close()
			t.Errorf("Listen(%q) succeeded", tc.addr)
			continue
		}
		for _, want := range tc.wantErrs {
			if !errors.Is(err, want) {
				t.Errorf("Listen(%q) = %v, want %v", tc.addr, err, want)
			}
		}
		t.Logf("Listen(%q): %v", tc.addr, err)
		if !strings.Contains(err.Error(), tc.wantText) || !strings.HasPrefix(err.Error(), "udpin: ") {
			t.Errorf("Listen(%q) = %q, want a udpin error mentioning %q", tc.addr, err, tc.wantText)
		}
	}
	if _, err := Listen(testConfig(1), nil); err == nil {
		t.Error("Listen with a nil handler succeeded")
	}
}

func TestReceiveBufferForcedAsRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SO_RCVBUFFORCE needs CAP_NET_ADMIN; run as root")
	}
	cfg := testConfig(2)
	cfg.ReadBuffer = 64 << 20 // above any usual rmem_max
	logs, observed := observer.New(zap.InfoLevel)
	cfg.Logger = zap.New(logs)
	s := listen(t, cfg, func([]Packet) {})
	for _, sock := range s.sockets {
		if got, want := sock.receiveBufferSize(t), 2*cfg.ReadBuffer; got != want {
			t.Errorf("socket %d: SO_RCVBUF = %d, want the doubled %d", sock.index+1, got, want)
		}
	}
	entries := observed.FilterMessage("udp intake listening").All()
	if len(entries) != 1 || entries[0].ContextMap()["receive-buffer-forced"] != true {
		t.Fatalf("log = %+v, want one info line saying the buffer was forced", observed.All())
	}
}

// Without forcing, rmem_max caps the buffer, and the warning reports what
// the kernel actually granted.
func TestReceiveBufferNotForcedWarns(t *testing.T) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rawConn, err := conn.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	const huge = 1 << 30
	var granted receiveBuffer
	var setErr error
	if err := rawConn.Control(func(fd uintptr) { granted, setErr = setReceiveBuffer(int(fd), huge, false) }); err != nil {
		t.Fatal(err)
	}
	if setErr != nil {
		t.Fatal(setErr)
	}
	if granted.forced || granted.effective <= 0 || granted.effective >= 2*huge {
		t.Fatalf("granted %+v, want an unforced buffer capped below %d", granted, 2*huge)
	}

	logs, observed := observer.New(zap.InfoLevel)
	cfg := testConfig(1)
	logListening(zap.New(logs), conn.LocalAddr(), cfg, granted)
	warnings := observed.FilterLevelExact(zap.WarnLevel).All()
	if len(warnings) != 1 {
		t.Fatalf("log = %+v, want one warning", observed.All())
	}
	fields := warnings[0].ContextMap()
	if fields["receive-buffer-effective"] != int64(granted.effective) || fields["receive-buffer-requested"] != int64(huge) {
		t.Fatalf("warning fields %v, want requested %d and effective %d", fields, huge, granted.effective)
	}
}

// failingRawConn makes every read fail, as a broken socket would, and
// reports each attempt on reads.
type failingRawConn struct {
	syscall.RawConn
	reads chan struct{}
}

var errInjected = errors.New("injected read failure")

func (c failingRawConn) Read(func(uintptr) bool) error {
	select {
	case c.reads <- struct{}{}:
	default:
	}
	return errInjected
}

func TestReadErrorsAreCountedAndLogged(t *testing.T) {
	logs, observed := observer.New(zap.WarnLevel)
	cfg := testConfig(1)
	cfg.Logger = zap.New(logs)
	conn, _, err := listenSocket(cfg.Addr, 0)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{lg: cfg.Logger, handler: func([]Packet) {}, stopped: make(chan struct{})}
	if err := s.addSocket(conn, cfg); err != nil {
		t.Fatal(err)
	}
	reads := make(chan struct{}, 100)
	s.sockets[0].reader.rawConn = failingRawConn{reads: reads}
	s.start()
	// The reader counts a failure before it reads again, so by the 6th
	// attempt 5 failures are counted. The back-off (1, 2, 4, 8 ms) keeps
	// this short and the CPU idle.
	for range 6 {
		<-reads
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	errorCount := s.Stats().ReadErrors
	if errorCount < 5 {
		t.Fatalf("ReadErrors = %d, want at least 5", errorCount)
	}
	// Logged at the 1st, 2nd, 4th, 8th… failure.
	if got, want := observed.FilterMessage("udp read failed").Len(), bits.Len64(errorCount); got != want {
		t.Fatalf("%d warnings for %d read errors, want %d", got, errorCount, want)
	}
}

// With SO_REUSEPORT set before bind, the kernel's choice for port 0 can be
// a port that another SO_REUSEPORT socket of the same user holds, and the
// two would share traffic. Listen must never pick such a port.
func TestPortZeroNeverJoinsAnotherGroup(t *testing.T) {
	const foreignSockets, listens = 2000, 40
	held := make(map[netip.AddrPort]bool)
	for range foreignSockets {
		conn, _, err := listenSocket("127.0.0.1:0", 0)
		if err != nil {
			t.Skipf("after %d sockets: %v", len(held), err)
		}
		defer conn.Close()
		held[conn.LocalAddr().(*net.UDPAddr).AddrPort()] = true
	}
	cfg := testConfig(1)
	cfg.ReadBuffer = 0
	for range listens {
		s, err := Listen(cfg, func([]Packet) {})
		if err != nil {
			t.Fatal(err)
		}
		addr := s.Addr().(*net.UDPAddr).AddrPort()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if held[addr] {
			t.Fatalf("Listen on port 0 chose %v, already held by another SO_REUSEPORT socket", addr)
		}
	}
}

// On a wildcard address the sockets are dual-stack (AF_INET6); an IPv4
// sender appears as a plain IPv4 address and can be answered.
func TestWildcardDualStack(t *testing.T) {
	replies := make(chan error, 1)
	var s *Server
	ready := make(chan struct{})
	rec := newRecorder()
	rec.onBatch = func(batch []Packet) {
		<-ready
		replies <- s.WriteTo([]byte("pong"), batch[0].From)
	}
	cfg := testConfig(2)
	cfg.Addr = ":0"
	s = listen(t, cfg, rec.handle)
	close(ready)
	port := s.Addr().(*net.UDPAddr).Port
	conn, err := net.DialUDP("udp", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	send(t, conn, []byte("ping"))
	if err := <-replies; err != nil {
		t.Fatal(err)
	}
	if got, want := rec.snapshot()[0].from, conn.LocalAddr().(*net.UDPAddr).AddrPort(); got != want {
		t.Fatalf("from %v, want %v", got, want)
	}
	if err := conn.SetReadDeadline(time.Now().Add(waitTimeout)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	if n, err := conn.Read(buf); err != nil || string(buf[:n]) != "pong" {
		t.Fatalf("reply %q, %v; want pong", buf[:n], err)
	}
}

// TestDropsBeforeCloseAreCounted: the kernel drops a burst and nothing
// arrives after it, so SO_RXQ_OVFL never reports it; Close reads the
// counter itself (SO_MEMINFO), and received + dropped == sent.
func TestDropsBeforeCloseAreCounted(t *testing.T) {
	s, _, _, burst := overflowTinyBuffer(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	stats := s.Stats()
	sent := uint64(1 + burst)
	t.Logf("sent %d, %+v", sent, stats)
	if stats.KernelDrops == 0 || stats.Datagrams+stats.KernelDrops != sent {
		t.Fatalf("sent %d: received %d, kernel drops %d; want them to add up, with drops", sent, stats.Datagrams, stats.KernelDrops)
	}
}
