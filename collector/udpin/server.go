package udpin

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/clogs-io/clogs/xlog"
)

// Handler receives the datagrams of one read, in arrival order. It is
// called from each socket's reader goroutine, so concurrently for different
// sockets, and must be safe for that. The batch and every Packet's Data are
// valid only until it returns. While it runs its socket is not read: the
// kernel buffers what arrives meanwhile, and counts what does not fit as
// Stats.KernelDrops. Batches keep allocations at zero per datagram.
type Handler func(batch []Packet)

// Stats are cumulative counters over all sockets since Listen. Every
// datagram that reached a socket is in exactly one of Datagrams, Truncated
// and KernelDrops (KernelDrops as soon as a later datagram reached the same
// socket; see the package comment).
type Stats struct {
	// Datagrams and Bytes were delivered to the handler.
	Datagrams uint64
	Bytes     uint64
	// KernelDrops were dropped by the kernel because a socket's receive
	// buffer was full (SO_RXQ_OVFL).
	KernelDrops uint64
	// Truncated were longer than Config.MaxDatagramSize and dropped.
	Truncated uint64
	// ReadErrors are failed reads; reading goes on after a short pause.
	ReadErrors uint64
	// WriteErrors are failed WriteTo calls.
	WriteErrors uint64
}

// Server owns the sockets and their reader goroutines.
type Server struct {
	lg      *zap.Logger
	handler Handler
	sockets []*socket

	// writeCursor spreads WriteTo over the sockets.
	writeCursor atomic.Uint32
	writeErrors atomic.Uint64

	closing   atomic.Bool
	stopped   chan struct{} // closed by Close; ends error back-off waits
	readers   sync.WaitGroup
	closeOnce sync.Once
	closeErr  error // set inside closeOnce
}

// socket is one of the SO_REUSEPORT sockets with its reader's state.
type socket struct {
	index  int
	conn   *net.UDPConn
	reader *batchReader

	datagrams   atomic.Uint64
	bytes       atomic.Uint64
	kernelDrops atomic.Uint64
	truncated   atomic.Uint64
	readErrors  atomic.Uint64

	// closeErr is set by the reader goroutine before it exits and read
	// by Close after the readers are done.
	closeErr error
}

// drainTimeout bounds how long Close keeps reading what the kernel had
// queued when it was called.
const drainTimeout = time.Second

// Listen opens cfg.Sockets sockets on cfg.Addr and starts reading; every
// batch of datagrams goes to handler until Close.
func Listen(cfg Config, handler Handler) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if handler == nil {
		return nil, errors.New("udpin: nil handler")
	}
	for attempt := 1; ; attempt++ {
		s, err := listenAll(cfg, handler)
		if err == nil {
			s.start()
			return s, nil
		}
		// A port chosen for port 0 can be taken by someone else before
		// we bind it; choose another.
		if !isPortZero(cfg.Addr) || !errors.Is(err, syscall.EADDRINUSE) || attempt == 3 {
			return nil, err
		}
	}
}

// listenAll opens every socket, or none.
func listenAll(cfg Config, handler Handler) (*Server, error) {
	s := &Server{lg: xlog.OrNop(cfg.Logger), handler: handler, stopped: make(chan struct{})}
	addr, err := choosePort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("udpin: listen on %s: %w", cfg.Addr, err)
	}
	var granted receiveBuffer
	for i := range cfg.Sockets {
		conn, socketBuffer, err := listenSocket(addr, cfg.ReadBuffer)
		if err == nil && i == 0 {
			granted = socketBuffer
			// The others bind exactly where the first did, not to
			// whatever a host name resolves to next time.
			addr = conn.LocalAddr().String()
		}
		if err == nil {
			err = s.addSocket(conn, cfg)
		}
		if err != nil {
			s.closeSockets()
			return nil, fmt.Errorf("udpin: listen on %s (socket %d of %d): %w", cfg.Addr, i+1, cfg.Sockets, err)
		}
	}
	logListening(s.lg, s.Addr(), cfg, granted)
	return s, nil
}

