// Package collector is the clogs log collector: it takes log lines over
// UDP (clogs datagrams and syslog), masks what is sensitive (package
// mask), routes each line to a stream (Config.StreamTemplate), batches the
// lines of each stream into log blocks (package logblock) and appends them
// through the stream client. It answers pings at once, for senders' health
// checks.
//
// Every line received is either stored or dropped and counted by reason
// (invariant 7): malformed datagrams by clogs.Reason, lines over the
// memory bound ("overload"), blocks the cluster would not take
// ("append_failed"), and the kernel's own drops on our sockets. Close
// stops intake and flushes every line accepted before it returns.
package collector

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/clogs-io/clogs/clogs"
	"github.com/clogs-io/clogs/collector/udpin"
	"github.com/clogs-io/clogs/logblock"
	"github.com/clogs-io/clogs/mask"
	"github.com/clogs-io/clogs/streamclient"
	"github.com/clogs-io/clogs/xlog"
)

// Collector receives, masks, batches and stores log lines.
//
// Lock order: mu before a sink's mu.
type Collector struct {
	cfg      Config
	lg       *zap.Logger
	client   *streamclient.Client
	rules    *mask.Rules
	masked   mask.Counters
	metrics  *metrics
	writerID [16]byte // in every block's header; new for each start
	// batchSeq numbers the blocks of this collector, across all streams:
	// a stream's sink may retire and come back, and readers drop a block
	// whose (writer ID, batch sequence) is not above the last they saw.
	batchSeq atomic.Uint64

	intake   *udpin.Server
	syslogIn *udpin.Server
	// pongs is intake, for the handler: its readers start before Listen
	// returns the server.
	pongs atomic.Pointer[udpin.Server]
	http  *httpServer

	buffered atomic.Int64 // bytes of lines accepted and not yet stored or dropped

	mu      sync.Mutex
	sinks   map[string]*sink // guarded by mu
	closing bool             // guarded by mu

	closeOnce sync.Once
	closeErr  error
}

// Start validates cfg, opens the listeners and starts collecting.
func Start(cfg Config) (*Collector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Collector{cfg: cfg, lg: xlog.OrNop(cfg.Logger), rules: cfg.Rules, metrics: newMetrics(), sinks: map[string]*sink{}}
	if c.rules == nil {
		c.rules = mask.DefaultRules()
	}
	if _, err := rand.Read(c.writerID[:]); err != nil {
		return nil, fmt.Errorf("collector: writer ID: %w", err)
	}
	client, err := streamclient.New(cfg.Client)
	if err != nil {
		return nil, err
	}
	c.client = client
	if err := c.listen(); err != nil {
		c.Close()
		return nil, err
	}
	c.registerGauges()
	return c, nil
}

func (c *Collector) listen() error {
	intake := c.cfg.Intake
	intake.Addr, intake.Logger = c.cfg.Listen, c.lg
	var err error
	if c.intake, err = udpin.Listen(intake, c.handleClogs); err != nil {
		return fmt.Errorf("collector: clogs listener: %w", err)
	}
	c.pongs.Store(c.intake)
	if c.cfg.Syslog != "" {
		intake.Addr = c.cfg.Syslog
		if c.syslogIn, err = udpin.Listen(intake, c.handleSyslog); err != nil {
			return fmt.Errorf("collector: syslog listener: %w", err)
		}
	}
	if c.cfg.HTTP != "" {
		if c.http, err = startHTTP(c); err != nil {
			return fmt.Errorf("collector: http: %w", err)
		}
	}
	return nil
}

// Addr is the clogs datagram listener's address.
func (c *Collector) Addr() net.Addr { return c.intake.Addr() }

// SyslogAddr is the syslog listener's address, or nil.
func (c *Collector) SyslogAddr() net.Addr {
	if c.syslogIn == nil {
		return nil
	}
	return c.syslogIn.Addr()
}

// HTTPAddr is the metrics and status address, or "".
func (c *Collector) HTTPAddr() string {
	if c.http == nil {
		return ""
	}
	return c.http.addr
}

// handleClogs takes a batch of clogs datagrams from one socket.
func (c *Collector) handleClogs(batch []udpin.Packet) {
	now := time.Now().UnixNano()
	var d clogs.Datagram
	var pong []byte
	for _, p := range batch {
		if err := clogs.Decode(p.Data, &d); err != nil {
			c.metrics.drop(clogs.ReasonOf(err).String(), 1)
			continue
		}
		c.metrics.datagram(d.Kind)
		switch d.Kind {
		case clogs.KindPing:
			srv := c.pongs.Load()
			if srv == nil {
				c.metrics.drop(reasonStarting, 1)
				continue
			}
			reply := clogs.PongFor(&d)
			pong, _ = clogs.AppendEncode(pong[:0], &reply)
			srv.WriteTo(pong, p.From) // a failure is counted by udpin
		case clogs.KindPong:
			c.metrics.drop(reasonUnexpectedPong, 1)
		case clogs.KindLog:
			c.accept(now, p.From, d.SysID, d.MsgType, d.FileName, int(d.HeadLen), d.Message)
		}
	}
}

