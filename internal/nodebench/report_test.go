package nodebench

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/clogs-io/clogs/internal/benchkit"
	"github.com/clogs-io/clogs/internal/extentbench"
)

// result returns a result of a default row.
func result(name string, payload int, opsPerSec float64, p50, p99 time.Duration) WorkloadResult {
	return WorkloadResult{
		Workload: name, Group: groupDefault, PayloadBytes: payload, Payload: PayloadRandom,
		Ops: int64(opsPerSec * 5), Elapsed: 5 * time.Second, OpsPerSec: opsPerSec,
		PayloadBytesPerSec: opsPerSec * float64(payload),
		Latency:            benchkit.Latency{P50: p50, P99: p99, P999: 2 * p99, Max: 3 * p99},
	}
}

func TestCheckGoals(t *testing.T) {
	results := []WorkloadResult{
		result(name4KiBx1, 4<<10, 1500, 900*time.Microsecond, 2*time.Millisecond),
		result(name4KiBx64, 4<<10, 31_000, 3*time.Millisecond, 12*time.Millisecond),
		result(name64KiBx32, 64<<10, 3000, 10*time.Millisecond, 20*time.Millisecond), // 187.5 MiB/s
	}
	want := map[string]string{
		"p50 ≤1 ms":   extentbench.GoalMet,
		"≥30000 op/s": extentbench.GoalMet,
		"p99 ≤10 ms":  extentbench.GoalMissed,
		"≥200 MiB/s":  extentbench.GoalMissed,
	}
	goals := checkGoals(results)
	if len(goals) != len(want) {
		t.Fatalf("%d goals, want %d", len(goals), len(want))
	}
	for _, v := range goals {
		if v.Met != want[v.Goal] {
			t.Errorf("%s %s: met %q (measured %.3f), want %q", v.Workload, v.Goal, v.Met, v.Measured, want[v.Goal])
		}
	}
	goal, met := rowGoal(goals, name4KiBx64)
	if goal != "≥30000 op/s, p99 ≤10 ms" || met != "no (p99 ≤10 ms)" {
		t.Errorf("4 KiB x64 row: goal %q, met %q", goal, met)
	}
	if goal, met := rowGoal(goals, name4KiBx1); goal != "p50 ≤1 ms" || met != extentbench.GoalMet {
		t.Errorf("4 KiB x1 row: goal %q, met %q", goal, met)
	}
	if goal, met := rowGoal(goals, "1 MiB x8"); goal != "-" || met != "-" {
		t.Errorf("1 MiB x8 row: goal %q, met %q", goal, met)
	}
}

func TestCheckGoalsMissingRow(t *testing.T) {
	for _, v := range checkGoals(nil) {
		if v.Met != extentbench.GoalNA {
			t.Errorf("%s %s: met %q without a result", v.Workload, v.Goal, v.Met)
		}
	}
}

func TestWorkloadsAndComparisons(t *testing.T) {
	if got := len(workloads(false)); got != 4 {
		t.Fatalf("%d default workloads, want 4", got)
	}
	rows := workloads(true)
	var results []WorkloadResult
	names := map[string]bool{}
	for i, w := range rows {
		if names[w.name] {
			t.Fatalf("workload %q twice", w.name)
		}
		names[w.name] = true
		if w.compareWith != "" && !names[w.compareWith] {
			t.Errorf("%q is compared with %q, which does not run before it", w.name, w.compareWith)
		}
		r := result(w.name, w.payloadSize, float64(100+i), time.Millisecond, time.Duration(i+1)*time.Millisecond)
		r.ComparedWith = w.compareWith
		results = append(results, r)
	}
	comparisons := compare(results)
	if len(comparisons) != 6 { // 3 snappy variants on log-like, 1 on random, 2 pipelining
		t.Fatalf("%d comparisons, want 6: %+v", len(comparisons), comparisons)
	}
	for _, c := range comparisons {
		if c.ThroughputRatio <= 1 || c.P99Ratio <= 1 {
			t.Errorf("%s vs %s: ratios %.2f, %.2f; later rows were made faster and slower", c.Workload, c.Baseline, c.ThroughputRatio, c.P99Ratio)
		}
	}
}

func sampleReport() *Report {
	results := []WorkloadResult{
		result(name4KiBx1, 4<<10, 1500, 900*time.Microsecond, 2*time.Millisecond),
		result(name4KiBx64, 4<<10, 12_000, 4*time.Millisecond, 12*time.Millisecond),
	}
	results[1].Nodes = NodeStats{PrimaryBatches: 6000, BatchBytesMean: 46 << 10, BatchSecondsMean: 3 * time.Millisecond, Fdatasyncs: 15000, FdatasyncMean: time.Millisecond}
	results[1].CPU = CPUUse{Client: 1, Nodes: []float64{2, 1, 1}}
	r := &Report{
		Mode: ModeProcesses, NodeBinary: "/tmp/x/extent-node", Dir: "data/bench/node-bench-1", Duration: 5 * time.Second,
		GOMAXPROCS: 2, NumCPU: 2, ForScale: forScale,
		Fio: extentbench.FioBaseline{Status: extentbench.FioOK, Results: map[string]extentbench.FioResult{
			fioWrite4KSync: {Job: fioWrite4KSync, Label: "fio 4k write+fdatasync", BandwidthBytes: 10 << 20, IOPS: 2560,
				WriteLatency: benchkit.Latency{P50: 10 * time.Microsecond}, SyncLatency: &benchkit.Latency{P50: 300 * time.Microsecond}},
		}},
		Workloads: results,
	}
	r.Goals = checkGoals(r.Workloads)
	r.Notes = notes(r)
	return r
}

