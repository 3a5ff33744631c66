package node

import (
	"cmp"
	"context"
	"errors"
	"io/fs"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/clogs-io/clogs/erasure"
	"github.com/clogs-io/clogs/extent"
)

// scrubChunk is how many bytes of blocks one scrub read covers.
const scrubChunk = 1 << 20

// scrubber verifies the sealed extents and the shards of the node in the
// background: it
// reads every block through the engine, which checks its checksum, at
// most ScrubRate bytes a second; after a full pass it sleeps
// ScrubInterval. A replica with a bad block is marked damaged
// (damage.go). Extents on failed disks and replicas already damaged are
// skipped. The reads go through the page cache, so a block cached since it
// was written is checked in memory, not on the platter.
type scrubber struct {
	n        *Node
	throttle *throttle
	cancel   context.CancelFunc
	done     chan struct{}
}

func startScrubber(n *Node) *scrubber {
	ctx, cancel := context.WithCancel(context.Background())
	s := &scrubber{n: n, throttle: newThrottle(n.cfg.ScrubRate), cancel: cancel, done: make(chan struct{})}
	go s.run(ctx)
	return s
}

// stop ends the scrubber and waits for it; a nil scrubber does nothing.
func (s *scrubber) stop() {
	if s == nil {
		return
	}
	s.cancel()
	<-s.done
}

func (s *scrubber) run(ctx context.Context) {
	defer close(s.done)
	lg := s.n.lg.Named("scrub")
	for {
		began := time.Now()
		verified, damaged := s.pass(ctx)
		if ctx.Err() != nil {
			return
		}
		lg.Debug("scrub pass done", zap.Int("extents", verified), zap.Int("damaged", damaged), zap.Duration("took", time.Since(began)))
		timer := time.NewTimer(s.n.cfg.ScrubInterval)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
	}
}

// pass verifies every sealed, undamaged replica, then every undamaged
// shard, on disks in service, and returns how many it verified and found
// damaged.
func (s *scrubber) pass(ctx context.Context) (verified, damaged int) {
	v, d := s.replicaPass(ctx)
	sv, sd := s.shardPass(ctx)
	return v + sv, d + sd
}

// shardPass verifies the chunks of every undamaged shard on a disk in
// service; a chunk that fails its checksum marks the shard damaged, which
// the full report tells the manager, which has it rebuilt.
func (s *scrubber) shardPass(ctx context.Context) (verified, damaged int) {
	for _, sf := range s.n.scrubbableShards() {
		if ctx.Err() != nil {
			return verified, damaged
		}
		read, err := s.n.verifyShard(ctx, sf, s.throttle)
		s.n.metrics.scrubBytes.Add(float64(read))
		switch {
		case errors.Is(err, erasure.ErrCorrupt):
			s.n.markShardDamaged(sf, err)
			damaged++
		case err == nil:
			verified++
		case ctx.Err() != nil || errors.Is(err, fs.ErrNotExist):
			// stopping, or deleted meanwhile
		default:
			s.n.lg.Warn("scrub cannot read a shard", zap.Uint64("extent", sf.key.id), zap.Int("shard", sf.key.index), zap.Error(err))
		}
	}
	return verified, damaged
}

// scrubbableShards lists the undamaged shards on disks in service, in
// extent and index order.
func (n *Node) scrubbableShards() []*shardFile {
	n.shardMu.RLock()
	out := make([]*shardFile, 0, len(n.shards))
	for _, sf := range n.shards {
		out = append(out, sf)
	}
	n.shardMu.RUnlock()
	out = slices.DeleteFunc(out, func(sf *shardFile) bool { return sf.damaged() != nil || sf.disk.failed() != nil })
	slices.SortFunc(out, func(a, b *shardFile) int {
		return cmp.Or(cmp.Compare(a.key.id, b.key.id), cmp.Compare(a.key.index, b.key.index))
	})
	return out
}

// verifyShard reads every chunk of a shard, which checks its checksum, at
// the rate of throttle, and returns the bytes read and the first
// corruption.
func (n *Node) verifyShard(ctx context.Context, sf *shardFile, t *throttle) (uint64, error) {
	shard, err := erasure.OpenFile(n.fsys(), sf.path)
	if err != nil {
		return 0, err
	}
	defer shard.Close()
	record := make([]byte, shard.RecordSize())
	var read uint64
	for stripe := range shard.Header().Stripes {
		if _, err := shard.ReadChunk(stripe, record); err != nil {
			return read, err
		}
		read += uint64(len(record))
		if err := t.wait(ctx, uint64(len(record))); err != nil {
			return read, err
		}
	}
	return read, nil
}

// replicaPass verifies every sealed, undamaged replica on a disk in
// service, in extent order, and returns how many it verified and found
// damaged.
func (s *scrubber) replicaPass(ctx context.Context) (verified, damaged int) {
	for _, r := range s.n.scrubbable() {
		if ctx.Err() != nil {
			return verified, damaged
		}
		read, err := s.n.verifyReplica(ctx, r, s.throttle)
		s.n.metrics.scrubBytes.Add(float64(read))
		var corrupt *extent.CorruptionError
		switch {
		case errors.As(err, &corrupt):
			s.n.markDamaged(r, corrupt)
			damaged++
		case err == nil:
			verified++
		case errors.Is(err, extent.ErrClosed) || ctx.Err() != nil:
			// deleted or replaced meanwhile, or stopping
		default:
			r.disk.noteError(err)
			s.n.lg.Warn("scrub cannot read a replica", zap.Uint64("extent", r.id), zap.String("disk", r.disk.path), zap.Error(err))
		}
	}
	return verified, damaged
}

// scrubbable lists the sealed, undamaged replicas on disks in service.
func (n *Node) scrubbable() []*replica {
	n.mu.RLock()
	var out []*replica
	for _, r := range n.replicas {
		out = append(out, r)
	}
	n.mu.RUnlock()
	out = slices.DeleteFunc(out, func(r *replica) bool {
		_, sealed := r.ext.Sealed()
		return !sealed || r.damaged() != nil || r.disk.failed() != nil
	})
	slices.SortFunc(out, func(a, b *replica) int { return cmp.Compare(a.id, b.id) })
	return out
}

// verifyReplica reads every block of a sealed replica, which checks its
// checksum, at the rate of throttle. It returns the bytes read, and a
// *extent.CorruptionError for the first bad block.
func (n *Node) verifyReplica(ctx context.Context, r *replica, t *throttle) (uint64, error) {
	length, _ := r.ext.Sealed()
	buf := make([]byte, scrubChunk)
	var read uint64
	for offset := uint64(extent.ExtentHeaderSize); offset < length; {
		if err := ctx.Err(); err != nil {
			return read, err
		}
		_, next, err := r.ext.ReadBefore(offset, length, buf)
		if err != nil {
			return read, err
		}
		if next == offset {
			return read, &extent.CorruptionError{ExtentID: r.id, Offset: offset, Err: errors.New("no block where the sealed extent has one")}
		}
		read += next - offset
		if err := t.wait(ctx, next-offset); err != nil {
			return read, err
		}
		offset = next
	}
	return read, nil
}
