package nodebench

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/clogs-io/clogs/conn"
	"github.com/clogs-io/clogs/internal/benchkit"
	"github.com/clogs-io/clogs/internal/extentbench"
	clogspb "github.com/clogs-io/clogs/proto"
)

// Run makes a temporary bench directory under opts.Dir, runs the fio
// baseline and every workload against three nodes in it, and removes it
// again, also when a workload fails or ctx is cancelled.
func Run(ctx context.Context, opts Options) (report *Report, err error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	parent, err := filepath.Abs(opts.Dir) // the report and the nodes name it in full
	if err != nil {
		return nil, fmt.Errorf("bench directory %s: %w", opts.Dir, err)
	}
	dir, cleanup, err := benchkit.MakeBenchDir(parent, "node-bench-")
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, cleanup()) }()
	r := &runner{opts: opts, dir: dir, progress: benchkit.NewProgress("node-bench", opts.Progress)}
	report, err = r.run(ctx)
	r.progress.Finish(dir, err)
	return report, err
}

// runner holds what the workloads of one run share.
type runner struct {
	opts     Options
	dir      string
	binary   string // the extent-node to run; empty in-process
	progress *benchkit.Progress
	lastID   uint64 // the last extent ID handed out

	clusters int      // clusters started so far
	cluster  cluster  // the running cluster, or nil
	settings settings // the running cluster's node settings
}

func (r *runner) run(ctx context.Context) (report *Report, err error) {
	report = &Report{
		Mode: r.opts.mode(), Dir: r.dir, Duration: r.opts.Duration,
		GOMAXPROCS: runtime.GOMAXPROCS(0), NumCPU: runtime.NumCPU(), ForScale: forScale,
	}
	if !r.opts.InProcess {
		remove, err := r.prepareBinary(ctx)
		if err != nil {
			return nil, err
		}
		defer func() { err = errors.Join(err, remove()) }()
		report.NodeBinary = r.binary
	}
	if report.Workloads, err = r.runWorkloads(ctx); err != nil {
		return nil, err
	}
	// fio runs last: its large writes leave the (virtual) disk flushing
	// for a while, which would land in the first workloads' fdatasyncs.
	if report.Fio, err = r.fioBaseline(ctx); err != nil {
		return nil, err
	}
	report.Goals = checkGoals(report.Workloads)
	report.Comparisons = compare(report.Workloads)
	report.Notes = notes(report)
	return report, nil
}

// runWorkloads runs every workload in turn, then stops the last cluster.
func (r *runner) runWorkloads(ctx context.Context) (results []WorkloadResult, err error) {
	defer func() { err = errors.Join(err, r.stopCluster()) }()
	for _, w := range workloads(!r.opts.SkipComparisons) {
		if r.opts.Only != nil && !r.opts.Only.MatchString(w.name) {
			continue
		}
		r.progress.Start(w.name, r.opts.Duration)
		result, err := r.runWorkload(ctx, w)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", w.name, err)
		}
		results = append(results, result)
	}
	return results, nil
}

// prepareBinary builds the extent-node unless one was given.
func (r *runner) prepareBinary(ctx context.Context) (remove func() error, err error) {
	if r.opts.NodeBinary != "" {
		r.binary = r.opts.NodeBinary
		return func() error { return nil }, nil
	}
	r.progress.Note("building " + nodePackage)
	r.binary, remove, err = buildNode(ctx)
	return remove, err
}

func (r *runner) fioBaseline(ctx context.Context) (extentbench.FioBaseline, error) {
	if r.opts.SkipFio {
		return extentbench.FioBaseline{Status: extentbench.FioSkipped}, nil
	}
	return extentbench.RunFioBaseline(ctx, r.dir, r.opts.Duration, r.progress.Start)
}

// clusterFor returns a running cluster with the node settings s,
// restarting the cluster if its settings differ.
func (r *runner) clusterFor(ctx context.Context, s settings) (cluster, error) {
	if r.cluster != nil && r.settings == s {
		return r.cluster, nil
	}
	if err := r.stopCluster(); err != nil {
		return nil, err
	}
	r.clusters++
	spec := newClusterSpec(r.dir, r.clusters, s)
	var c cluster
	var err error
	if r.opts.InProcess {
		c, err = startInProcess(spec)
	} else {
		c, err = startProcesses(ctx, r.binary, spec)
	}
	if err != nil {
		return nil, err
	}
	r.cluster, r.settings = c, s
	return c, nil
}

