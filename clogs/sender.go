package clogs

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Errors of Send. Test with errors.Is.
var (
	// ErrNoCollector: every collector is isolated; the line was not sent.
	ErrNoCollector = errors.New("clogs: no live collector")
	// ErrClosed: the sender is closed.
	ErrClosed = errors.New("clogs: sender closed")
)

// Sender sends log lines to a set of collectors as clogs datagrams. It
// picks a line's collector by consistent hashing of its file name over
// the live collectors (see ring), so all lines of a file go to one
// collector, in order, while it stays healthy. It checks each collector's
// health with pings from a goroutine per collector, and rebuilds the ring
// when one is isolated or recovers.
//
// Send never waits on the network beyond its own write, nor on a lock:
// it reads the current ring through an atomic pointer, which the health
// goroutines replace. A Sender is safe for concurrent use; one per
// process is enough.
type Sender struct {
	cfg        SenderConfig
	lg         *zap.Logger
	collectors []*collector
	points     [][]ringPoint // each collector's points, built once
	ring       atomic.Pointer[ring]

	// mu guards the collectors' health state (collector.live, .failures)
	// and orders the ring rebuilds. It is never held across I/O, and Send
	// never takes it.
	mu sync.Mutex

	seq  atomic.Uint32 // the datagram sequence number of the last line
	bufs sync.Pool     // *sendBuffer

	sent, errs, noCollector, isolations, recoveries atomic.Uint64

	closed    atomic.Bool
	done      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// collector is one collector and its socket, which carries both the log
// lines and the pings, and receives the pongs.
type collector struct {
	name   string
	addr   string
	weight int
	conn   *net.UDPConn
	sent   atomic.Uint64

	live     bool // guarded by Sender.mu
	failures int  // checks failed in a row; guarded by Sender.mu
}

// sendBuffer is the scratch space of one Send: a pooled buffer, so that
// the send path allocates nothing.
type sendBuffer struct {
	names []byte // sys_id, msg_type and file_name, copied from the strings
	out   []byte // the encoded datagram
}

// SenderStats are a sender's counters since NewSender.
type SenderStats struct {
	Sent        uint64 `json:"sent"`         // lines written to a collector's socket
	Errors      uint64 `json:"errors"`       // lines Send returned an error for
	NoCollector uint64 `json:"no_collector"` // of Errors, those sent when no collector was live
	Isolations  uint64 `json:"isolations"`   // collectors isolated after failed checks
	Recoveries  uint64 `json:"recoveries"`   // isolated collectors back after a pong
	Live        int    `json:"live"`         // collectors now live
	Collectors  int    `json:"collectors"`   // collectors configured
}

// CollectorStatus is the health of one collector.
type CollectorStatus struct {
	Name     string `json:"name"`
	Addr     string `json:"addr"`
	Weight   int    `json:"weight"`
	Live     bool   `json:"live"`
	Failures int    `json:"failures"` // checks failed in a row
	Sent     uint64 `json:"sent"`     // lines sent to it
}

// NewSender opens a socket to each collector and starts their health
// checks. Every collector starts live: a sender that has just started
// can send at once, and a collector that does not answer is isolated
// after FailureThreshold intervals. Close the Sender to stop the checks.
func NewSender(cfg SenderConfig) (*Sender, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Sender{cfg: cfg, lg: cfg.Logger, done: make(chan struct{})}
	if s.lg == nil {
		s.lg = zap.NewNop()
	}
	s.bufs.New = func() any { return &sendBuffer{} }
	for i, cc := range cfg.Collectors {
		c, err := dialCollector(cc)
		if err != nil {
			s.closeConns()
			return nil, err
		}
		c.live = true
		s.collectors = append(s.collectors, c)
		s.points = append(s.points, collectorPoints(c.name, c.weight, i))
	}
	s.rebuildLocked()
	for _, c := range s.collectors {
		s.wg.Add(1)
		go s.watch(c)
	}
	return s, nil
}

func dialCollector(cc CollectorConfig) (*collector, error) {
	raddr, err := net.ResolveUDPAddr("udp", cc.Addr)
	if err != nil {
		return nil, fmt.Errorf("clogs: collector %s: %w", cc.ringName(), err)
	}
	conn, err := net.DialUDP("udp", nil, raddr)
	if err != nil {
		return nil, fmt.Errorf("clogs: collector %s: %w", cc.ringName(), err)
	}
	return &collector{name: cc.ringName(), addr: cc.Addr, weight: cc.weight(), conn: conn}, nil
}

// Send sends one log line: subsystem sys, message type msgType (may be
// empty), file name file, and the message msg, whose first headLen bytes
// are an application header. It encodes the datagram into a pooled buffer
// and writes it to the file's collector. It returns ErrNoCollector when
// no collector is live, ErrClosed after Close, a *MalformedError when the
// fields break the datagram's limits, or the socket's error; each is
// counted in Errors. A nil error means the datagram left the process:
// UDP says nothing of its arrival.
func (s *Sender) Send(sys, msgType, file string, headLen uint16, msg []byte) error {
	if s.closed.Load() {
		s.errs.Add(1)
		return ErrClosed
	}
	buf := s.bufs.Get().(*sendBuffer)
	defer s.bufs.Put(buf)
	datagram, err := buf.encode(s.seq.Add(1), sys, msgType, file, headLen, msg)
	if err != nil {
		s.errs.Add(1)
		return err
	}
	i := s.ring.Load().lookup(file)
	if i < 0 {
		s.errs.Add(1)
		s.noCollector.Add(1)
		return ErrNoCollector
	}
	c := s.collectors[i]
	if _, err := c.conn.Write(datagram); err != nil {
		s.errs.Add(1)
		if errors.Is(err, net.ErrClosed) {
			return ErrClosed
		}
		return fmt.Errorf("clogs: send to collector %s: %w", c.name, err)
	}
	s.sent.Add(1)
	c.sent.Add(1)
	return nil
}

// encode encodes a log datagram into b.out. The strings are copied into
// b.names first, so that the datagram's fields are slices without an
// allocation per line.
func (b *sendBuffer) encode(seq uint32, sys, msgType, file string, headLen uint16, msg []byte) ([]byte, error) {
	b.names = append(append(append(b.names[:0], sys...), msgType...), file...)
	sysEnd, typeEnd := len(sys), len(sys)+len(msgType)
	d := Datagram{
		Kind:     KindLog,
		Seq:      seq,
		SysID:    b.names[:sysEnd:sysEnd],
		MsgType:  b.names[sysEnd:typeEnd:typeEnd],
		FileName: b.names[typeEnd:],
		HeadLen:  headLen,
		Message:  msg,
	}
	out, err := AppendEncode(b.out[:0], &d)
	if err != nil {
		return nil, err
	}
	b.out = out
	return out, nil
}

// Stats returns the sender's counters.
func (s *Sender) Stats() SenderStats {
	return SenderStats{
		Sent:        s.sent.Load(),
		Errors:      s.errs.Load(),
		NoCollector: s.noCollector.Load(),
		Isolations:  s.isolations.Load(),
		Recoveries:  s.recoveries.Load(),
		Live:        s.ring.Load().live,
		Collectors:  len(s.collectors),
	}
}

// Live returns how many collectors are live, of how many configured.
func (s *Sender) Live() (live, total int) { return s.ring.Load().live, len(s.collectors) }

// Collectors returns each collector's health, in the config's order.
func (s *Sender) Collectors() []CollectorStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]CollectorStatus, len(s.collectors))
	for i, c := range s.collectors {
		out[i] = CollectorStatus{Name: c.name, Addr: c.addr, Weight: c.weight, Live: c.live, Failures: c.failures, Sent: c.sent.Load()}
	}
	return out
}

