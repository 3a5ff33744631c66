package collector

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/clogs-io/clogs/clogs"
)

// Drop reasons of the collector's own; malformed datagrams are counted by
// clogs.Reason, and the kernel's drops by the sockets (udpin).
const (
	reasonOverload       = "overload"         // the memory bound was reached
	reasonTooManyStreams = "too_many_streams" // MaxStreams streams are open
	reasonAppendFailed   = "append_failed"    // the block could not be stored
	reasonShutdown       = "shutdown"         // still unsent when shutdown gave up
	reasonBadSyslog      = "bad_syslog"       // a syslog datagram did not parse
	reasonUnexpectedPong = "unexpected_pong"  // a pong sent to the collector
	reasonTooLarge       = "field_too_long"   // a field over a log block's limits
	reasonStarting       = "starting"         // a ping before the listener was ready to answer
	reasonInternal       = "internal"         // a bug: logged
)

// metrics are the collector's Prometheus collectors, in their own
// registry.
type metrics struct {
	registry  *prometheus.Registry
	datagrams *prometheus.CounterVec // by listener and kind
	dropped   *prometheus.CounterVec // lines/datagrams by reason
	lines     prometheus.Counter     // stored lines
	blocks    prometheus.Counter
	bytes     prometheus.Counter
	latency   prometheus.Histogram
	// blockLines and blockBytes are the sizes of the blocks appended:
	// lines per block and records' bytes before compression.
	blockLines prometheus.Histogram
	blockBytes prometheus.Histogram
	// linesByType counts lines received by sys and type, for at most
	// maxTypeLabels pairs; the rest are counted under "other".
	linesByType *prometheus.CounterVec
	typesMu     sync.RWMutex
	types       map[string]prometheus.Counter // guarded by typesMu; by "sys\x00type"
	typesFull   atomic.Bool                   // types holds maxTypeLabels pairs: new pairs count as "other"
	otherTypes  prometheus.Counter
	// Per listener and kind, resolved once: WithLabelValues hashes its
	// arguments on every call.
	clogsLog, clogsPing, clogsPong, syslogLine prometheus.Counter
}

// maxTypeLabels bounds the (sys, type) label pairs: both come from
// senders, and an unbounded label set would grow without limit.
const maxTypeLabels = 1000

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		datagrams: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "clogs_collector_datagrams_total",
			Help: "Datagrams received, by listener (clogs, syslog) and kind (log, ping, pong, syslog)."}, []string{"listener", "kind"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "clogs_collector_dropped_total",
			Help: "Lines or datagrams dropped, by reason; with the stored lines, this accounts for every line received."}, []string{"reason"}),
		lines: prometheus.NewCounter(prometheus.CounterOpts{Name: "clogs_collector_lines_stored_total",
			Help: "Lines stored in streams (acknowledged by all three replicas)."}),
		blocks: prometheus.NewCounter(prometheus.CounterOpts{Name: "clogs_collector_blocks_appended_total",
			Help: "Log blocks appended."}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "clogs_collector_block_bytes_total",
			Help: "Payload bytes of the log blocks appended (after compression)."}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "clogs_collector_append_seconds",
			Help: "Time to store one log block.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}),
	}
	m.blockLines = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "clogs_collector_block_lines",
		Help: "Lines per log block appended.", Buckets: prometheus.ExponentialBuckets(1, 4, 10)})
	m.blockBytes = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "clogs_collector_block_record_bytes",
		Help: "Bytes of records per log block appended, before compression.", Buckets: prometheus.ExponentialBuckets(256, 4, 9)})
	m.linesByType = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "clogs_collector_lines_received_total",
		Help: "Log lines received, by sys and type (the first 1000 pairs; later ones as sys=type=\"other\")."}, []string{"sys", "type"})
	m.registry.MustRegister(m.datagrams, m.dropped, m.lines, m.blocks, m.bytes, m.latency, m.blockLines, m.blockBytes, m.linesByType)
	m.clogsLog = m.datagrams.WithLabelValues("clogs", "log")
	m.clogsPing = m.datagrams.WithLabelValues("clogs", "ping")
	m.clogsPong = m.datagrams.WithLabelValues("clogs", "pong")
	m.syslogLine = m.datagrams.WithLabelValues("syslog", "syslog")
	m.otherTypes = m.linesByType.WithLabelValues("other", "other")
	for _, r := range clogs.Reasons() {
		m.dropped.WithLabelValues(r.String())
	}
	for _, r := range []string{reasonOverload, reasonTooManyStreams, reasonAppendFailed, reasonShutdown, reasonBadSyslog, reasonUnexpectedPong, reasonTooLarge, reasonStarting, reasonInternal} {
		m.dropped.WithLabelValues(r)
	}
	return m
}

func (m *metrics) drop(reason string, n int) { m.dropped.WithLabelValues(reason).Add(float64(n)) }

func (m *metrics) stored(lines, recordBytes, payloadBytes int, took time.Duration) {
	m.lines.Add(float64(lines))
	m.blocks.Inc()
	m.bytes.Add(float64(payloadBytes))
	m.latency.Observe(took.Seconds())
	m.blockLines.Observe(float64(lines))
	m.blockBytes.Observe(float64(recordBytes))
}

// received counts a line by its sys and type.
func (m *metrics) received(sys, msgType []byte) {
	var keyBuf [64]byte
	key := append(append(append(keyBuf[:0], sys...), 0), msgType...)
	m.typesMu.RLock()
	c := m.types[string(key)] // a lookup: the conversion does not allocate
	m.typesMu.RUnlock()
	switch {
	case c != nil:
	case m.typesFull.Load():
		c = m.otherTypes // no write lock per line for senders that invent types
	default:
		c = m.typeCounter(string(key), sys, msgType)
	}
	c.Inc()
}

func (m *metrics) typeCounter(key string, sys, msgType []byte) prometheus.Counter {
	m.typesMu.Lock()
	defer m.typesMu.Unlock()
	if c := m.types[key]; c != nil {
		return c
	}
	if m.types == nil {
		m.types = map[string]prometheus.Counter{}
	}
	if len(m.types) >= maxTypeLabels {
		m.typesFull.Store(true)
		return m.otherTypes
	}
	c := m.linesByType.WithLabelValues(string(sys), string(msgType))
	m.types[key] = c
	return c
}

// datagram counts a received clogs datagram by kind.
func (m *metrics) datagram(kind clogs.Kind) {
	switch kind {
	case clogs.KindLog:
		m.clogsLog.Inc()
	case clogs.KindPing:
		m.clogsPing.Inc()
	case clogs.KindPong:
		m.clogsPong.Inc()
	}
}
