package extentbench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/clogs-io/clogs/internal/benchkit"
)

// fioJob is one job of the fio baseline: sequential writes with psync.
type fioJob struct {
	key       string // result key and fio job name
	label     string // how the table names it
	blockSize string // fio --bs
	fdatasync bool   // fdatasync after every write
	direct    bool   // O_DIRECT, no fdatasync
}

// The fio job keys the goals and table rows refer to (FioBaseline.Result).
const (
	FioWrite4KSync  = "write4k-fdatasync"
	FioWrite64KSync = "write64k-fdatasync"
	FioWrite1MDir   = "write1m-direct"
)

var fioJobs = []fioJob{
	{key: FioWrite4KSync, label: "fio 4k write+fdatasync", blockSize: "4k", fdatasync: true},
	{key: FioWrite64KSync, label: "fio 64k write+fdatasync", blockSize: "64k", fdatasync: true},
	{key: FioWrite1MDir, label: "fio 1m direct write", blockSize: "1m", direct: true},
}

// fioStopDelay is how long a cancelled fio gets to stop by itself.
const fioStopDelay = 3 * time.Second

// fioFileSize is the file each fio job writes; time_based jobs wrap
// around when they reach its end.
const fioFileSize = "4g"

// The fio baseline's status.
const (
	FioOK      = "ok"
	FioMissing = "fio missing"
	FioSkipped = "fio skipped"
	FioFailed  = "fio failed"
)

// FioBaseline is the disk's own figures, measured by fio in the bench
// directory.
type FioBaseline struct {
	Status  string               `json:"status"`
	Error   string               `json:"error,omitempty"`
	Results map[string]FioResult `json:"results,omitempty"`
}

// FioResult is one fio job's outcome.
type FioResult struct {
	Job            string   `json:"job"`
	Label          string   `json:"label"`
	Command        []string `json:"command"`
	BandwidthBytes float64  `json:"bw_bytes"`
	IOPS           float64  `json:"iops"`
	// WriteLatency is the write(2) completion latency; for the fdatasync
	// jobs SyncLatency is the fdatasync(2) latency that follows it.
	WriteLatency benchkit.Latency  `json:"write_latency"`
	SyncLatency  *benchkit.Latency `json:"fdatasync_latency,omitempty"`
}

// FioJob names one job of the baseline.
type FioJob struct{ Key, Label string }

// FioJobs lists the baseline's jobs in the order they run.
func FioJobs() []FioJob {
	jobs := make([]FioJob, len(fioJobs))
	for i, j := range fioJobs {
		jobs[i] = FioJob{Key: j.key, Label: j.label}
	}
	return jobs
}

// RunFioBaseline runs every fio job in dir for duration each, calling
// announce as each starts. A missing or failing fio is reported in the
// baseline, not as an error; only cancellation is.
func RunFioBaseline(ctx context.Context, dir string, duration time.Duration, announce func(label string, took time.Duration)) (FioBaseline, error) {
	return runFioBaseline(ctx, dir, duration, announce)
}

// Result returns the result of the job with key, if fio ran it.
func (b FioBaseline) Result(key string) (FioResult, bool) {
	r, ok := b.Results[key]
	return r, ok && b.Status == FioOK
}

func runFioBaseline(ctx context.Context, dir string, duration time.Duration, announce func(string, time.Duration)) (FioBaseline, error) {
	if _, err := exec.LookPath("fio"); err != nil {
		return FioBaseline{Status: FioMissing}, nil
	}
	baseline := FioBaseline{Status: FioOK, Results: map[string]FioResult{}}
	for _, job := range fioJobs {
		announce(job.label, duration)
		result, err := runFioJob(ctx, dir, job, duration)
		if ctx.Err() != nil {
			return baseline, ctx.Err()
		}
		if err != nil {
			return FioBaseline{Status: FioFailed, Error: err.Error()}, nil
		}
		baseline.Results[job.key] = result
	}
	return baseline, nil
}

