package extentbench

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"time"

	"github.com/clogs-io/clogs/extent"
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
	dir, cleanup, err := makeBenchDir(opts.Dir)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, cleanup()) }()
	r := &runner{opts: opts, dir: dir, progress: newProgress(opts.Progress)}
	report, err = r.run(ctx)
	r.progress.finish(dir, err)
	return report, err
}

// runner holds what the workloads of one run share.
type runner struct {
	opts     Options
	dir      string // the temporary bench directory
	lastID   uint64 // the last extent ID handed out
	progress *progress
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
	return runFioBaseline(ctx, r.dir, r.opts.Duration, r.progress.start)
}

// createExtent creates a fresh extent in the bench directory.
func (r *runner) createExtent(preallocateStep uint64, unsafeNoSync bool) (*extent.Extent, error) {
	r.lastID++
	cfg := extent.DefaultConfig()
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

// progress writes one line to stderr as each step starts.
type progress struct {
	w     io.Writer
	began time.Time
}

func newProgress(w io.Writer) *progress {
	if w == nil {
		w = io.Discard
	}
	return &progress{w: w, began: time.Now()}
}

// start announces a step that takes about took.
func (p *progress) start(step string, took time.Duration) {
	fmt.Fprintf(p.w, "extent-bench [%6s] %s (%v)\n", p.elapsed(), step, took)
}

// note announces a step of unknown length.
func (p *progress) note(step string) {
	fmt.Fprintf(p.w, "extent-bench [%6s] %s\n", p.elapsed(), step)
}

// finish says how the run ended and that its directory goes away.
func (p *progress) finish(dir string, err error) {
	outcome := "done"
	if err != nil {
		outcome = "stopped"
	}
	p.note(fmt.Sprintf("%s; removing %s", outcome, dir))
}

func (p *progress) elapsed() string {
	return time.Since(p.began).Round(time.Second).String()
}