// stopCluster stops the running cluster, if any.
func (r *runner) stopCluster() error {
	if r.cluster == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	err := r.cluster.stop(ctx)
	r.cluster = nil
	if err != nil {
		return fmt.Errorf("stop nodes: %w", err)
	}
	return nil
}

func (r *runner) nextExtentID() uint64 {
	r.lastID++
	return r.lastID
}

// runWorkload runs one workload on fresh extents, which it deletes after.
func (r *runner) runWorkload(ctx context.Context, w workload) (result WorkloadResult, err error) {
	c, err := r.clusterFor(ctx, w.settings.nodeSettings())
	if err != nil {
		return result, err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, c.failure())
		}
	}()
	pool, err := newClientPool(w.settings.clientCompression)
	if err != nil {
		return result, err
	}
	defer pool.Close()
	roller, err := newExtentRoller(ctx, pool, c.addrs(), r.nextExtentID)
	if err != nil {
		return result, err
	}
	defer func() {
		if ctx.Err() == nil { // on cancellation the whole directory goes
			err = errors.Join(err, roller.removeAll(ctx))
		}
	}()
	m, err := r.measure(ctx, c, pool, roller, w)
	if err != nil {
		return result, err
	}
	return summarize(w, m, roller.count()), nil
}

// measurement is what one workload's run collected.
type measurement struct {
	appenders    []*appender
	elapsed      time.Duration
	payloadRatio float64
	nodesBefore  []nodeSample
	nodesAfter   []nodeSample
	cpuSeconds   float64 // this process
	mode         string
}

// measure warms the connections up with one append, then runs the
// appenders until the duration is over.
func (r *runner) measure(ctx context.Context, c cluster, pool *conn.Pool, roller *extentRoller, w workload) (measurement, error) {
	m := measurement{mode: r.opts.mode()}
	payloads := makePayloads(w.payload, w.payloadSize, uint64(r.lastID))
	m.payloadRatio = snappyRatio(payloads)
	cc, err := pool.Get(ctx, c.addrs()[0])
	if err != nil {
		return m, err
	}
	primary := clogspb.NewExtentServiceClient(cc)
	// The first append also makes the primary dial its peers.
	if _, err := appendOnce(ctx, primary, roller, payloads[0]); err != nil {
		return m, fmt.Errorf("warm-up: %w", err)
	}
	// Dirty pages of earlier workloads and of other processes would
	// otherwise be written inside this workload's fdatasyncs (ext4's
	// ordered mode flushes them with the journal commit).
	syscall.Sync()
	if m.nodesBefore, err = scrapeAll(ctx, c.metricsAddrs()); err != nil {
		return m, err
	}
	cpuBefore := processCPUSeconds()
	began := time.Now()
	deadline := began.Add(r.opts.Duration)
	m.appenders = make([]*appender, w.inFlight)
	var wg sync.WaitGroup
	for i := range m.appenders {
		m.appenders[i] = &appender{latency: benchkit.NewLatencyRecorder()}
		wg.Go(func() { m.appenders[i].run(ctx, primary, roller, payloads, i, deadline) })
	}
	wg.Wait()
	m.elapsed = time.Since(began)
	m.cpuSeconds = processCPUSeconds() - cpuBefore
	if err := ctx.Err(); err != nil {
		return m, err // what the appenders saw was the cancellation
	}
	for _, a := range m.appenders {
		if a.err != nil {
			return m, a.err
		}
	}
	m.nodesAfter, err = scrapeAll(ctx, c.metricsAddrs())
	return m, err
}

// processCPUSeconds is the CPU time this process used so far.
func processCPUSeconds() float64 {
	var usage syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &usage) != nil {
		return 0
	}
	return time.Duration(usage.Utime.Nano() + usage.Stime.Nano()).Seconds()
}
