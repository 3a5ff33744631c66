package node

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"github.com/clogs-io/clogs/conn"
	"github.com/clogs-io/clogs/extent"
)

// Config is an extent-node's configuration; cmd/extent-node fills it from
// flags.
type Config struct {
	// Listen is the gRPC address (127.0.0.1:4001). Peers and clients reach
	// the node there, so it is also the address the node is known by.
	Listen string
	// HTTP serves /metrics (127.0.0.1:4101); empty disables it.
	HTTP string
	// StreamManagers are the stream managers' addresses. When there are
	// any, the node registers with the leading one and heartbeats to it;
	// empty runs the node without a manager.
	StreamManagers []string
	// HeartbeatInterval is how often the node heartbeats to the stream
	// manager (and retries registering).
	HeartbeatInterval time.Duration
	// Disks are the directories extents live in; at least one.
	Disks []string
	// ReplicaTimeout bounds each ReplicateBlocks call to a secondary.
	ReplicaTimeout time.Duration
	// MaxInflightBatches is how many replicated batches per extent the
	// primary keeps in flight, so that one slow fsync does not idle the
	// network.
	MaxInflightBatches int
	// PipelineBytes is how many bytes must be queued before another
	// batch starts while one is in flight.
	PipelineBytes uint64
	// MaxBatchBytes caps one batch (at least one client append is taken).
	MaxBatchBytes uint64
	// FullReportEvery: the first heartbeat after (re)registering lists
	// every replica of the node (a full report), and so does every
	// FullReportEvery-th heartbeat after it.
	FullReportEvery int
	// RepairRate bounds the bytes per second that RepairExtent writes,
	// over all repairs of the node together; 0 means no bound. The
	// default keeps foreground appends' p99 within 2x of its value before
	// a failure in make bench-repair on the development machine (16 MiB/s:
	// 1.28-2.31x over five runs; 32 MiB/s: 1.74-2.39x over six).
	RepairRate uint64
	// ScrubRate bounds the bytes per second the scrubber reads to verify
	// sealed extents; 0 disables scrubbing.
	ScrubRate uint64
	// ScrubInterval is the pause after each full scrub pass.
	ScrubInterval time.Duration
	// HighWaterMark is the fraction of a disk's bytes in use above which
	// the disk takes no new extents (it is reported full).
	HighWaterMark float64
	// DiskStats, if set, replaces statfs for a disk's total and free
	// bytes (tests fake a nearly full disk with it).
	DiskStats func(path string) (total, free uint64, err error)
	// Extent configures the extent engine (max extent size, the
	// filesystem, ...).
	Extent extent.Config
	// Conn configures connections to peer nodes.
	Conn conn.Config
	// Logger; nil logs nothing.
	Logger *zap.Logger
}

// DefaultConfig returns the defaults of the command-line contract.
func DefaultConfig() Config {
	return Config{
		Listen:             "127.0.0.1:4001",
		HTTP:               "127.0.0.1:4101",
		StreamManagers:     []string{"127.0.0.1:3401"},
		HeartbeatInterval:  time.Second,
		Disks:              []string{"./data/node1"},
		ReplicaTimeout:     5 * time.Second,
		MaxInflightBatches: 4,
		MaxBatchBytes:      16 << 20,
		PipelineBytes:      1 << 20,
		FullReportEvery:    10,
		RepairRate:         16 << 20,
		ScrubRate:          16 << 20,
		ScrubInterval:      time.Hour,
		HighWaterMark:      0.95,
		Extent:             nodeExtentConfig(),
		Conn:               conn.DefaultConfig(),
	}
}

// DefaultZeroAhead is how far past an unsealed extent's end a node keeps
// zeros written (extent.Config.ZeroAhead): on this project's test machine
// it took a 4 KiB append's fdatasync from 0.42 to 0.17 ms with three nodes
// on one disk; appends that keep an extent busy leave it no time to fill.
const DefaultZeroAhead = 1 << 20

func nodeExtentConfig() extent.Config {
	cfg := extent.DefaultConfig()
	cfg.ZeroAhead = DefaultZeroAhead
	return cfg
}

// Validate checks the configuration.
func (c Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("listen address %q: %w", c.Listen, err))
	}
	if c.HTTP != "" {
		if _, _, err := net.SplitHostPort(c.HTTP); err != nil {
			errs = append(errs, fmt.Errorf("http address %q: %w", c.HTTP, err))
		}
	}
	if len(c.Disks) == 0 {
		errs = append(errs, errors.New("no disks"))
	}
	seen := map[string]bool{}
	for _, d := range c.Disks {
		clean := filepath.Clean(d)
		if seen[clean] {
			errs = append(errs, fmt.Errorf("disk %s given twice", d))
		}
		seen[clean] = true
	}
	for _, sm := range c.StreamManagers {
		if _, _, err := net.SplitHostPort(sm); err != nil {
			errs = append(errs, fmt.Errorf("stream manager address %q: %w", sm, err))
		}
	}
	if c.HeartbeatInterval <= 0 {
		errs = append(errs, fmt.Errorf("heartbeat interval %v must be positive", c.HeartbeatInterval))
	}
	if c.ReplicaTimeout <= 0 {
		errs = append(errs, fmt.Errorf("replica timeout %v must be positive", c.ReplicaTimeout))
	}
	if c.FullReportEvery < 1 {
		errs = append(errs, fmt.Errorf("full report every %d heartbeats must be at least 1", c.FullReportEvery))
	}
	if c.ScrubRate > 0 && c.ScrubInterval <= 0 {
		errs = append(errs, fmt.Errorf("scrub interval %v must be positive", c.ScrubInterval))
	}
	if !(c.HighWaterMark > 0 && c.HighWaterMark <= 1) {
		errs = append(errs, fmt.Errorf("high-water mark %v must be above 0 and at most 1", c.HighWaterMark))
	}
	if c.PipelineBytes == 0 {
		errs = append(errs, errors.New("pipeline bytes must be positive"))
	}
	if c.MaxInflightBatches < 1 {
		errs = append(errs, fmt.Errorf("max in-flight batches %d must be at least 1", c.MaxInflightBatches))
	}
	// A batch of several appends travels as one ReplicateBlocks message;
	// a single append larger than the cap goes alone and already fit in
	// its own AppendBlocks message.
	if c.MaxBatchBytes == 0 || c.MaxBatchBytes > conn.MaxMessageSize/2 {
		errs = append(errs, fmt.Errorf("max batch bytes %d must be between 1 and %d", c.MaxBatchBytes, conn.MaxMessageSize/2))
	}
	if err := c.Extent.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Conn.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("node config: %w", err)
	}
	return nil
}
