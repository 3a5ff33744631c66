package node

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// metrics are the node's Prometheus metrics, in a registry of the node's own
// so that several nodes can live in one test process.
type metrics struct {
	registry  *prometheus.Registry
	requests  *prometheus.CounterVec   // by method and code
	latency   *prometheus.HistogramVec // by method
	bytes     *prometheus.CounterVec   // payload bytes by method
	batch     prometheus.Histogram     // primary batch: local write + both replicas
	batchSize prometheus.Histogram
	fsync     prometheus.Histogram

	repairBytes    prometheus.Counter
	repairs        *prometheus.CounterVec // by outcome: repaired, whole, failed
	orphansDeleted prometheus.Counter
	scrubBytes     prometheus.Counter
	damagedFound   prometheus.Counter
}

// latencyBuckets go from 50µs to about 6.5s.
var latencyBuckets = prometheus.ExponentialBuckets(50e-6, 2, 18)

func newMetrics(n *Node) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clogs_node_requests_total", Help: "gRPC requests by method and status code.",
		}, []string{"method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "clogs_node_request_seconds", Help: "gRPC request latency by method.", Buckets: latencyBuckets,
		}, []string{"method"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clogs_node_bytes_total", Help: "Block bytes on disk appended, replicated and read.",
		}, []string{"op"}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "clogs_node_batch_seconds", Help: "Primary batches: local write and replication to every secondary.", Buckets: latencyBuckets,
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "clogs_node_batch_bytes", Help: "Bytes per primary batch.", Buckets: prometheus.ExponentialBuckets(4096, 4, 10),
		}),
		fsync: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "clogs_node_fdatasync_seconds", Help: "fdatasync latency of extent appends.", Buckets: latencyBuckets,
		}),
		repairBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "clogs_node_repair_bytes_total", Help: "Block bytes copied from other replicas by RepairExtent.",
		}),
		repairs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clogs_node_repairs_total", Help: "RepairExtent calls by outcome: repaired (copied and/or sealed), whole (nothing to do), failed.",
		}, []string{"outcome"}),
		orphansDeleted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "clogs_node_orphan_extents_deleted_total", Help: "Extents deleted because a heartbeat answer said no stream references them.",
		}),
		scrubBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "clogs_node_scrub_bytes_total", Help: "Bytes of sealed extents verified by the scrubber.",
		}),
		damagedFound: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "clogs_node_damaged_extents_found_total", Help: "Replicas found failing a checksum, by a read or a scrub.",
		}),
	}
	for _, outcome := range []string{repairRepaired, repairWhole, repairFailed} {
		m.repairs.WithLabelValues(outcome)
	}
	m.registry.MustRegister(m.requests, m.latency, m.bytes, m.batch, m.batchSize, m.fsync,
		m.repairBytes, m.repairs, m.orphansDeleted, m.scrubBytes, m.damagedFound,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&nodeCollector{n: n})
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry})
}

func (m *metrics) observeSync(d time.Duration) { m.fsync.Observe(d.Seconds()) }

func (m *metrics) observeBatch(b *batch, took time.Duration) {
	m.batch.Observe(took.Seconds())
	m.batchSize.Observe(float64(b.end - b.start))
}

func (m *metrics) addBytes(op string, n uint64) { m.bytes.WithLabelValues(op).Add(float64(n)) }

func (m *metrics) observe(method string, began time.Time, err error) {
	m.requests.WithLabelValues(method, status.Code(err).String()).Inc()
	m.latency.WithLabelValues(method).Observe(time.Since(began).Seconds())
}

func (m *metrics) unaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	began := time.Now()
	resp, err := handler(ctx, req)
	m.observe(info.FullMethod, began, err)
	return resp, err
}

func (m *metrics) streamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	began := time.Now()
	err := handler(srv, ss)
	m.observe(info.FullMethod, began, err)
	return err
}

// nodeCollector reports gauges read at scrape time: open extents and disk
// usage.
type nodeCollector struct{ n *Node }

var (
	openExtentsDesc = prometheus.NewDesc("clogs_node_open_extents", "Extents open on this node.", nil, nil)
	damagedDesc     = prometheus.NewDesc("clogs_node_damaged_extents", "Extent files that failed to open or failed a checksum.", nil, nil)
	diskBytesDesc   = prometheus.NewDesc("clogs_node_disk_bytes", "Disk size and free bytes.", []string{"disk", "kind"}, nil)
	diskFailedDesc  = prometheus.NewDesc("clogs_node_disk_failed", "1 when the disk was taken out of service.", []string{"disk"}, nil)
	diskFullDesc    = prometheus.NewDesc("clogs_node_disk_full", "1 when the disk is above the high-water mark and takes no new extents.", []string{"disk"}, nil)
	diskExtentsDesc = prometheus.NewDesc("clogs_node_disk_extents", "Extents on the disk.", []string{"disk"}, nil)
)

func (c *nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{openExtentsDesc, damagedDesc, diskBytesDesc, diskFailedDesc, diskFullDesc, diskExtentsDesc} {
		ch <- d
	}
}

func (c *nodeCollector) Collect(ch chan<- prometheus.Metric) {
	c.n.mu.RLock()
	open, damaged := len(c.n.replicas), len(c.n.damaged)
	replicas := make([]*replica, 0, open)
	for _, r := range c.n.replicas {
		replicas = append(replicas, r)
	}
	c.n.mu.RUnlock()
	for _, r := range replicas {
		if r.damaged() != nil {
			damaged++
		}
	}
	ch <- prometheus.MustNewConstMetric(openExtentsDesc, prometheus.GaugeValue, float64(open))
	ch <- prometheus.MustNewConstMetric(damagedDesc, prometheus.GaugeValue, float64(damaged))
	for _, u := range c.n.diskUsage() {
		ch <- prometheus.MustNewConstMetric(diskBytesDesc, prometheus.GaugeValue, float64(u.TotalBytes), u.Path, "total")
		ch <- prometheus.MustNewConstMetric(diskBytesDesc, prometheus.GaugeValue, float64(u.FreeBytes), u.Path, "free")
		failed := 0.0
		if u.Failed {
			failed = 1
		}
		ch <- prometheus.MustNewConstMetric(diskFailedDesc, prometheus.GaugeValue, failed, u.Path)
		full := 0.0
		if u.Full {
			full = 1
		}
		ch <- prometheus.MustNewConstMetric(diskFullDesc, prometheus.GaugeValue, full, u.Path)
		ch <- prometheus.MustNewConstMetric(diskExtentsDesc, prometheus.GaugeValue, float64(u.Extents), u.Path)
	}
}
