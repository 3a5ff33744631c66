package extentbench

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"

	"github.com/clogs-io/clogs/extent"
	"github.com/clogs-io/clogs/extent/vfs"
	"github.com/clogs-io/clogs/internal/benchkit"
)

// benchMaxSize is the extents' maximum size: far more than any workload
// writes in its duration on this class of disk. A workload that fills
// it anyway stops early and says so (AppendResult.ExtentFull).
const benchMaxSize = 64 << 30

// Run makes a temporary bench directory under opts.Dir, runs the fio
// baseline and every workload in it, and removes it again, also when a
// workload fails or ctx is cancelled.
func Run(ctx context.Context, opts Options) (report *Report, err error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	dir, cleanup, err := benchkit.MakeBenchDir(opts.Dir, "extent-bench-")
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, cleanup()) }()
	r := &runner{opts: opts, dir: dir, progress: benchkit.NewProgress("extent-bench", opts.Progress)}
	report, err = r.run(ctx)
	r.progress.Finish(dir, err)
	return report, err
}

// runner holds what the workloads of one run share.
type runner struct {
	opts     Options
	dir      string // the temporary bench directory
	lastID   uint64 // the last extent ID handed out
	progress *benchkit.Progress
}

// run measures everything and checks the goals.
func (r *runner) run(ctx context.Context) (*Report, error) {
	if err := extent.CheckXattrSupport(nil, r.dir); err != nil {
		return nil, err
	}
	report := &Report{Dir: r.dir, Duration: r.opts.Duration, ReadSize: r.opts.ReadSize, GOMAXPROCS: runtime.GOMAXPROCS(0)}
	var err error
	if report.Fio, err = r.fioBaseline(ctx); err != nil {
		return nil, err
	}
	if report.Appends, err = r.runAppends(ctx); err != nil {
		return nil, err
	}
	reads, err := r.runReads(ctx)
	if err != nil {
		return nil, err
	}
	report.Reads, report.Memory = reads.results, reads.memory
	report.Notes = notes(reads)
	report.Goals = checkGoals(report)
	return report, nil
}

// fioBaseline runs fio unless told not to.
func (r *runner) fioBaseline(ctx context.Context) (FioBaseline, error) {
	if r.opts.SkipFio {
		return FioBaseline{Status: FioSkipped}, nil
	}
	return runFioBaseline(ctx, r.dir, r.opts.Duration, r.progress.Start)
}

// createExtent creates a fresh extent in the bench directory.
func (r *runner) createExtent(preallocateStep uint64, direct, unsafeNoSync bool) (*extent.Extent, error) {
	r.lastID++
	cfg := extent.DefaultConfig()
	if direct {
		cfg.FS = vfs.DirectWrites
	}
	cfg.MaxSize = benchMaxSize
	cfg.PreallocateStep = preallocateStep
	cfg.UnsafeNoSyncForBenchmarks = unsafeNoSync
	e, err := extent.Create(filepath.Join(r.dir, extent.FileName(r.lastID)), r.lastID, cfg)
	if err != nil {
		return nil, fmt.Errorf("bench extent: %w", err)
	}
	return e, nil
}

// randomPayload returns n random bytes, so that nothing below the engine
// can compress or deduplicate them.
func randomPayload(n int) []byte {
	payload := make([]byte, n)
	rand.Read(payload)
	return payload
}
