// Command extent-node runs one clogs extent-node: it keeps extents on its
// disks (--disk), serves the gRPC ExtentService (--listen) and Prometheus
// metrics at /metrics (--http). What a node does lives in package node;
// this command turns flags into a node.Config, starts the node and stops
// it on a signal.
//
// SIGTERM or SIGINT shuts the node down: it stops taking requests, lets
// in-flight ones finish for up to --shutdown-timeout, closes every extent
// and exits 0. A second signal during shutdown exits at once, with 1.
//
// Exit codes: 0 after a clean shutdown; 1 when the node cannot start (bad
// flags, an unusable disk, a port in use; one line on stderr says why),
// when closing the extents at shutdown failed, or on a second signal.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/clogs-io/clogs/conn"
	"github.com/clogs-io/clogs/extent/vfs"
	"github.com/clogs-io/clogs/internal/buildinfo"
	"github.com/clogs-io/clogs/internal/daemon"
	"github.com/clogs-io/clogs/node"
	"github.com/clogs-io/clogs/xlog"
)

// Exit codes; part of the command-line contract.
const (
	exitOK      = 0
	exitFailure = 1
)

// defaultShutdownTimeout bounds a graceful shutdown.
const defaultShutdownTimeout = 10 * time.Second

// version is set at link time (-ldflags "-X main.version=v1.2.3"); when it
// is empty the module version and VCS revision from the build info are used.
var version string

// options are the command's flags.
type options struct {
	listen          string
	http            string
	streamManagers  []string
	disks           []string
	replicaTimeout  time.Duration
	heartbeat       time.Duration
	maxInflight     int
	pipelineBytes   daemon.ByteSize
	maxExtentSize   daemon.ByteSize
	fullReportEvery int
	repairRate      daemon.ByteSize
	scrubRate       daemon.ByteSize
	scrubInterval   time.Duration
	highWater       float64
	compression     string
	directIO        bool
	zeroAhead       daemon.ByteSize
	logLevel        string
	logFormat       string
	shutdownTimeout time.Duration
}

