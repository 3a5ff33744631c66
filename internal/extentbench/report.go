package extentbench

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/clogs-io/clogs/internal/benchkit"
)

// Report is everything one run measured, with the goal verdicts.
type Report struct {
	Dir        string         `json:"dir"`
	Duration   time.Duration  `json:"duration_ns"`
	ReadSize   uint64         `json:"read_size"`
	GOMAXPROCS int            `json:"gomaxprocs"`
	Fio        FioBaseline    `json:"fio"`
	Appends    []AppendResult `json:"appends"`
	Reads      []ReadResult   `json:"reads"`
	Memory     MemoryResult   `json:"memory"`
	Goals      []Verdict      `json:"goals"`
	Notes      []string       `json:"notes"`
}

// WriteJSON writes the report as one indented JSON object.
func (r *Report) WriteJSON(w io.Writer) error {
	return benchkit.WriteJSON(w, r)
}

// WriteTable writes the results table, the latency table and the notes.
func (r *Report) WriteTable(w io.Writer) error {
	return benchkit.WriteTable(w, func(out *strings.Builder) {
		benchkit.WriteAligned(out, append([][]string{{"workload", "result", "fio baseline", "ratio", "goal", "met?"}}, r.resultRows()...))
		out.WriteString("\n")
		benchkit.WriteAligned(out, append([][]string{{"latency", "p50", "p99", "max"}}, r.latencyRows()...))
		benchkit.WriteList(out, "notes", r.Notes)
	})
}

// resultRows has one row per append, read and memory result.
func (r *Report) resultRows() [][]string {
	var rows [][]string
	for _, a := range r.Appends {
		rows = append(rows, r.appendRow(a))
	}
	for _, read := range r.Reads {
		rows = append(rows, r.withGoal([]string{read.Workload, formatRate(read.PayloadBytesPerSec), "-", "-"}))
	}
	if r.Memory.SmallPeakHeapBytes > 0 {
		rows = append(rows, r.memoryRow())
	}
	return rows
}

func (r *Report) appendRow(a AppendResult) []string {
	result := fmt.Sprintf("%s (%.0f op/s)", formatRate(a.PayloadBytesPerSec), a.OpsPerSec)
	if a.CompareIOPS {
		result = fmt.Sprintf("%.0f op/s (%s)", a.OpsPerSec, formatRate(a.PayloadBytesPerSec))
	}
	if a.ExtentFull {
		result += ", extent full"
	}
	ratio := "-"
	if value, ok := appendRatio(a, r.Fio); ok {
		ratio = fmt.Sprintf("%.2f", value)
	}
	return r.withGoal([]string{a.Workload, result, r.baselineText(a), ratio})
}

// baselineText names an append result's fio baseline and its figure.
func (r *Report) baselineText(a AppendResult) string {
	baseline, ok := r.Fio.Result(a.FioBaseline)
	if !ok {
		return r.Fio.Status
	}
	if a.CompareIOPS {
		return fmt.Sprintf("%s %.0f IOPS", baseline.Label, baseline.IOPS)
	}
	return fmt.Sprintf("%s %s", baseline.Label, formatRate(baseline.BandwidthBytes))
}

func (r *Report) memoryRow() []string {
	m := r.Memory
	result := fmt.Sprintf("%.1f MiB vs %.1f MiB", float64(m.LargePeakHeapBytes)/(1<<20), float64(m.SmallPeakHeapBytes)/(1<<20))
	ratio := fmt.Sprintf("%.2f", float64(m.LargePeakHeapBytes)/float64(m.SmallPeakHeapBytes))
	return r.withGoal([]string{memoryWorkload(m), result, "-", ratio})
}

// withGoal completes a row with the goal and verdict of its workload, if
// a goal judges it.
func (r *Report) withGoal(row []string) []string {
	for _, v := range r.Goals {
		if v.Workload == row[0] {
			return append(row, v.Goal, v.Met)
		}
	}
	return append(row, "-", "-")
}

// latencyRows has the append latencies, then fio's for comparison.
func (r *Report) latencyRows() [][]string {
	var rows [][]string
	for _, a := range r.Appends {
		rows = append(rows, latencyRow(a.Workload, a.Latency))
	}
	for _, job := range fioJobs {
		baseline, ok := r.Fio.Result(job.key)
		if !ok {
			continue
		}
		rows = append(rows, latencyRow(baseline.Label+": write", baseline.WriteLatency))
		if baseline.SyncLatency != nil {
			rows = append(rows, latencyRow(baseline.Label+": fdatasync", *baseline.SyncLatency))
		}
	}
	return rows
}

func latencyRow(name string, l benchkit.Latency) []string {
	return []string{name, benchkit.FormatLatency(l.P50), benchkit.FormatLatency(l.P99), benchkit.FormatLatency(l.Max)}
}

// formatRate renders bytes per second in MiB/s, or GiB/s from 1 GiB/s.
func formatRate(bytesPerSec float64) string {
	if bytesPerSec >= 1<<30 {
		return fmt.Sprintf("%.2f GiB/s", bytesPerSec/(1<<30))
	}
	return fmt.Sprintf("%.1f MiB/s", bytesPerSec/(1<<20))
}

// notes says what a reader needs to read the table right.
func notes(reads readPhase) []string {
	notes := []string{
		"append rates count payload bytes; each block also writes a 512-byte header and pads its payload to 4 KiB (disk_bytes_per_sec in --json)",
		"fio writes a " + fioFileSize + " file it preallocates (fallocate=native) and wraps around at its end; engine appends grow their file",
		fmt.Sprintf("reads: %s blocks through one %s buffer; the read extents were written without fdatasync and made durable by Seal",
			FormatBytes(readPayloadSize), FormatBytes(readBufferSize)),
	}
	if reads.dropError != nil {
		return append(notes, fmt.Sprintf("reads hit the page cache (warm only): %v", reads.dropError))
	}
	return append(notes, "cold reads ran after dropping the page cache; warm reads hit the page cache")
}
