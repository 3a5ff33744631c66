package collector

import (
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
}

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
	m.registry.MustRegister(m.datagrams, m.dropped, m.lines, m.blocks, m.bytes, m.latency)
	for _, r := range clogs.Reasons() {
		m.dropped.WithLabelValues(r.String())
	}
	for _, r := range []string{reasonOverload, reasonTooManyStreams, reasonAppendFailed, reasonShutdown, reasonBadSyslog, reasonUnexpectedPong, reasonTooLarge, reasonStarting, reasonInternal} {
		m.dropped.WithLabelValues(r)
	}
	return m
}

func (m *metrics) drop(reason string, n int) { m.dropped.WithLabelValues(reason).Add(float64(n)) }

func (m *metrics) stored(lines, bytes int, took time.Duration) {
	m.lines.Add(float64(lines))
	m.blocks.Inc()
	m.bytes.Add(float64(bytes))
	m.latency.Observe(took.Seconds())
}
