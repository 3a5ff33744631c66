package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/clogs-io/clogs/extent"
	"github.com/clogs-io/clogs/internal/benchkit"
	"github.com/clogs-io/clogs/streamclient"
)

type wbenchOptions struct {
	stream   string
	size     int
	inflight int
	duration time.Duration
	count    int64
	writer   string
	window   int
	json     bool

	cpuProfile string
}

// appender is what wbench drives: a Writer or a SharedWriter.
type appender interface {
	Append(ctx context.Context, blocks ...extent.Block) ([]streamclient.Address, error)
}

func newWbenchCmd(opts *globalOptions) *cobra.Command {
	o := &wbenchOptions{}
	cmd := &cobra.Command{
		Use:   "wbench",
		Short: "Measure appends through the stream client: ops/s, MiB/s, latency",
		Long: `wbench keeps --inflight appends of --size bytes in flight against one
stream for --duration or --count appends. With --writer single (the default)
they go through the exactly-once single writer, which pipelines up to
--window requests and packs appends that queue up meanwhile into one request;
--writer shared uses the at-least-once shared writer, which packs them the
same way and sends a failed request again, whole, on a new extent. It prints a line a second on stderr and a table at the end (--json: one
object).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runWbench(cmd, opts, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.stream, "stream", "bench/wbench", "stream to append to (created if missing)")
	f.IntVar(&o.size, "size", 4096, "payload bytes per append")
	f.IntVar(&o.inflight, "inflight", 1, "appends in flight")
	f.DurationVar(&o.duration, "duration", 10*time.Second, "how long to run (unless --count)")
	f.Int64Var(&o.count, "count", 0, "stop after this many appends (0: run for --duration)")
	f.StringVar(&o.writer, "writer", "single", "single (exactly-once, pipelined) or shared (at-least-once)")
	f.IntVar(&o.window, "window", streamclient.DefaultConfig().WriterInflight, "requests the single writer keeps in flight")
	f.BoolVar(&o.json, "json", false, "print one JSON object instead of the table")
	f.StringVar(&o.cpuProfile, "cpu-profile", "", "write a Go CPU profile of the run to this file (read it with go tool pprof)")
	return cmd
}

// WbenchResult is wbench's outcome; the JSON names are a contract for
// scripts.
type WbenchResult struct {
	Stream   string  `json:"stream"`
	Size     int     `json:"size"`
	Inflight int     `json:"inflight"`
	Writer   string  `json:"writer"`
	Seconds  float64 `json:"seconds"`
	Ops      int64   `json:"ops"`
	Errors   int64   `json:"errors"`
	OpsPerS  float64 `json:"ops_per_s"`
	MiBPerS  float64 `json:"mib_per_s"`
	P50us    int64   `json:"p50_us"`
	P99us    int64   `json:"p99_us"`
	P999us   int64   `json:"p999_us"`
	MaxUs    int64   `json:"max_us"`
}

func runWbench(cmd *cobra.Command, opts *globalOptions, o *wbenchOptions) (err error) {
	if o.size < 1 || o.size > extent.MaxPayload || o.inflight < 1 || o.window < 1 || (o.count <= 0 && o.duration <= 0) {
		return &usageError{fmt.Errorf("wbench: --size 1..%d, --inflight and --window at least 1, and --count or --duration above 0", extent.MaxPayload)}
	}
	if o.writer != "single" && o.writer != "shared" {
		return &usageError{fmt.Errorf("wbench: --writer is single or shared, not %q", o.writer)}
	}
	cl, err := newClientWith(opts, func(cfg *streamclient.Config) { cfg.WriterInflight = o.window })
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx := cmd.Context()
	var w appender
	if o.writer == "single" {
		w, err = cl.OpenWriter(ctx, o.stream)
	} else {
		w, err = cl.OpenSharedWriter(ctx, o.stream)
	}
	if err != nil {
		return err
	}
	if o.cpuProfile != "" {
		stop, startErr := benchkit.StartCPUProfile(o.cpuProfile)
		if startErr != nil {
			return startErr
		}
		defer func() { err = errors.Join(err, stop()) }()
	}
	res, err := wbenchRun(ctx, w, o, cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	return printWbench(cmd.OutOrStdout(), res, o.json)
}

// wbenchRun keeps o.inflight appends going and collects their latencies.
func wbenchRun(ctx context.Context, w appender, o *wbenchOptions, progress io.Writer) (WbenchResult, error) {
	payload := make([]byte, o.size)
	rand.Read(payload)
	if o.count <= 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.duration)
		defer cancel()
	}
	var ops, errs, started atomic.Int64
	recorders := make([]*benchkit.LatencyRecorder, o.inflight)
	began := time.Now()
	stopTicker := tickProgress(progress, &ops, o.size, began)
	var wg sync.WaitGroup
	for i := range recorders {
		recorders[i] = benchkit.NewLatencyRecorder()
		wg.Add(1)
		go func() {
			defer wg.Done()
			appendLoop(ctx, w, payload, o.count, &started, &ops, &errs, recorders[i])
		}()
	}
	wg.Wait()
	stopTicker()
	elapsed := time.Since(began)
	for _, r := range recorders[1:] {
		recorders[0].Merge(r)
	}
	if ops.Load() == 0 {
		return WbenchResult{}, fmt.Errorf("wbench: no append succeeded (%d failed)", errs.Load())
	}
	return wbenchResult(o, elapsed, ops.Load(), errs.Load(), recorders[0].Summary()), nil
}

// appendLoop appends until ctx ends or count appends have been started
// by all loops together.
func appendLoop(ctx context.Context, w appender, payload []byte, count int64, started, ops, errs *atomic.Int64, rec *benchkit.LatencyRecorder) {
	for ctx.Err() == nil {
		if count > 0 && started.Add(1) > count {
			return
		}
		began := time.Now()
		_, err := w.Append(ctx, extent.Block{Payload: payload})
		if err != nil {
			if ctx.Err() == nil {
				errs.Add(1)
			}
			continue
		}
		rec.Record(time.Since(began))
		ops.Add(1)
	}
}

// tickProgress prints a line a second until stopped.
func tickProgress(w io.Writer, ops *atomic.Int64, size int, began time.Time) func() {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		last := int64(0)
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				now := ops.Load()
				fmt.Fprintf(w, "wbench [%4.0fs] %8d ops/s %8.1f MiB/s\n", time.Since(began).Seconds(), now-last, float64((now-last)*int64(size))/(1<<20))
				last = now
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

func wbenchResult(o *wbenchOptions, elapsed time.Duration, ops, errs int64, lat benchkit.Latency) WbenchResult {
	secs := elapsed.Seconds()
	return WbenchResult{
		Stream: o.stream, Size: o.size, Inflight: o.inflight, Writer: o.writer, Seconds: secs, Ops: ops, Errors: errs,
		OpsPerS: float64(ops) / secs, MiBPerS: float64(ops) * float64(o.size) / (1 << 20) / secs,
		P50us: lat.P50.Microseconds(), P99us: lat.P99.Microseconds(), P999us: lat.P999.Microseconds(), MaxUs: lat.Max.Microseconds(),
	}
}

func printWbench(w io.Writer, r WbenchResult, asJSON bool) error {
	if asJSON {
		return benchkit.WriteJSON(w, r)
	}
	return benchkit.WriteTable(w, func(out *strings.Builder) {
		benchkit.WriteAligned(out, [][]string{
			{"stream", "writer", "size", "inflight", "ops", "errors", "ops/s", "MiB/s", "p50", "p99", "p99.9", "max"},
			{r.Stream, r.Writer, fmt.Sprint(r.Size), fmt.Sprint(r.Inflight), fmt.Sprint(r.Ops), fmt.Sprint(r.Errors),
				fmt.Sprintf("%.0f", r.OpsPerS), fmt.Sprintf("%.1f", r.MiBPerS),
				usString(r.P50us), usString(r.P99us), usString(r.P999us), usString(r.MaxUs)},
		})
	})
}

func usString(us int64) string { return benchkit.FormatLatency(time.Duration(us) * time.Microsecond) }
