package extent

import (
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/clogs-io/clogs/extent/vfs"
)

// Config says how extents are created and opened.
type Config struct {
	// FS is the filesystem; nil means the real one (vfs.Default).
	FS vfs.FS
	// Logger receives recovery reports and slow-sync warnings; nil logs
	// nothing.
	Logger *zap.Logger
	// MaxSize is the largest an extent may grow, header included. An
	// append that would pass it fails with ErrFull.
	MaxSize uint64
	// PreallocateStep, when not zero, reserves disk space ahead of the
	// end in steps of this many bytes (fallocate, keeping the file size).
	PreallocateStep uint64
	// ZeroAhead, when not zero, keeps up to this many bytes past the end
	// written with zeros, filled while the extent has no append waiting
	// (zerofill.go). An append that lands there overwrites allocated,
	// written blocks inside the file size, so its fdatasync has no
	// metadata to commit: on ext4 a cache flush instead of a journal
	// commit. Open cuts the zeros back off.
	ZeroAhead uint64
	// SlowSync is the fdatasync duration above which a warning is logged.
	SlowSync time.Duration
	// SyncObserver, if set, is told how long each fdatasync of a batch
	// took (for metrics).
	SyncObserver func(time.Duration)
	// UnsafeNoSyncForBenchmarks skips fdatasync: appends are NOT durable
	// when they return. For measuring the engine without the disk only.
	UnsafeNoSyncForBenchmarks bool
}

// DefaultMaxSize is the default maximum extent size: 2 GiB.
const DefaultMaxSize = 2 << 30

// DefaultConfig returns the configuration a node uses unless told
// otherwise.
func DefaultConfig() Config {
	return Config{MaxSize: DefaultMaxSize, SlowSync: time.Second}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	if c.MaxSize < ExtentHeaderSize+BlockSize(1) {
		return fmt.Errorf("extent: max size %d cannot hold one block", c.MaxSize)
	}
	if c.PreallocateStep%PayloadAlign != 0 {
		return fmt.Errorf("extent: preallocate step %d is not a multiple of %d", c.PreallocateStep, PayloadAlign)
	}
	if c.ZeroAhead%PayloadAlign != 0 {
		return fmt.Errorf("extent: zero-ahead %d is not a multiple of %d", c.ZeroAhead, PayloadAlign)
	}
	return nil
}

func (c Config) fs() vfs.FS {
	if c.FS == nil {
		return vfs.Default
	}
	return c.FS
}