// CollectorFor returns the name of the collector that lines of file go to
// now, or "" when none is live.
func (s *Sender) CollectorFor(file string) string {
	if i := s.ring.Load().lookup(file); i >= 0 {
		return s.collectors[i].name
	}
	return ""
}

// Close stops the health checks and closes the sockets. Sends after Close
// return ErrClosed. It is safe to call more than once.
func (s *Sender) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		close(s.done)
		s.closeConns() // ends the health goroutines' reads at once
		s.wg.Wait()
	})
	return nil
}

func (s *Sender) closeConns() {
	for _, c := range s.collectors {
		c.conn.Close()
	}
}

// watch checks collector c's health every interval until Close: it sends
// a ping and waits until the next check is due for the pong carrying the
// ping's ID plus one. Pongs with another ID (late answers to earlier
// pings) and anything else received are ignored; a check without the
// right pong by its end fails.
func (s *Sender) watch(c *collector) {
	defer s.wg.Done()
	interval := s.cfg.HealthInterval
	timer := time.NewTimer(interval)
	defer timer.Stop()
	pingID := rand.Uint32() // so that a stray pong of an earlier process does not match
	ping := make([]byte, 0, MinDatagram)
	in := make([]byte, MaxDatagram)
	due := time.Now()
	for {
		pingID++
		due = due.Add(interval)
		ok := s.check(c, pingID, ping, in, due)
		select {
		case <-s.done:
			return
		default:
		}
		s.checked(c, ok)
		timer.Reset(time.Until(due))
		select {
		case <-s.done:
			return
		case <-timer.C:
		}
		if now := time.Now(); now.Sub(due) > interval {
			due = now // we fell behind (a paused process): do not ping in a burst
		}
	}
}

// check pings c with pingID and reports whether its pong came back before
// deadline.
func (s *Sender) check(c *collector, pingID uint32, ping, in []byte, deadline time.Time) bool {
	p := NewPing(pingID)
	ping, _ = AppendEncode(ping[:0], &p) // a ping is always valid
	if _, err := c.conn.Write(ping); err != nil {
		return false
	}
	if err := c.conn.SetReadDeadline(deadline); err != nil {
		return false
	}
	for {
		n, err := c.conn.Read(in)
		if err != nil {
			// A timeout, the socket closed by Close, or an ICMP port
			// unreachable from an earlier datagram: the check fails.
			return false
		}
		var pong Datagram
		if Decode(in[:n], &pong) == nil && IsPongFor(&pong, pingID) {
			return true
		}
	}
}

// checked records the outcome of one check of c: a pong recovers an
// isolated collector, and FailureThreshold failures in a row isolate a
// live one. Either rebuilds the ring.
func (s *Sender) checked(c *collector, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ok {
		c.failures = 0
		if !c.live {
			c.live = true
			s.rebuildLocked() // before the count, so that a reader of both sees the new ring
			s.recoveries.Add(1)
			s.lg.Info("collector recovered", zap.String("collector", c.name), zap.String("addr", c.addr))
		}
		return
	}
	c.failures++
	if c.live && c.failures >= s.cfg.FailureThreshold {
		c.live = false
		s.rebuildLocked()
		s.isolations.Add(1)
		s.lg.Warn("collector isolated", zap.String("collector", c.name), zap.String("addr", c.addr),
			zap.Int("failed-checks", c.failures))
	}
}

// rebuildLocked builds the ring over the live collectors and publishes
// it. The caller holds mu (or is NewSender, before the goroutines start).
func (s *Sender) rebuildLocked() {
	s.ring.Store(buildRing(s.points, func(i int) bool { return s.collectors[i].live }))
}
