package nodebench

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/clogs-io/clogs/internal/benchkit"
	"github.com/clogs-io/clogs/internal/extentbench"
)

// Report is everything one run measured, with the goal verdicts.
type Report struct {
	// Mode is ModeProcesses or ModeInProcess.
	Mode        string                  `json:"mode"`
	NodeBinary  string                  `json:"node_binary,omitempty"`
	Dir         string                  `json:"dir"`
	Duration    time.Duration           `json:"duration_ns"`
	GOMAXPROCS  int                     `json:"gomaxprocs"`
	NumCPU      int                     `json:"num_cpu"`
	Fio         extentbench.FioBaseline `json:"fio"`
	Workloads   []WorkloadResult        `json:"workloads"`
	Goals       []extentbench.Verdict   `json:"goals"`
	Comparisons []Comparison            `json:"comparisons"`
	ForScale    []string                `json:"for_scale"`
	Notes       []string                `json:"notes"`
}

// forScale are figures measured earlier on this machine, from the issue.
var forScale = []string{
	"the Go stream layer this design descends from: 92 MB/s at 64 KiB, 39 MB/s at 4 KiB (3 replicas, fsync)",
	"NATS JetStream R3, fsync on every write: 34 MiB/s at 64 KiB; 1,000 msg/s for 1 KiB synchronous publishes",
}

// WriteJSON writes the report as one indented JSON object.
func (r *Report) WriteJSON(w io.Writer) error {
	return benchkit.WriteJSON(w, r)
}

// WriteTable writes the setup, the results with their goals, the nodes'
// own figures, the comparisons, fio's figures and the notes.
func (r *Report) WriteTable(w io.Writer) error {
	return benchkit.WriteTable(w, func(out *strings.Builder) {
		fmt.Fprintf(out, "nodes: %s\n", r.modeText())
		fmt.Fprintf(out, "machine: %d CPUs (GOMAXPROCS %d); %v per workload; bench dir %s\n\n", r.NumCPU, r.GOMAXPROCS, r.Duration, r.Dir)
		benchkit.WriteAligned(out, append([][]string{{"workload", "ops/s", "MiB/s", "p50", "p99", "p99.9", "max", "fio same block size", "goal", "met?"}}, r.resultRows()...))
		out.WriteString("\n")
		benchkit.WriteAligned(out, append([][]string{{"node side", "appends/batch", "KiB/batch", "batch ms", "fdatasyncs/s (3 nodes)", "fdatasync ms", "CPU (% of one core)"}}, r.nodeRows()...))
		if len(r.Comparisons) > 0 {
			out.WriteString("\n")
			benchkit.WriteAligned(out, append([][]string{{"comparison", "against", "ops/s ratio", "p99 ratio"}}, r.comparisonRows()...))
		}
		out.WriteString("\n")
		benchkit.WriteAligned(out, append([][]string{{"fio (same disk, bench dir)", "MiB/s", "IOPS", "write p50", "write p99", "fdatasync p50", "fdatasync p99"}}, r.fioRows()...))
		benchkit.WriteList(out, "for scale (measured earlier on this machine)", r.ForScale)
		benchkit.WriteList(out, "notes", r.Notes)
	})
}

func (r *Report) modeText() string {
	if r.Mode == ModeInProcess {
		return "3 node.Node servers inside the benchmark's process (real gRPC over loopback TCP), node 1 primary of every extent"
	}
	return fmt.Sprintf("3 extent-node processes (%s), node 1 primary of every extent; the client is the benchmark's process", r.NodeBinary)
}

func (r *Report) resultRows() [][]string {
	var rows [][]string
	for _, w := range r.Workloads {
		goal, met := rowGoal(r.Goals, w.Workload)
		l := w.Latency
		rows = append(rows, []string{
			w.Workload, fmt.Sprintf("%.0f", w.OpsPerSec), fmt.Sprintf("%.1f", w.PayloadBytesPerSec/(1<<20)),
			benchkit.FormatLatency(l.P50), benchkit.FormatLatency(l.P99), benchkit.FormatLatency(l.P999), benchkit.FormatLatency(l.Max),
			r.fioText(w.PayloadBytes), goal, met,
		})
	}
	return rows
}

// fioText is the fio job of the same block size, in MiB/s and IOPS.
func (r *Report) fioText(payloadBytes int) string {
	key := map[int]string{4 << 10: fioWrite4KSync, 64 << 10: fioWrite64KSync, 1 << 20: fioWrite1MDir}[payloadBytes]
	result, ok := fioResult(r.Fio, key)
	if !ok {
		return r.fioMissing()
	}
	return fmt.Sprintf("%.1f MiB/s, %.0f IOPS (%s)", result.BandwidthBytes/(1<<20), result.IOPS, strings.TrimPrefix(result.Label, "fio "))
}

