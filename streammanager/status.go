package streammanager

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	clogspb "github.com/clogs-io/clogs/proto"
)

type metrics struct {
	registry         *prometheus.Registry
	requests         *prometheus.CounterVec
	latency          *prometheus.HistogramVec
	extentsSealed    prometheus.Counter
	extentsAllocated prometheus.Counter
	repairs          *prometheus.CounterVec // by kind and outcome
	bytesRepaired    prometheus.Counter
	orphansDeleted   prometheus.Counter
	extentsTruncated prometheus.Counter
	spaceReclaims    prometheus.Counter
	codings          *prometheus.CounterVec // by outcome
	shardRebuilds    *prometheus.CounterVec // by outcome
}

func newMetrics(m *Manager) *metrics {
	mt := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "clogs_sm_requests_total", Help: "gRPC requests by method and code."}, []string{"method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "clogs_sm_request_seconds", Help: "gRPC request latency by method.",
			Buckets: prometheus.ExponentialBuckets(100e-6, 2, 16)}, []string{"method"}),
		extentsSealed:    prometheus.NewCounter(prometheus.CounterOpts{Name: "clogs_sm_extents_sealed_total", Help: "Extents sealed."}),
		extentsAllocated: prometheus.NewCounter(prometheus.CounterOpts{Name: "clogs_sm_extents_allocated_total", Help: "Extents allocated."}),
	}
	mt.repairs = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "clogs_sm_repairs_total",
		Help: "Replica repairs by kind (in-place, replace, move) and outcome (done, failed)."}, []string{"kind", "outcome"})
	mt.bytesRepaired = prometheus.NewCounter(prometheus.CounterOpts{Name: "clogs_sm_repaired_bytes_total", Help: "Bytes nodes copied to repair or move replicas."})
	mt.orphansDeleted = prometheus.NewCounter(prometheus.CounterOpts{Name: "clogs_sm_orphan_deletes_total", Help: "Unreferenced extent files nodes were told to delete."})
	mt.extentsTruncated = prometheus.NewCounter(prometheus.CounterOpts{Name: "clogs_sm_extents_retired_total", Help: "Sealed extents dropped from streams by retention."})
	mt.spaceReclaims = prometheus.NewCounter(prometheus.CounterOpts{Name: "clogs_sm_etcd_space_reclaims_total", Help: "Times the leader cleared etcd's NOSPACE alarm by compacting and defragmenting."})
	mt.codings = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "clogs_sm_codings_total",
		Help: "Sealed extents erasure-coded, by outcome (done, failed)."}, []string{"outcome"})
	mt.shardRebuilds = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "clogs_sm_shard_rebuilds_total",
		Help: "Shards of coded extents rebuilt, by outcome (done, failed)."}, []string{"outcome"})
	mt.registry.MustRegister(mt.codings, mt.shardRebuilds,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "clogs_sm_coded_extents", Help: "Erasure-coded extents."},
			func() float64 { c, _ := m.codingStats(); return float64(c) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "clogs_sm_coding_saved_bytes",
			Help: "Bytes erasure coding saves against three replicas of the coded extents."},
			func() float64 { _, b := m.codingStats(); return float64(b) }))
	mt.registry.MustRegister(mt.repairs, mt.bytesRepaired, mt.orphansDeleted, mt.extentsTruncated, mt.spaceReclaims,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "clogs_sm_under_replicated_extents",
			Help: "Sealed extents not known to be whole on three live nodes, at the last reconciliation pass."},
			func() float64 { m.mu.Lock(); defer m.mu.Unlock(); return float64(m.underReplicated) }))
	mt.registry.MustRegister(mt.requests, mt.latency, mt.extentsSealed, mt.extentsAllocated,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "clogs_sm_is_leader", Help: "1 while this manager leads."}, func() float64 {
			if m.IsLeader() {
				return 1
			}
			return 0
		}))
	return mt
}

func (mt *metrics) unaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	began := time.Now()
	resp, err := handler(ctx, req)
	mt.requests.WithLabelValues(info.FullMethod, status.Code(err).String()).Inc()
	mt.latency.WithLabelValues(info.FullMethod).Observe(time.Since(began).Seconds())
	return resp, err
}

func (m *Manager) startHTTP() error {
	lis, err := net.Listen("tcp", m.cfg.HTTP)
	if err != nil {
		return fmt.Errorf("listen %s: %w", m.cfg.HTTP, err)
	}
	m.httpLis = lis
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.metrics.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/status", m.serveStatus)
	m.httpServer = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go m.httpServer.Serve(lis)
	return nil
}

// Status is the /status page.
type Status struct {
	Name       string                `json:"name"`
	Addr       string                `json:"addr"`
	Leader     string                `json:"leader"`
	IsLeader   bool                  `json:"is_leader"`
	Members    []string              `json:"members,omitempty"`
	Revision   int64                 `json:"revision"`
	Nodes      []*clogspb.NodeStatus `json:"nodes"`
	Streams    int                   `json:"streams"`
	Extents    int                   `json:"extents"`
	Unsealed   int                   `json:"unsealed_extents"`
	NeedRepair []uint64              `json:"need_repair,omitempty"`
	// UnderReplicated and Repairing come from the reconciliation loop.
	UnderReplicated int      `json:"under_replicated_extents"`
	Repairing       []uint64 `json:"repairing,omitempty"`
	Orphans         int      `json:"orphan_extent_files"`
	// CodedExtents and CodingSavedBytes: erasure coding (coding.go).
	CodedExtents     int    `json:"coded_extents"`
	CodingSavedBytes uint64 `json:"coding_saved_bytes"`
}

func (m *Manager) serveStatus(w http.ResponseWriter, r *http.Request) {
	st := m.status(r.Context())
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(st)
}

func (m *Manager) status(ctx context.Context) Status {
	st := Status{Name: m.cfg.Name, Addr: m.Addr(), Leader: m.leaderAddr(), Members: m.members(ctx)}
	if nodes, err := m.nodesInfo(); err == nil {
		st.Nodes = nodes.Nodes
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.term == nil {
		return st
	}
	st.IsLeader, st.Revision = true, m.cache.rev
	st.Streams, st.Extents = len(m.cache.streams), len(m.cache.extents)
	for _, e := range m.cache.extents {
		if !e.Sealed {
			st.Unsealed++
		}
	}
	for id := range m.needRepair {
		st.NeedRepair = append(st.NeedRepair, id)
	}
	slices.Sort(st.NeedRepair)
	st.UnderReplicated, st.Orphans = m.underReplicated, len(m.orphans)
	st.CodedExtents, st.CodingSavedBytes = m.codingStatsLocked()
	for id := range m.repairing {
		st.Repairing = append(st.Repairing, id)
	}
	slices.Sort(st.Repairing)
	return st
}

// Repairing lists the extents with a repair or move running now.
func (m *Manager) Repairing() []uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]uint64, 0, len(m.repairing))
	for id := range m.repairing {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// members lists the etcd cluster's members, best effort.
func (m *Manager) members(ctx context.Context) []string {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	resp, err := m.etcd.client.MemberList(ctx)
	if err != nil {
		return nil
	}
	var out []string
	for _, mem := range resp.Members {
		out = append(out, fmt.Sprintf("%s %v", mem.Name, mem.ClientURLs))
	}
	return out
}

func sortStreams(s []*clogspb.StreamMeta) {
	slices.SortFunc(s, func(a, b *clogspb.StreamMeta) int {
		switch {
		case a.Id < b.Id:
			return -1
		case a.Id > b.Id:
			return 1
		}
		return 0
	})
}
