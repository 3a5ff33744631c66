package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/clogs-io/clogs/erasure"
	"github.com/clogs-io/clogs/extent"
	clogspb "github.com/clogs-io/clogs/proto"
)

// RebuildShard, on this node's side: the stream manager asks the node to
// make shard index of a coded extent, lost or damaged elsewhere, from the
// other shards. The node reads any d good chunks of every stripe from the
// sources through ReadShard (RemoteShard), regenerates its shard with
// erasure.Rebuild and keeps it as putShard does: partial file, fsync,
// every chunk checked, rename, directory synced. Then it answers. A shard
// the node already holds whole is left alone; a rebuild that fails leaves
// nothing.

// rebuildFetch is about how many bytes of one source's chunks a rebuild
// fetches per ReadShard call.
const rebuildFetch = 4 * shardMessage

// RebuildShard builds a shard on this node; see Node.rebuildShard.
func (s *service) RebuildShard(ctx context.Context, req *clogspb.RebuildShardRequest) (*clogspb.RebuildShardResponse, error) {
	want, err := validateRebuildShard(req)
	if err != nil {
		return nil, ToStatus(err, req.GetExtentId())
	}
	if s.n.shuttingDown.Load() {
		return nil, ToStatus(ErrShuttingDown, req.GetExtentId())
	}
	written, err := s.n.rebuildShard(ctx, want, req.GetSources())
	if err != nil {
		return nil, ToStatus(err, req.GetExtentId())
	}
	return &clogspb.RebuildShardResponse{Written: written, ShardSize: want.ShardSize()}, nil
}