// choosePort replaces port 0 in addr with a port no socket uses. Binding
// port 0 with SO_REUSEPORT already set would not do: the kernel's choice
// may be a port another SO_REUSEPORT socket of the same user listens on
// (another collector, a parallel test), and we would silently share its
// traffic. A socket without SO_REUSEPORT gets a port nobody holds; it is
// released at once for ours to bind.
func choosePort(addr string) (string, error) {
	if !isPortZero(addr) {
		return addr, nil
	}
	probe, err := net.ListenPacket("udp", addr)
	if err != nil {
		return "", err
	}
	chosen := probe.LocalAddr().String()
	return chosen, probe.Close()
}

func isPortZero(addr string) bool {
	_, port, err := net.SplitHostPort(addr)
	return err == nil && (port == "0" || port == "")
}

// start runs a reader goroutine for each socket.
func (s *Server) start() {
	s.readers.Add(len(s.sockets))
	for _, sock := range s.sockets {
		go s.serve(sock)
	}
}

func (s *Server) addSocket(conn *net.UDPConn, cfg Config) error {
	rawConn, err := conn.SyscallConn()
	if err != nil {
		conn.Close()
		return err
	}
	s.sockets = append(s.sockets, &socket{
		index:  len(s.sockets),
		conn:   conn,
		reader: newBatchReader(rawConn, cfg.BatchSize, cfg.MaxDatagramSize),
	})
	return nil
}

// closeSockets closes sockets whose readers never started.
func (s *Server) closeSockets() {
	for _, sock := range s.sockets {
		sock.conn.Close()
	}
}

// Addr is the address every socket is bound to, with the actual port.
func (s *Server) Addr() net.Addr { return s.sockets[0].conn.LocalAddr() }

// WriteTo sends b to to from the listen address (from any of the sockets;
// they share it), as an answer to a ping. It is safe for concurrent use,
// from a handler too, and does not allocate. A failure is counted in
// Stats.WriteErrors and returned.
func (s *Server) WriteTo(b []byte, to netip.AddrPort) error {
	if s.closing.Load() {
		s.writeErrors.Add(1)
		return fmt.Errorf("udpin: write to %s: %w", to, net.ErrClosed)
	}
	sock := s.sockets[int(s.writeCursor.Add(1))%len(s.sockets)]
	if _, err := sock.conn.WriteToUDPAddrPort(b, to); err != nil {
		s.writeErrors.Add(1)
		return fmt.Errorf("udpin: write to %s: %w", to, err)
	}
	return nil
}

// Stats sums the counters of all sockets. It is safe to call at any time,
// after Close too.
func (s *Server) Stats() Stats {
	stats := Stats{WriteErrors: s.writeErrors.Load()}
	for _, sock := range s.sockets {
		stats.Datagrams += sock.datagrams.Load()
		stats.Bytes += sock.bytes.Load()
		stats.KernelDrops += sock.kernelDrops.Load()
		stats.Truncated += sock.truncated.Load()
		stats.ReadErrors += sock.readErrors.Load()
	}
	return stats
}

// Close stops reading and waits for the readers and any handler call in
// progress. Each reader first delivers what the kernel had already queued
// on its socket (for up to drainTimeout), then closes the socket. The
// kernel sends what arrives later to the sockets still open, and once all
// are closed refuses it, as for any closed UDP port. Close may be called more than once; later calls return the first
// call's result. Calling it from the handler deadlocks: it waits for the
// handler to return.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.closing.Store(true)
		// An expired deadline wakes a reader blocked in recvmmsg; a
		// reader inside the handler finds it on its next read. A reader
		// that already closed its socket (it saw closing after a failed
		// read) needs no waking. If waking fails otherwise, closing the
		// socket wakes the reader too, at the cost of what it had queued.
		var errs []error
		wakeAt := time.Unix(1, 0)
		for _, sock := range s.sockets {
			err := sock.conn.SetReadDeadline(wakeAt)
			if err != nil && !errors.Is(err, net.ErrClosed) {
				errs = append(errs, fmt.Errorf("socket %d: wake reader: %w", sock.index+1, err))
				sock.conn.Close()
			}
		}
		close(s.stopped)
		s.readers.Wait()
		for _, sock := range s.sockets {
			if sock.closeErr != nil {
				errs = append(errs, fmt.Errorf("socket %d: %w", sock.index+1, sock.closeErr))
			}
		}
		if err := errors.Join(errs...); err != nil {
			s.closeErr = fmt.Errorf("udpin: close: %w", err)
		}
	})
	return s.closeErr
}