func TestWriteTable(t *testing.T) {
	var out bytes.Buffer
	if err := sampleReport().WriteTable(&out); err != nil {
		t.Fatal(err)
	}
	text := strings.Join(strings.Fields(out.String()), " ") // columns are padded
	for _, want := range []string{
		"nodes: 3 extent-node processes (/tmp/x/extent-node)",
		"workload | ops/s | MiB/s | p50 | p99 | p99.9 | max | fio same block size | goal | met?",
		"4 KiB x1 | 1500 | 5.9 | 0.900 ms | 2.000 ms | 4.000 ms | 6.000 ms | 10.0 MiB/s, 2560 IOPS (4k write+fdatasync) | p50 ≤1 ms | yes",
		"4 KiB x64 | 12000 | 46.9 | 4.000 ms | 12.000 ms | 24.000 ms | 36.000 ms | 10.0 MiB/s, 2560 IOPS (4k write+fdatasync) | ≥30000 op/s, p99 ≤10 ms | no (≥30000 op/s, p99 ≤10 ms)",
		"4 KiB x1 | - | - | - | 0 | - | all 0%",
		"4 KiB x64 | 10.0 | 46 | 3.000 ms | 3000 | 1.000 ms | client 20%, n1 40%, n2 20%, n3 20%",
		"fio 64k write+fdatasync | not run | - |",
		"share this 2-core machine and one disk",
		"three fdatasyncs",
		"92 MB/s at 64 KiB",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}

func TestWriteJSON(t *testing.T) {
	var out bytes.Buffer
	if err := sampleReport().WriteJSON(&out); err != nil {
		t.Fatal(err)
	}
	var decoded map[string]any
	if err := json.Unmarshal(out.Bytes(), &decoded); err != nil {
		t.Fatalf("not one JSON object: %v", err)
	}
	for _, key := range []string{"mode", "fio", "workloads", "goals", "comparisons", "for_scale", "notes"} {
		if _, ok := decoded[key]; !ok {
			t.Errorf("JSON lacks %q", key)
		}
	}
}

func TestParseMetrics(t *testing.T) {
	text := `# HELP clogs_node_batch_seconds Primary batches.
# TYPE clogs_node_batch_seconds histogram
clogs_node_batch_seconds_bucket{le="0.0001"} 3
clogs_node_batch_seconds_sum 0.75
clogs_node_batch_seconds_count 12
clogs_node_fdatasync_seconds_count{disk="a"} 5
clogs_node_fdatasync_seconds_count{disk="b{x}"} 7 1700000000000
process_cpu_seconds_total 1.5e+00
broken_line
`
	got, err := parseMetrics(strings.NewReader(text), scrapedMetrics)
	if err != nil {
		t.Fatal(err)
	}
	want := nodeSample{metricBatchSeconds: 0.75, metricBatches: 12, metricSyncs: 12, metricCPUSeconds: 1.5}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for name, value := range want {
		if got[name] != value {
			t.Errorf("%s = %v, want %v", name, got[name], value)
		}
	}
}

func TestNodeStats(t *testing.T) {
	before := []nodeSample{{metricBatches: 10, metricBatchBytes: 1000, metricBatchSeconds: 1, metricSyncs: 10, metricSyncSeconds: 0.1}, {metricSyncs: 5}, {}}
	after := []nodeSample{{metricBatches: 20, metricBatchBytes: 3000, metricBatchSeconds: 1.05, metricSyncs: 20, metricSyncSeconds: 0.12}, {metricSyncs: 15, metricSyncSeconds: 0.02}, {metricSyncs: 10, metricSyncSeconds: 0.02}}
	got := nodeStats(before, after)
	want := NodeStats{PrimaryBatches: 10, BatchBytesMean: 200, BatchSecondsMean: 5 * time.Millisecond, Fdatasyncs: 30, FdatasyncMean: 2 * time.Millisecond}
	if got.PrimaryBatches != want.PrimaryBatches || got.BatchBytesMean != want.BatchBytesMean || got.Fdatasyncs != want.Fdatasyncs ||
		(got.BatchSecondsMean-want.BatchSecondsMean).Abs() > time.Microsecond || (got.FdatasyncMean-want.FdatasyncMean).Abs() > time.Microsecond {
		t.Errorf("got %+v, want %+v", got, want)
	}
}