// fioMissing says why a fio figure is missing.
func (r *Report) fioMissing() string {
	if r.Fio.Status == extentbench.FioOK {
		return "not run"
	}
	return r.Fio.Status
}

func (r *Report) nodeRows() [][]string {
	var rows [][]string
	for _, w := range r.Workloads {
		n, seconds := w.Nodes, w.Elapsed.Seconds()
		perBatch, kibPerBatch, batchTime, syncTime := "-", "-", "-", "-"
		if n.PrimaryBatches > 0 {
			perBatch = fmt.Sprintf("%.1f", float64(w.Ops)/n.PrimaryBatches)
			kibPerBatch = fmt.Sprintf("%.0f", n.BatchBytesMean/(1<<10))
			batchTime = benchkit.FormatLatency(n.BatchSecondsMean)
		}
		if n.Fdatasyncs > 0 {
			syncTime = benchkit.FormatLatency(n.FdatasyncMean)
		}
		rows = append(rows, []string{
			w.Workload, perBatch, kibPerBatch, batchTime,
			fmt.Sprintf("%.0f", n.Fdatasyncs/seconds), syncTime, cpuText(w.CPU, seconds),
		})
	}
	return rows
}

// cpuText renders CPU use as percent of one core: the client (or the
// whole process) and each node process.
func cpuText(c CPUUse, seconds float64) string {
	if seconds <= 0 {
		return "-"
	}
	pct := func(s float64) string { return fmt.Sprintf("%.0f%%", 100*s/seconds) }
	if len(c.Nodes) == 0 {
		return "all " + pct(c.Client)
	}
	parts := []string{"client " + pct(c.Client)}
	for i, s := range c.Nodes {
		parts = append(parts, fmt.Sprintf("n%d %s", i+1, pct(s)))
	}
	return strings.Join(parts, ", ")
}

func (r *Report) comparisonRows() [][]string {
	var rows [][]string
	for _, c := range r.Comparisons {
		rows = append(rows, []string{c.Workload, c.Baseline, fmt.Sprintf("%.2f", c.ThroughputRatio), fmt.Sprintf("%.2f", c.P99Ratio)})
	}
	return rows
}

func (r *Report) fioRows() [][]string {
	var rows [][]string
	for _, job := range extentbench.FioJobs() {
		result, ok := fioResult(r.Fio, job.Key)
		if !ok {
			rows = append(rows, []string{job.Label, r.fioMissing(), "-", "-", "-", "-", "-"})
			continue
		}
		syncP50, syncP99 := "-", "-"
		if s := result.SyncLatency; s != nil {
			syncP50, syncP99 = benchkit.FormatLatency(s.P50), benchkit.FormatLatency(s.P99)
		}
		rows = append(rows, []string{
			job.Label, fmt.Sprintf("%.1f", result.BandwidthBytes/(1<<20)), fmt.Sprintf("%.0f", result.IOPS),
			benchkit.FormatLatency(result.WriteLatency.P50), benchkit.FormatLatency(result.WriteLatency.P99), syncP50, syncP99,
		})
	}
	return rows
}

// notes says what a reader needs to read the tables right.
func notes(r *Report) []string {
	notes := []string{
		fmt.Sprintf("the client and the three nodes share this %d-core machine and one disk: each acknowledged append costs three fdatasyncs on the same disk (group commit shares each among the appends of a batch)", r.NumCPU),
		"each in-flight slot is a goroutine doing synchronous AppendBlocks of one block to node 1 over one shared gRPC connection; node 1 writes locally and replicates to nodes 2 and 3 before answering",
		"ops/s and MiB/s count payload bytes of acknowledged appends; on disk every block adds a 512-byte header and pads its payload to 4 KiB, on each of the three nodes",
		fmt.Sprintf("default rows: random (incompressible) payloads and the defaults of node and conn: compression %s, %d batches in flight on the primary", compressionName(defaultSettings().peerCompression), defaultSettings().maxInflightBatches),
		"node side: from the nodes' /metrics around each workload; a batch is the group of appends the primary writes and replicates as one",
		"fio ran in the bench directory after the workloads, with the nodes stopped; fio 1m is O_DIRECT without fdatasync; each workload starts after a sync(2)",
	}
	return append(notes, payloadRatios(r.Workloads)...)
}

// payloadRatios says how well snappy compresses each payload kind used.
func payloadRatios(results []WorkloadResult) []string {
	seen := map[string]bool{}
	var out []string
	for _, w := range results {
		key := fmt.Sprintf("%s %d", w.Payload, w.PayloadBytes)
		if seen[key] || w.Group != groupSnappy {
			continue
		}
		seen[key] = true
		out = append(out, fmt.Sprintf("%s %s payloads compress %.2f:1 with snappy", formatSize(w.PayloadBytes), w.Payload, w.PayloadSnappyRatio))
	}
	return out
}