// serve is a socket's reader goroutine.
func (s *Server) serve(sock *socket) {
	defer s.readers.Done()
	var backoff errorBackoff
	for {
		_, err := s.readAndDeliver(sock)
		switch {
		case err == nil:
			backoff.reset()
		case s.closing.Load():
			s.drainAndClose(sock)
			return
		default:
			s.countReadError(sock, err)
			if !backoff.wait(s.stopped) {
				s.drainAndClose(sock)
				return
			}
		}
	}
}

// readAndDeliver reads one batch, counts it, and hands the delivered
// datagrams to the handler. It returns how many messages the kernel gave.
func (s *Server) readAndDeliver(sock *socket) (int, error) {
	packets, counts, err := sock.reader.read()
	if err != nil {
		return 0, err
	}
	// Count before the handler runs, so that a handler (or a test) that
	// sees a datagram also sees it counted.
	var bytes uint64
	for _, p := range packets {
		bytes += uint64(len(p.Data))
	}
	sock.datagrams.Add(uint64(len(packets)))
	sock.bytes.Add(bytes)
	if counts.truncated > 0 {
		sock.truncated.Add(counts.truncated)
	}
	if counts.kernelDrops > 0 {
		sock.kernelDrops.Add(counts.kernelDrops)
	}
	if len(packets) > 0 {
		s.handler(packets)
	}
	return counts.messages, nil
}

// drainAndClose delivers what the kernel has queued on the socket, without
// waiting for more, then closes it.
func (s *Server) drainAndClose(sock *socket) {
	err := sock.conn.SetReadDeadline(time.Now().Add(drainTimeout))
	if err == nil {
		s.drain(sock)
	}
	s.countLastDrops(sock)
	// A socket Close already closed (because it could not wake the
	// reader) is not a second failure.
	sock.closeErr = errors.Join(ignoreClosed(err), ignoreClosed(sock.conn.Close()))
}

// countLastDrops adds the drops SO_RXQ_OVFL has not reported yet: the
// kernel attaches its counter to the next datagram it queues, so drops
// with no datagram after them (the last burst before Close) would
// otherwise go uncounted. SO_MEMINFO reads the same counter directly.
func (s *Server) countLastDrops(sock *socket) {
	raw, err := sock.conn.SyscallConn()
	if err != nil {
		return
	}
	var counter uint32
	var readErr error
	if err := raw.Control(func(fd uintptr) { counter, readErr = socketDrops(int(fd)) }); err != nil || readErr != nil {
		s.lg.Warn("cannot read the socket's drop counter at close", zap.Int("socket", sock.index+1), zap.Error(errors.Join(err, readErr)))
		return
	}
	if n := sock.reader.dropsSince(counter); n > 0 {
		sock.kernelDrops.Add(n)
	}
}

// drain reads until the socket is empty or its read deadline passes.
func (s *Server) drain(sock *socket) {
	sock.reader.returnWhenEmpty = true
	for {
		messages, err := s.readAndDeliver(sock)
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			s.lg.Warn("socket still not empty when the drain on close timed out; what it holds is lost",
				zap.Int("socket", sock.index+1), zap.Duration("drain-timeout", drainTimeout))
			return
		case err != nil:
			s.countReadError(sock, err)
			return
		case messages == 0:
			return
		}
	}
}

func ignoreClosed(err error) error {
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

func (s *Server) countReadError(sock *socket, err error) {
	count := sock.readErrors.Add(1)
	// Log the 1st, 2nd, 4th, 8th… error of a socket, so a persistent
	// failure is visible without flooding the log.
	if count&(count-1) == 0 {
		s.lg.Warn("udp read failed", zap.Int("socket", sock.index+1),
			zap.Uint64("read-errors", count), zap.Error(err))
	}
}

// errorBackoff paces a reader whose reads keep failing, so a persistent
// error does not spin a CPU: 1 ms after the first, doubling up to 1 s.
type errorBackoff struct{ delay time.Duration }

const (
	minErrorBackoff = time.Millisecond
	maxErrorBackoff = time.Second
)

func (b *errorBackoff) reset() { b.delay = 0 }

// wait pauses, and reports false if stopped was closed meanwhile.
func (b *errorBackoff) wait(stopped <-chan struct{}) bool {
	b.delay = min(max(2*b.delay, minErrorBackoff), maxErrorBackoff)
	timer := time.NewTimer(b.delay)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-stopped:
		return false
	}
}
