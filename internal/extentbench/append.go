package extentbench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/clogs-io/clogs/extent"
	"github.com/clogs-io/clogs/internal/benchkit"
)

// appendWorkload is one append benchmark: writers goroutines appending
// blocks of payloadSize bytes to one fresh extent.
type appendWorkload struct {
	name            string
	payloadSize     int
	writers         int
	preallocateStep uint64
	direct          bool   // O_DIRECT writes (vfs.DirectWrites), as extent-node does by default
	baseline        string // key of the fio job it is compared with
	compareIOPS     bool   // compare ops/s with fio's IOPS, not bandwidth
}

// benchPreallocateStep is the preallocation step the extra rows try.
const benchPreallocateStep = 64 << 20

// appendWorkloads run in this order; each preallocating variant runs
// right after the plain one, so that both see the disk in a similar mood.
var appendWorkloads = []appendWorkload{
	{name: "append 4 KiB x1", payloadSize: 4 << 10, writers: 1, baseline: FioWrite4KSync},
	{name: "append 4 KiB x1 prealloc 64 MiB", payloadSize: 4 << 10, writers: 1, preallocateStep: benchPreallocateStep, baseline: FioWrite4KSync},
	{name: "append 64 KiB x1", payloadSize: 64 << 10, writers: 1, baseline: FioWrite64KSync},
	{name: "append 64 KiB x1 prealloc 64 MiB", payloadSize: 64 << 10, writers: 1, preallocateStep: benchPreallocateStep, baseline: FioWrite64KSync},
	{name: "append 64 KiB x1 direct", payloadSize: 64 << 10, writers: 1, direct: true, baseline: FioWrite64KSync},
	{name: "append 1 MiB x1", payloadSize: 1 << 20, writers: 1, baseline: FioWrite1MDir},
	{name: "append 1 MiB x1 direct", payloadSize: 1 << 20, writers: 1, direct: true, baseline: FioWrite1MDir},
	{name: "append 4 KiB x16", payloadSize: 4 << 10, writers: 16, baseline: FioWrite4KSync, compareIOPS: true},
	{name: "append 4 KiB x64", payloadSize: 4 << 10, writers: 64, baseline: FioWrite4KSync, compareIOPS: true},
	{name: "append 4 KiB x64 direct", payloadSize: 4 << 10, writers: 64, direct: true, baseline: FioWrite4KSync, compareIOPS: true},
}

// AppendResult is one append workload's outcome. Rates count payload
// bytes, except DiskBytesPerSec, which counts whole blocks (header and
// padding included).
type AppendResult struct {
	Workload           string           `json:"workload"`
	PayloadBytes       int              `json:"payload_bytes"`
	Writers            int              `json:"writers"`
	PreallocateStep    uint64           `json:"preallocate_step"`
	Direct             bool             `json:"direct"`
	FioBaseline        string           `json:"fio_baseline"`
	CompareIOPS        bool             `json:"compare_iops"`
	Ops                int64            `json:"ops"`
	Elapsed            time.Duration    `json:"elapsed_ns"`
	OpsPerSec          float64          `json:"ops_per_sec"`
	PayloadBytesPerSec float64          `json:"payload_bytes_per_sec"`
	DiskBytesPerSec    float64          `json:"disk_bytes_per_sec"`
	Latency            benchkit.Latency `json:"latency"`
	// ExtentFull says the extent reached its maximum size before the
	// duration was over; the rates cover the time until then.
	ExtentFull bool `json:"extent_full,omitempty"`
}

// runAppends runs every append workload in turn.
func (r *runner) runAppends(ctx context.Context) ([]AppendResult, error) {
	var results []AppendResult
	for _, workload := range appendWorkloads {
		r.progress.Start(workload.name, r.opts.Duration)
		result, err := r.runAppend(ctx, workload)
		if err != nil {
			return results, fmt.Errorf("%s: %w", workload.name, err)
		}
		results = append(results, result)
	}
	return results, nil
}

// runAppend runs one workload on a fresh extent, which it removes after.
func (r *runner) runAppend(ctx context.Context, workload appendWorkload) (result AppendResult, err error) {
	e, err := r.createExtent(workload.preallocateStep, workload.direct, false)
	if err != nil {
		return AppendResult{}, err
	}
	defer func() { err = errors.Join(err, e.Remove()) }()
	block := extent.Block{Payload: randomPayload(workload.payloadSize)}
	deadline := time.Now().Add(r.opts.Duration)
	appenders := make([]*appender, workload.writers)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range appenders {
		appenders[i] = &appender{latency: benchkit.NewLatencyRecorder()}
		wg.Go(func() { appenders[i].run(ctx, e, block, deadline) })
	}
	wg.Wait()
	return summarizeAppend(workload, appenders, time.Since(start))
}

// appender is one goroutine of an append workload.
type appender struct {
	latency *benchkit.LatencyRecorder
	ops     int64
	full    bool
	err     error
}

// run appends block until the deadline, the extent is full, an error or
// cancellation.
func (a *appender) run(ctx context.Context, e *extent.Extent, block extent.Block, deadline time.Time) {
	for time.Now().Before(deadline) {
		if a.err = ctx.Err(); a.err != nil {
			return
		}
		began := time.Now()
		_, err := e.Append(block)
		if errors.Is(err, extent.ErrFull) {
			a.full = true
			return
		}
		if err != nil {
			a.err = err
			return
		}
		a.latency.Record(time.Since(began))
		a.ops++
	}
}

// summarizeAppend merges the appenders' counts and latencies.
func summarizeAppend(workload appendWorkload, appenders []*appender, elapsed time.Duration) (AppendResult, error) {
	latency := benchkit.NewLatencyRecorder()
	result := AppendResult{
		Workload: workload.name, PayloadBytes: workload.payloadSize, Writers: workload.writers,
		PreallocateStep: workload.preallocateStep, Direct: workload.direct, FioBaseline: workload.baseline,
		CompareIOPS: workload.compareIOPS, Elapsed: elapsed,
	}
	for _, a := range appenders {
		if a.err != nil {
			return result, a.err
		}
		result.Ops += a.ops
		result.ExtentFull = result.ExtentFull || a.full
		latency.Merge(a.latency)
	}
	seconds := elapsed.Seconds()
	result.OpsPerSec = float64(result.Ops) / seconds
	result.PayloadBytesPerSec = result.OpsPerSec * float64(workload.payloadSize)
	result.DiskBytesPerSec = result.OpsPerSec * float64(extent.BlockSize(workload.payloadSize))
	result.Latency = latency.Summary()
	return result, nil
}