// runFioJob runs one job and parses its JSON report.
func runFioJob(ctx context.Context, dir string, job fioJob, duration time.Duration) (FioResult, error) {
	args := fioArgs(dir, job, duration)
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "fio", args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// On cancellation fio stops its job and removes its file on SIGINT;
	// one that does not is killed after fioStopDelay.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = fioStopDelay
	if err := cmd.Run(); err != nil {
		return FioResult{}, fmt.Errorf("fio %s: %w: %s", job.key, err, strings.TrimSpace(stderr.String()))
	}
	result, err := parseFioJSON(stdout.Bytes())
	if err != nil {
		return FioResult{}, fmt.Errorf("fio %s: %w", job.key, err)
	}
	result.Job, result.Label, result.Command = job.key, job.label, append([]string{"fio"}, args...)
	return result, nil
}

// fioArgs is the command line of one job: sequential writes with psync,
// for duration (whole seconds, at least one), in a file under dir that fio
// removes afterwards. --thread keeps the job in fio's process, so that
// stopping fio stops the job.
func fioArgs(dir string, job fioJob, duration time.Duration) []string {
	seconds := max(1, int((duration+time.Second-1)/time.Second))
	args := []string{
		"--name=" + job.key, "--directory=" + dir, "--rw=write", "--bs=" + job.blockSize,
		"--size=" + fioFileSize, fmt.Sprintf("--runtime=%ds", seconds), "--time_based",
		"--ioengine=psync", "--thread", "--unlink=1", "--output-format=json",
	}
	if job.fdatasync {
		args = append(args, "--fdatasync=1")
	}
	if job.direct {
		args = append(args, "--direct=1")
	}
	return args
}

// fioReport is the part of fio's JSON output the baseline uses.
type fioReport struct {
	Jobs []struct {
		Name  string `json:"jobname"`
		Error int    `json:"error"`
		Write struct {
			BandwidthBytes float64    `json:"bw_bytes"`
			IOPS           float64    `json:"iops"`
			CompletionLat  fioLatency `json:"clat_ns"`
		} `json:"write"`
		Sync struct {
			Latency fioLatency `json:"lat_ns"`
		} `json:"sync"`
	} `json:"jobs"`
}

// fioLatency is a latency block of fio's JSON, in nanoseconds.
type fioLatency struct {
	Count       int64              `json:"N"`
	Max         float64            `json:"max"`
	Percentiles map[string]float64 `json:"percentile"`
}

// parseFioJSON reads the first job of fio's --output-format=json report.
// Anything fio printed before the JSON object is skipped.
func parseFioJSON(out []byte) (FioResult, error) {
	start := bytes.IndexByte(out, '{')
	if start < 0 {
		return FioResult{}, errors.New("no JSON report in fio's output")
	}
	var report fioReport
	if err := json.Unmarshal(out[start:], &report); err != nil {
		return FioResult{}, fmt.Errorf("decode fio report: %w", err)
	}
	if len(report.Jobs) == 0 {
		return FioResult{}, errors.New("fio report has no jobs")
	}
	job := report.Jobs[0]
	if job.Error != 0 || job.Write.CompletionLat.Count == 0 {
		return FioResult{}, fmt.Errorf("fio job %q: error %d after %d writes", job.Name, job.Error, job.Write.CompletionLat.Count)
	}
	result := FioResult{BandwidthBytes: job.Write.BandwidthBytes, IOPS: job.Write.IOPS, WriteLatency: job.Write.CompletionLat.summary()}
	if job.Sync.Latency.Count > 0 {
		syncLatency := job.Sync.Latency.summary()
		result.SyncLatency = &syncLatency
	}
	return result, nil
}

// summary picks the median, 99th and 99.9th percentiles and maximum.
func (l fioLatency) summary() benchkit.Latency {
	return benchkit.Latency{
		P50:  time.Duration(l.Percentiles["50.000000"]),
		P99:  time.Duration(l.Percentiles["99.000000"]),
		P999: time.Duration(l.Percentiles["99.900000"]),
		Max:  time.Duration(l.Max),
	}
}