// accept masks one clogs line and hands it to its stream's sink.
func (c *Collector) accept(now int64, from netip.AddrPort, sys, msgType, file []byte, headLen int, msg []byte) {
	var nameBuf [maxStreamName]byte
	name := streamName(nameBuf[:0], c.cfg.StreamTemplate, sys, msgType, file)
	c.acceptTo(name, now, from, sys, msgType, file, headLen, msg)
}

// acceptTo masks one line and hands it to the sink of stream name, or
// counts why it was dropped.
func (c *Collector) acceptTo(name []byte, now int64, from netip.AddrPort, sys, msgType, file []byte, headLen int, msg []byte) {
	c.metrics.received(sys, msgType)
	masked, st := c.rules.Mask(string(sys), string(msgType), headLen, msg)
	c.masked.Add(st)
	var source [64]byte
	rec := logblock.Record{ReceivedNanos: now, Source: from.AppendTo(source[:0]), SysID: sys, MsgType: msgType, FileName: file, Message: masked}
	size := int64(rec.EncodedSize())
	if c.buffered.Add(size) > c.cfg.MaxBufferedBytes {
		c.release(size)
		c.metrics.drop(reasonOverload, 1)
		return
	}
	err := errRetired
	for err == errRetired { // a sink that retired meanwhile is replaced by a new one
		s, reason := c.sink(name)
		if s == nil {
			c.release(size)
			c.metrics.drop(reason, 1)
			return
		}
		err = s.add(rec, size)
	}
	if err != nil {
		c.release(size)
		switch {
		case errors.Is(err, errClosing):
			c.metrics.drop(reasonShutdown, 1)
		case errors.Is(err, logblock.ErrFieldTooLong):
			c.metrics.drop(reasonTooLarge, 1)
		default:
			c.lg.Error("add line to block", zap.ByteString("stream", name), zap.Error(err))
			c.metrics.drop(reasonInternal, 1)
		}
	}
}

// sink returns the sink of stream name, starting it if needed, or the
// reason there is none.
func (c *Collector) sink(name []byte) (*sink, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.sinks[string(name)]; s != nil {
		return s, ""
	}
	if c.closing {
		return nil, reasonShutdown
	}
	if len(c.sinks) >= c.cfg.MaxStreams {
		return nil, reasonTooManyStreams
	}
	s := newSink(c, string(name))
	c.sinks[s.name] = s
	return s, ""
}

// release returns buffered bytes to the memory bound.
func (c *Collector) release(n int64) { c.buffered.Add(-n) }

// appendTimeout bounds one block's append with all its retries.
func (c *Collector) appendTimeout() time.Duration {
	cc := c.cfg.Client
	return time.Duration(cc.Attempts) * (cc.CallTimeout + cc.MaxBackoff)
}

// Close stops intake, stores every line accepted (waiting at most until
// ctx ends; lines still unsent then are counted as dropped), and closes
// the connections.
func (c *Collector) Close() error { return c.Shutdown(context.Background()) }

// Shutdown is Close with a deadline.
func (c *Collector) Shutdown(ctx context.Context) error {
	c.closeOnce.Do(func() { c.closeErr = c.shutdown(ctx) })
	return c.closeErr
}

func (c *Collector) shutdown(ctx context.Context) error {
	var errs []error
	for _, srv := range []*udpin.Server{c.intake, c.syslogIn} {
		if srv != nil {
			errs = append(errs, srv.Close())
		}
	}
	c.mu.Lock()
	c.closing = true
	sinks := make([]*sink, 0, len(c.sinks))
	for _, s := range c.sinks {
		sinks = append(sinks, s)
	}
	c.mu.Unlock()
	for _, s := range sinks {
		s.close()
	}
	for _, s := range sinks {
		select {
		case <-s.done:
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("collector: stream %s not flushed: %w", s.name, ctx.Err()))
		}
	}
	if c.http != nil {
		errs = append(errs, c.http.close())
	}
	if c.client != nil {
		errs = append(errs, c.client.Close())
	}
	return errors.Join(errs...)
}

type udpinStats = udpin.Stats

// intakeStats returns the counters of the listeners that are open.
func (c *Collector) intakeStats() []udpin.Stats {
	var out []udpin.Stats
	for _, srv := range []*udpin.Server{c.intake, c.syslogIn} {
		if srv != nil {
			out = append(out, srv.Stats())
		}
	}
	return out
}