// validateRebuildShard checks a RebuildShard request and returns the
// header the shard to build must have.
func validateRebuildShard(req *clogspb.RebuildShardRequest) (erasure.ShardHeader, error) {
	if err := validateExtentID(req.GetExtentId()); err != nil {
		return erasure.ShardHeader{}, err
	}
	params := erasure.Params{DataShards: int(req.GetDataShards()), ParityShards: int(req.GetParityShards()), ChunkSize: int(req.GetChunkSize())}
	if params.ChunkSize == 0 {
		params.ChunkSize = erasure.DefaultChunkSize
	}
	if err := params.Validate(); err != nil {
		return erasure.ShardHeader{}, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	length := req.GetSealedLength()
	if length < extent.ExtentHeaderSize || length%extent.BlockHeaderSize != 0 || length > erasure.MaxSealedLength {
		return erasure.ShardHeader{}, fmt.Errorf("%w: sealed length %d is not a block boundary", ErrBadRequest, length)
	}
	index := int(req.GetIndex())
	if index >= params.Shards() {
		return erasure.ShardHeader{}, fmt.Errorf("%w: shard %d of a %s coding", ErrBadRequest, index, params)
	}
	if err := validateShardSources(req.GetSources(), index, params); err != nil {
		return erasure.ShardHeader{}, err
	}
	return erasure.ShardHeader{ExtentID: req.GetExtentId(), Version: erasure.FormatVersion, Index: index, Params: params,
		SealedLength: length, Stripes: params.Stripes(length)}, nil
}

// validateShardSources checks that sources name at least d other shards
// of the coding, each once, each at a host:port.
func validateShardSources(sources []*clogspb.ShardSource, index int, params erasure.Params) error {
	seen := make([]bool, params.Shards())
	for i, src := range sources {
		si := int(src.GetIndex())
		switch {
		case si >= params.Shards() || si == index || seen[si]:
			return fmt.Errorf("%w: source %d is shard %d: out of the %s coding, the shard to build, or named twice", ErrBadRequest, i, si, params)
		case !isHostPort(src.GetAddr()):
			return fmt.Errorf("%w: source %d address %q is not host:port", ErrBadRequest, i, src.GetAddr())
		}
		seen[si] = true
	}
	if len(sources) < params.DataShards {
		return fmt.Errorf("%w: %d sources, a %s coding needs %d", ErrBadRequest, len(sources), params, params.DataShards)
	}
	return nil
}

// rebuildShard builds shard want.Index of extent want.ExtentID from
// sources and returns the bytes it wrote: 0 when the node held it whole.
// One put or rebuild of a shard runs at a time.
func (n *Node) rebuildShard(ctx context.Context, want erasure.ShardHeader, sources []*clogspb.ShardSource) (written uint64, err error) {
	key := shardKey{want.ExtentID, want.Index}
	began := time.Now()
	defer func() {
		if err != nil {
			n.lg.Warn("shard rebuild failed", zap.Uint64("extent", key.id), zap.Int("shard", key.index), zap.Error(err))
		}
	}()
	release, err := n.startPut(key)
	if err != nil {
		return 0, err
	}
	defer release()
	if n.holdsWholeShard(key, want) {
		return 0, nil
	}
	shards, good := n.openShardSources(ctx, want, sources)
	if good < want.Params.DataShards {
		return 0, fmt.Errorf("extent %d shard %d: %w: %d of the %d sources answered, %d needed", key.id, key.index, ErrTooFewShards, good, len(sources), want.Params.DataShards)
	}
	d, err := pickDisk(n.disks, n.cfg.HighWaterMark)
	if err != nil {
		return 0, fmt.Errorf("extent %d shard %d: %w", key.id, key.index, err)
	}
	report, err := n.writeRebuilt(ctx, d, key, shards)
	if err != nil {
		return 0, err
	}
	if report.Degraded() {
		n.lg.Warn("shard rebuilt around bad sources", zap.Uint64("extent", key.id), zap.Int("shard", key.index),
			zap.Ints("bad-shards", report.BadShards()), zap.Bool("corrupt", report.Corrupt()))
	}
	n.metrics.addBytes("rebuild-shard", want.ShardSize())
	n.lg.Info("rebuilt shard", zap.Uint64("extent", key.id), zap.Int("shard", key.index), zap.String("disk", d.path),
		zap.Uint64("shard-size", want.ShardSize()), zap.Duration("took", time.Since(began)))
	return want.ShardSize(), nil
}

// writeRebuilt rebuilds shard key from shards into a partial file on d,
// at the repair rate, makes it durable, verifies it and puts it in place.
// On a failure the partial file is removed.
func (n *Node) writeRebuilt(ctx context.Context, d *disk, key shardKey, shards []*erasure.Shard) (report erasure.Report, err error) {
	partial := d.shardPath(key.id, key.index) + partialSuffix
	n.fsys().Remove(partial) // left by a put whose node crashed, if any
	w, err := erasure.CreateFile(n.fsys(), partial)
	if err != nil {
		d.noteError(err)
		return report, fmt.Errorf("extent %d shard %d: %w", key.id, key.index, err)
	}
	defer func() {
		if err != nil {
			w.Abort()
		}
	}()
	tw := &throttledWriter{ctx: ctx, t: n.repairThrottle, w: w}
	report, err = erasure.Rebuild(shards, key.index, tw)
	switch {
	case err != nil && ctx.Err() != nil:
		return report, fmt.Errorf("extent %d shard %d: %w", key.id, key.index, ctx.Err())
	case errors.Is(err, erasure.ErrUnrecoverable):
		return report, fmt.Errorf("extent %d shard %d: %w: %w (bad: %v)", key.id, key.index, ErrTooFewShards, err, report.Bad)
	case err != nil && tw.err == nil: // the file failed, not the throttle's context
		d.noteError(err)
		return report, err
	case err != nil:
		return report, err
	}
	if err := w.Commit(); err != nil {
		d.noteError(err)
		return report, fmt.Errorf("extent %d shard %d: %w", key.id, key.index, err)
	}
	if err := n.verifyShardFile(partial, key); err != nil {
		return report, err
	}
	h := shards[firstShard(shards)].Header()
	h.Index = key.index
	return report, n.installShard(d, key, partial, h)
}

func firstShard(shards []*erasure.Shard) int {
	for i, s := range shards {
		if s != nil {
			return i
		}
	}
	return -1
}

// holdsWholeShard reports whether the node holds shard key of want's
// coding, whole: every chunk passes its checksum. A shard that fails is
// marked damaged (and rebuilt in place by the caller).
func (n *Node) holdsWholeShard(key shardKey, want erasure.ShardHeader) bool {
	sf, err := n.shard(key)
	if err != nil || sf.header != want {
		return false
	}
	s, err := erasure.OpenFile(n.fsys(), sf.path)
	if err == nil {
		err = s.Verify()
		s.Close()
	}
	if err != nil {
		n.noteShardError(sf, err)
		return false
	}
	return true
}

// openShardSources opens the sources' shards in parallel, each as a
// RemoteShard bound to ctx, and returns them by index (nil for a source
// that could not be opened: unreachable, without the shard, or with
// another coding's) with how many opened.
func (n *Node) openShardSources(ctx context.Context, want erasure.ShardHeader, sources []*clogspb.ShardSource) ([]*erasure.Shard, int) {
	shards := make([]*erasure.Shard, want.Params.Shards())
	opts := RemoteShardOptions{MaxFetch: max(1, rebuildFetch/uint64(want.Params.ChunkSize)), Timeout: n.cfg.ReplicaTimeout}
	var wg sync.WaitGroup
	for _, src := range sources {
		wg.Go(func() {
			h := want
			h.Index = int(src.GetIndex())
			shard, err := n.openRemoteShard(ctx, src.GetAddr(), h, opts)
			if err != nil {
				n.lg.Warn("shard rebuild source unusable", zap.Uint64("extent", want.ExtentID), zap.Int("shard", want.Index),
					zap.Int("source-shard", h.Index), zap.String("source", src.GetAddr()), zap.Error(err))
				return
			}
			shards[h.Index] = shard // each goroutine its own index
		})
	}
	wg.Wait()
	good := 0
	for _, s := range shards {
		if s != nil {
			good++
		}
	}
	return shards, good
}

func (n *Node) openRemoteShard(ctx context.Context, addr string, want erasure.ShardHeader, opts RemoteShardOptions) (*erasure.Shard, error) {
	cc, err := n.pool.Get(ctx, addr)
	if err != nil {
		return nil, err
	}
	shard, _, err := OpenRemoteShard(ctx, clogspb.NewExtentServiceClient(cc), addr, want, opts)
	return shard, err
}

// throttledWriter pays for every write at a throttle after making it, so
// that the bytes at hand are not held back and the next write waits.
type throttledWriter struct {
	ctx context.Context
	t   *throttle
	w   io.Writer
	err error // the throttle's failure: the context ended
}

func (tw *throttledWriter) Write(p []byte) (int, error) {
	n, err := tw.w.Write(p)
	if err != nil {
		return n, err
	}
	if tw.err = tw.t.wait(tw.ctx, uint64(n)); tw.err != nil {
		return n, tw.err
	}
	return n, nil
}
