package udpin

import (
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// waitTimeout bounds every wait for a condition; the conditions hold in
// milliseconds on loopback, so hitting it means a bug.
const waitTimeout = 10 * time.Second

// received is a copy of a delivered datagram.
type received struct {
	data []byte
	from netip.AddrPort
}

// recorder is a Handler that keeps copies of what it is given and wakes
// waiters after each batch. Stats are updated before the handler runs, so
// a waiter woken by a batch sees that batch counted.
type recorder struct {
	mu      sync.Mutex
	packets []received // guarded by mu
	// markers holds the senders whose marker (see numbered) arrived;
	// guarded by mu.
	markers map[int]bool
	changed chan struct{}
	// onBatch, when set, runs after the batch is recorded (in the reader).
	onBatch func(batch []Packet)
}

func newRecorder() *recorder {
	return &recorder{changed: make(chan struct{}, 1), markers: make(map[int]bool)}
}

func (r *recorder) handle(batch []Packet) {
	r.mu.Lock()
	for _, p := range batch {
		r.packets = append(r.packets, received{data: append([]byte(nil), p.Data...), from: p.From})
		if sender, seq, ok := parseNumbered(p.Data); ok && seq == -1 {
			r.markers[sender] = true
		}
	}
	r.mu.Unlock()
	select {
	case r.changed <- struct{}{}:
	default:
	}
	if r.onBatch != nil {
		r.onBatch(batch)
	}
}

func (r *recorder) snapshot() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.packets...)
}

func (r *recorder) markerArrived(sender int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.markers[sender]
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.packets)
}

// await waits up to timeout for cond, re-checking after every batch.
func (r *recorder) await(timeout time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for !cond() {
		select {
		case <-r.changed:
		case <-deadline.C:
			return cond()
		}
	}
	return true
}

// mustAwait fails the test if cond does not hold within waitTimeout.
func (r *recorder) mustAwait(t testing.TB, what string, cond func() bool) {
	t.Helper()
	if !r.await(waitTimeout, cond) {
		t.Fatalf("timed out waiting for %s", what)
	}
}

// testConfig listens on a free loopback port.
func testConfig(sockets int) Config {
	cfg := DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.Sockets = sockets
	return cfg
}

func listen(t testing.TB, cfg Config, handler Handler) *Server {
	t.Helper()
	s, err := Listen(cfg, handler)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// dial returns a UDP socket connected to the server.
func dial(t testing.TB, s *Server) *net.UDPConn {
	t.Helper()
	conn, err := net.DialUDP("udp", nil, s.Addr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func send(t testing.TB, conn *net.UDPConn, b []byte) {
	t.Helper()
	if _, err := conn.Write(b); err != nil {
		t.Fatalf("send %d bytes: %v", len(b), err)
	}
}

// pattern fills a datagram so that a misplaced or cut byte shows.
func pattern(size int, seed byte) []byte {
	b := make([]byte, size)
	for i := range b {
		b[i] = seed + byte(i%251)
	}
	return b
}