func defaultOptions() *options {
	cfg := node.DefaultConfig()
	logCfg := xlog.DefaultConfig()
	return &options{
		listen:          cfg.Listen,
		http:            cfg.HTTP,
		streamManagers:  cfg.StreamManagers,
		disks:           cfg.Disks,
		replicaTimeout:  cfg.ReplicaTimeout,
		heartbeat:       cfg.HeartbeatInterval,
		maxInflight:     cfg.MaxInflightBatches,
		pipelineBytes:   daemon.ByteSize(cfg.PipelineBytes),
		maxExtentSize:   daemon.ByteSize(cfg.Extent.MaxSize),
		fullReportEvery: cfg.FullReportEvery,
		repairRate:      daemon.ByteSize(cfg.RepairRate),
		scrubRate:       daemon.ByteSize(cfg.ScrubRate),
		scrubInterval:   cfg.ScrubInterval,
		highWater:       cfg.HighWaterMark,
		compression:     cfg.Conn.Compression,
		directIO:        true,
		zeroAhead:       daemon.ByteSize(cfg.Extent.ZeroAhead),
		logLevel:        logCfg.Level,
		logFormat:       logCfg.Format,
		shutdownTimeout: defaultShutdownTimeout,
	}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command with args and returns the exit code (see
// daemon.Run).
func run(args []string, stdout, stderr io.Writer) int {
	return daemon.Run(newRootCmd(), "extent-node", args, stdout, stderr)
}

func newRootCmd() *cobra.Command {
	opts := defaultOptions()
	cmd := &cobra.Command{
		Use:   "extent-node",
		Short: "Run a clogs extent-node",
		Long: `extent-node keeps extents on its disks and serves them over gRPC (--listen):
appends through the primary, replicated to two secondaries before they are
acknowledged, reads, seals. Prometheus metrics are at http://<--http>/metrics.

It heals with the stream manager's help: it lists all its replicas in a full
report every --full-report-every heartbeats, copies what a replica lacks from
a healthy one when asked (at most --repair-rate bytes a second), verifies its
sealed extents in the background (--scrub-rate, then a pause of
--scrub-interval) and reports a replica with a bad checksum as damaged,
deletes extents the manager says no stream references, and takes no new
extents on a disk fuller than --high-water.

SIGTERM or SIGINT shuts it down gracefully (a second signal exits at once).
Exit codes: 0 after a clean shutdown, 1 when it cannot start or stop cleanly.`,
		Version:       versionString(),
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serve(opts)
		},
	}
	f := cmd.Flags()
	f.SortFlags = false
	f.StringVar(&opts.listen, "listen", opts.listen, "gRPC address, host:port, for clients and peer nodes; also the address the node is known by")
	f.StringVar(&opts.http, "http", opts.http, "metrics address, host:port, serving /metrics; empty disables it")
	f.StringSliceVar(&opts.streamManagers, "sm", opts.streamManagers, "stream managers, comma-separated host:port list; the node registers and heartbeats there (empty: run without a manager)")
	f.StringArrayVar(&opts.disks, "disk", opts.disks, "directory to keep extents in, created if missing; repeat for several disks")
	f.DurationVar(&opts.replicaTimeout, "replica-timeout", opts.replicaTimeout, "how long the primary waits for a secondary to make a batch durable before failing the appends")
	f.DurationVar(&opts.heartbeat, "heartbeat-interval", opts.heartbeat, "how often the node heartbeats to the stream manager")
	f.IntVar(&opts.maxInflight, "max-inflight-batches", opts.maxInflight, "replicated batches in flight per extent on the primary")
	f.Var(&opts.pipelineBytes, "pipeline-bytes", "bytes that must be queued before another batch starts while one is in flight: bytes, or with a KiB, MiB, GiB or TiB suffix")
	f.Var(&opts.maxExtentSize, "max-extent-size", "largest size of an extent, header included: bytes, or with a KiB, MiB, GiB or TiB suffix")
	f.IntVar(&opts.fullReportEvery, "full-report-every", opts.fullReportEvery, "list every replica in the first heartbeat after registering and in every N-th after it")
	f.Var(&opts.repairRate, "repair-rate", "bytes a second that repairs may write, over all repairs of the node; 0 for no bound: bytes, or with a KiB, MiB, GiB or TiB suffix")
	f.Var(&opts.scrubRate, "scrub-rate", "bytes a second the background scrub reads to verify sealed extents; 0 disables scrubbing: bytes, or with a KiB, MiB, GiB or TiB suffix")
	f.DurationVar(&opts.scrubInterval, "scrub-interval", opts.scrubInterval, "pause after each full scrub pass")
	f.Float64Var(&opts.highWater, "high-water", opts.highWater, "fraction of a disk's bytes in use above which it takes no new extents (0 to 1]")
	f.StringVar(&opts.compression, "compression", opts.compression, `compression of requests to peer nodes: "" (none) or `+conn.Snappy)
	f.BoolVar(&opts.directIO, "direct-io", opts.directIO, "write appended blocks with O_DIRECT, past the page cache, where the file system allows it (--direct-io=false: buffered writes)")
	f.Var(&opts.zeroAhead, "zero-ahead", "bytes past an unsealed extent's end to keep written with zeros while it is idle, so that an append's fdatasync has no file size or allocation to commit; 0 disables: bytes, or with a KiB, MiB, GiB or TiB suffix (multiple of 4 KiB)")
	f.StringVar(&opts.logLevel, "log-level", opts.logLevel, "log level: debug, info, warn or error")
	f.StringVar(&opts.logFormat, "log-format", opts.logFormat, "log format on stderr: console or json")
	f.DurationVar(&opts.shutdownTimeout, "shutdown-timeout", opts.shutdownTimeout, "how long in-flight requests may run on after SIGTERM before they are cut")
	return cmd
}

// config builds the node's configuration from the flags and checks it.
func (o *options) config(lg *zap.Logger) (node.Config, error) {
	cfg := node.DefaultConfig()
	cfg.Listen = o.listen
	cfg.HTTP = o.http
	cfg.StreamManagers = o.streamManagers
	cfg.Disks = o.disks
	cfg.ReplicaTimeout = o.replicaTimeout
	cfg.HeartbeatInterval = o.heartbeat
	cfg.MaxInflightBatches = o.maxInflight
	cfg.PipelineBytes = uint64(o.pipelineBytes)
	cfg.Extent.MaxSize = uint64(o.maxExtentSize)
	cfg.FullReportEvery = o.fullReportEvery
	cfg.RepairRate = uint64(o.repairRate)
	cfg.ScrubRate = uint64(o.scrubRate)
	cfg.ScrubInterval = o.scrubInterval
	cfg.HighWaterMark = o.highWater
	cfg.Conn.Compression = o.compression
	cfg.Extent.ZeroAhead = uint64(o.zeroAhead)
	if o.directIO {
		cfg.Extent.FS = vfs.DirectWrites
	}
	cfg.Conn.Logger = lg.Named("conn")
	cfg.Logger = lg
	errs := []error{checkStreamManagers(o.streamManagers), checkDisks(o.disks)}
	if o.shutdownTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--shutdown-timeout %v must be positive", o.shutdownTimeout))
	}
	if err := errors.Join(errs...); err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

// checkStreamManagers checks the --sm addresses, naming the flag in the
// message (node.Config.Validate checks them too, by field name).
func checkStreamManagers(addrs []string) error {
	for _, addr := range addrs {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return fmt.Errorf("--sm address %q: %w", addr, err)
		}
	}
	return nil
}

