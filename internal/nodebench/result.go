package nodebench

import (
	"time"

	"github.com/clogs-io/clogs/internal/benchkit"
)

// WorkloadResult is one workload's outcome. Rates count payload bytes.
type WorkloadResult struct {
	Workload string `json:"workload"`
	Group    string `json:"group"`
	// ComparedWith names the row this one is compared with, if any.
	ComparedWith       string `json:"compared_with,omitempty"`
	PayloadBytes       int    `json:"payload_bytes"`
	InFlight           int    `json:"in_flight"`
	Payload            string `json:"payload"`
	ClientCompression  string `json:"client_compression"`
	PeerCompression    string `json:"peer_compression"`
	MaxInflightBatches int    `json:"max_inflight_batches"`
	// PayloadSnappyRatio is the payloads' size over their snappy size.
	PayloadSnappyRatio float64          `json:"payload_snappy_ratio"`
	Ops                int64            `json:"ops"`
	Elapsed            time.Duration    `json:"elapsed_ns"`
	OpsPerSec          float64          `json:"ops_per_sec"`
	PayloadBytesPerSec float64          `json:"payload_bytes_per_sec"`
	Latency            benchkit.Latency `json:"latency"`
	// Extents is how many extents the workload wrote (more than one if
	// it filled one).
	Extents int       `json:"extents"`
	Nodes   NodeStats `json:"nodes"`
	CPU     CPUUse    `json:"cpu"`
}

// NodeStats is what the nodes' /metrics say about a workload.
type NodeStats struct {
	// PrimaryBatches is how many replicated batches node 1 ran; their
	// mean size and duration (local write and both secondaries).
	PrimaryBatches   float64       `json:"primary_batches"`
	BatchBytesMean   float64       `json:"batch_bytes_mean"`
	BatchSecondsMean time.Duration `json:"batch_mean_ns"`
	// Fdatasyncs is the count on all three nodes, with their mean.
	Fdatasyncs    float64       `json:"fdatasyncs"`
	FdatasyncMean time.Duration `json:"fdatasync_mean_ns"`
}

// CPUUse is the CPU time spent during a workload, in seconds. In process
// mode Client is the benchmark process and Nodes each node process; in
// process mode Client covers the nodes too and Nodes is empty.
type CPUUse struct {
	Client float64   `json:"client_seconds"`
	Nodes  []float64 `json:"node_seconds,omitempty"`
}

// summarize merges the appenders' counts and latencies and the nodes'
// counters.
func summarize(w workload, m measurement, extents int) WorkloadResult {
	result := WorkloadResult{
		Workload: w.name, Group: w.group, ComparedWith: w.compareWith, PayloadBytes: w.payloadSize, InFlight: w.inFlight,
		Payload: w.payload, ClientCompression: compressionName(w.settings.clientCompression),
		PeerCompression: compressionName(w.settings.peerCompression), MaxInflightBatches: w.settings.maxInflightBatches,
		PayloadSnappyRatio: m.payloadRatio, Elapsed: m.elapsed, Extents: extents,
	}
	latency := benchkit.NewLatencyRecorder()
	for _, a := range m.appenders {
		result.Ops += a.ops
		latency.Merge(a.latency)
	}
	result.Latency = latency.Summary()
	if seconds := m.elapsed.Seconds(); seconds > 0 {
		result.OpsPerSec = float64(result.Ops) / seconds
		result.PayloadBytesPerSec = result.OpsPerSec * float64(w.payloadSize)
	}
	result.Nodes = nodeStats(m.nodesBefore, m.nodesAfter)
	result.CPU.Client = m.cpuSeconds
	if m.mode == ModeProcesses {
		for i := range m.nodesAfter {
			result.CPU.Nodes = append(result.CPU.Nodes, m.nodesAfter[i][metricCPUSeconds]-m.nodesBefore[i][metricCPUSeconds])
		}
	}
	return result
}

// nodeStats turns the counters before and after a workload into its
// batch and fdatasync figures. Node 1 is the primary.
func nodeStats(before, after []nodeSample) NodeStats {
	if len(before) == 0 || len(before) != len(after) {
		return NodeStats{}
	}
	delta := func(i int, name string) float64 { return after[i][name] - before[i][name] }
	var stats NodeStats
	stats.PrimaryBatches = delta(0, metricBatches)
	if stats.PrimaryBatches > 0 {
		stats.BatchBytesMean = delta(0, metricBatchBytes) / stats.PrimaryBatches
		stats.BatchSecondsMean = seconds(delta(0, metricBatchSeconds) / stats.PrimaryBatches)
	}
	var syncSeconds float64
	for i := range after {
		stats.Fdatasyncs += delta(i, metricSyncs)
		syncSeconds += delta(i, metricSyncSeconds)
	}
	if stats.Fdatasyncs > 0 {
		stats.FdatasyncMean = seconds(syncSeconds / stats.Fdatasyncs)
	}
	return stats
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// compressionName renders a compressor for the report.
func compressionName(c string) string {
	if c == "" {
		return "none"
	}
	return c
}