// checkDisks refuses empty and repeated --disk paths: the same directory
// given twice would be counted as two disks.
func checkDisks(disks []string) error {
	seen := make(map[string]bool, len(disks))
	for _, d := range disks {
		if d == "" {
			return errors.New("--disk: empty path")
		}
		abs, err := filepath.Abs(d)
		if err != nil {
			return fmt.Errorf("--disk %s: %w", d, err)
		}
		if seen[abs] {
			return fmt.Errorf("--disk %s given twice", d)
		}
		seen[abs] = true
	}
	return nil
}

// serve runs the node until a signal, then shuts it down.
func serve(o *options) error {
	lg, err := xlog.New(xlog.Config{Level: o.logLevel, Format: o.logFormat})
	if err != nil {
		return err
	}
	defer lg.Sync() // stderr may not support fsync; nothing to do about it
	cfg, err := o.config(lg)
	if err != nil {
		return err
	}
	// Signals are caught from here on, so that one arriving while the
	// disks are scanned still shuts down cleanly once the node is up.
	stop, release := daemon.WatchSignals(lg, exitFailure)
	defer release()

	lg.Info("extent-node starting", zap.String("version", versionString()), zap.Int("pid", os.Getpid()),
		zap.Strings("disks", cfg.Disks), zap.Strings("stream-managers", cfg.StreamManagers))
	n, err := node.New(cfg)
	if err != nil {
		return err
	}
	if err := n.Start(); err != nil {
		closeUnstarted(n, o.shutdownTimeout)
		return err
	}
	sig := <-stop
	lg.Info("shutting down", zap.Stringer("signal", sig), zap.Duration("timeout", o.shutdownTimeout))
	ctx, cancel := context.WithTimeout(context.Background(), o.shutdownTimeout)
	defer cancel()
	began := time.Now()
	if err := n.Shutdown(ctx); err != nil {
		lg.Error("shutdown failed", zap.Error(err))
		return fmt.Errorf("shutdown: %w", err)
	}
	lg.Info("extent-node stopped", zap.Duration("took", time.Since(began)))
	return nil
}

// closeUnstarted closes the extents of a node whose Start failed, so that
// their files are closed cleanly before the process exits.
func closeUnstarted(n *node.Node, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	n.Shutdown(ctx) // the start error is the one to report
}

// versionString is the version --version prints.
func versionString() string { return buildinfo.Version(version) }
