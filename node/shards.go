package node

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"go.uber.org/zap"

	"github.com/clogs-io/clogs/erasure"
	"github.com/clogs-io/clogs/extent/vfs"
	clogspb "github.com/clogs-io/clogs/proto"
)

// Shards of erasure-coded extents (issue 9). A node keeps shard files next
// to its extents, one file per shard, named shardFileName: the extent ID in
// 16 lower-case hex digits, ".shard" and the shard index in decimal, for
// example 000000000000002a.shard3. The file format is the erasure
// package's. A shard arrives whole through PutShard (shardput.go), is
// served chunk by chunk through ReadShard, and leaves through DeleteShard.
// The node does not decide anything about shards: the stream manager
// places them, rebuilds them and deletes them.
//
// A shard being written lives under its name plus partialSuffix until it
// is durable and verified, then is renamed into place, so a crash leaves
// either the old state or the whole new shard; partial files left by a
// crash are removed at start.
//
// A shard whose file fails to open, or one of whose chunks fails its
// checksum on a read, is damaged: it is reported so in full reports (the
// manager rebuilds it elsewhere and deletes it) and serves no more reads.
// Unlike a replica's, the damage of a shard is not kept across a restart:
// the next read that meets it finds it again.

// partialSuffix names a shard file still being written.
const partialSuffix = ".partial"

// shardFileName is the name of shard index of extent id on a disk.
func shardFileName(id uint64, index int) string { return fmt.Sprintf("%016x.shard%d", id, index) }

// parseShardFileName returns the extent ID and index of a shardFileName.
func parseShardFileName(name string) (id uint64, index int, ok bool) {
	const infix = ".shard"
	if len(name) <= 16+len(infix) || name[16:16+len(infix)] != infix {
		return 0, 0, false
	}
	id, err := strconv.ParseUint(name[:16], 16, 64)
	if err != nil {
		return 0, 0, false
	}
	digits := name[16+len(infix):]
	index, err = strconv.Atoi(digits)
	if err != nil || index < 0 || index >= erasure.MaxShards || strconv.Itoa(index) != digits {
		return 0, 0, false
	}
	return id, index, true
}

// shardKey names one shard.
type shardKey struct {
	id    uint64
	index int
}

// shardFile is a shard the node holds.
type shardFile struct {
	key    shardKey
	disk   *disk
	path   string
	header erasure.ShardHeader // zero when the file failed to open

	mu     sync.Mutex
	damage error // guarded by mu; why the shard is unusable, or nil
}

func (s *shardFile) damaged() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.damage
}

// shardPath is where shard index of extent id lives on this disk.
func (d *disk) shardPath(id uint64, index int) string {
	return filepath.Join(d.path, shardFileName(id, index))
}

// fsys is the filesystem extent and shard files go through.
func (n *Node) fsys() vfs.FS {
	if n.cfg.Extent.FS == nil {
		return vfs.Default
	}
	return n.cfg.Extent.FS
}

// loadShardFile registers the shard file name found on d at start, or
// removes it if it is the partial file of a write a crash interrupted.
func (n *Node) loadShardFile(d *disk, name string) bool {
	if base, partial := strings.CutSuffix(name, partialSuffix); partial {
		if _, _, ok := parseShardFileName(base); !ok {
			return false
		}
		path := filepath.Join(d.path, name)
		if err := os.Remove(path); err != nil {
			n.lg.Warn("cannot remove a partial shard file", zap.String("path", path), zap.Error(err))
		}
		return true
	}
	id, index, ok := parseShardFileName(name)
	if !ok {
		return false
	}
	key := shardKey{id, index}
	if _, dup := n.shards[key]; dup {
		n.lg.Error("shard on two disks; keeping the first", zap.Uint64("extent", id), zap.Int("shard", index), zap.String("disk", d.path))
		return true
	}
	sf := &shardFile{key: key, disk: d, path: d.shardPath(id, index)}
	sf.header, sf.damage = n.checkShardFile(sf.path, key)
	if sf.damage != nil {
		d.noteError(sf.damage)
		n.lg.Error("cannot open shard; reporting it damaged", zap.Uint64("extent", id), zap.Int("shard", index), zap.String("disk", d.path), zap.Error(sf.damage))
	}
	n.shards[key] = sf
	return true
}

// checkShardFile opens the shard file at path and checks its header, its
// size, and that it names key. The chunks are checked when read.
func (n *Node) checkShardFile(path string, key shardKey) (erasure.ShardHeader, error) {
	s, err := erasure.OpenFile(n.fsys(), path)
	if err != nil {
		return erasure.ShardHeader{}, err
	}
	defer s.Close()
	return s.Header(), checkShardKey(s.Header(), key)
}

// checkShardKey checks that a shard file's header names key.
func checkShardKey(h erasure.ShardHeader, key shardKey) error {
	if h.ExtentID != key.id || h.Index != key.index {
		return &erasure.HeaderError{Err: erasure.ErrHeaderField,
			Detail: fmt.Sprintf("file of extent %d shard %d holds shard %d of extent %d", key.id, key.index, h.Index, h.ExtentID)}
	}
	return nil
}

// shard returns the usable shard key.
func (n *Node) shard(key shardKey) (*shardFile, error) {
	if n.shuttingDown.Load() {
		return nil, ErrShuttingDown
	}
	n.shardMu.RLock()
	sf, ok := n.shards[key]
	n.shardMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("extent %d shard %d: %w", key.id, key.index, ErrNoShard)
	}
	if err := sf.damaged(); err != nil {
		return nil, fmt.Errorf("extent %d shard %d is damaged: %w", key.id, key.index, err)
	}
	if err := sf.disk.failed(); err != nil {
		return nil, fmt.Errorf("extent %d shard %d: its disk failed: %w", key.id, key.index, err)
	}
	return sf, nil
}

// markShardDamaged records that sf failed a check.
func (n *Node) markShardDamaged(sf *shardFile, cause error) {
	sf.mu.Lock()
	first := sf.damage == nil
	if first {
		sf.damage = cause
	}
	sf.mu.Unlock()
	if first {
		n.metrics.damagedFound.Inc()
		n.lg.Error("shard failed a checksum; marked damaged", zap.Uint64("extent", sf.key.id), zap.Int("shard", sf.key.index),
			zap.String("disk", sf.disk.path), zap.Error(cause))
	}
}

// installShard puts the verified shard file at partial in place as key on
// d, replacing any shard of that name, and registers it.
func (n *Node) installShard(d *disk, key shardKey, partial string, h erasure.ShardHeader) error {
	final := d.shardPath(key.id, key.index)
	if err := os.Rename(partial, final); err != nil {
		d.noteError(err)
		return fmt.Errorf("extent %d shard %d: put in place: %w", key.id, key.index, err)
	}
	if err := syncDir(d.path); err != nil {
		d.noteError(err)
		return fmt.Errorf("extent %d shard %d: put in place: %w", key.id, key.index, err)
	}
	n.shardMu.Lock()
	old := n.shards[key]
	n.shards[key] = &shardFile{key: key, disk: d, path: final, header: h}
	n.shardMu.Unlock()
	if old != nil && old.path != final {
		n.removeShardFile(old)
	}
	return nil
}

// removeShard deletes shard key from this node, damaged or not.
func (n *Node) removeShard(key shardKey) error {
	n.shardMu.Lock()
	sf, ok := n.shards[key]
	delete(n.shards, key)
	n.shardMu.Unlock()
	if !ok {
		return fmt.Errorf("extent %d shard %d: %w", key.id, key.index, ErrNoShard)
	}
	return n.removeShardFile(sf)
}

// removeShardFile deletes sf's file durably. A file on a failed disk that
// cannot be removed is forgotten all the same.
func (n *Node) removeShardFile(sf *shardFile) error {
	err := os.Remove(sf.path)
	if err == nil {
		err = syncDir(sf.disk.path)
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		sf.disk.noteError(err)
		if sf.disk.failed() == nil {
			return fmt.Errorf("extent %d shard %d: remove: %w", sf.key.id, sf.key.index, err)
		}
		n.lg.Warn("cannot remove a shard on a failed disk; leaving its file", zap.Uint64("extent", sf.key.id), zap.Int("shard", sf.key.index), zap.Error(err))
	}
	return nil
}

// shardReports lists the shards on disks in service for a full report.
// Shards on failed disks are left out, so that the manager sees them
// missing and rebuilds them elsewhere.
func (n *Node) shardReports() []*clogspb.ReplicaReport {
	n.shardMu.RLock()
	shards := make([]*shardFile, 0, len(n.shards))
	for _, sf := range n.shards {
		shards = append(shards, sf)
	}
	n.shardMu.RUnlock()
	slices.SortFunc(shards, func(a, b *shardFile) int {
		return cmp.Or(cmp.Compare(a.key.id, b.key.id), cmp.Compare(a.key.index, b.key.index))
	})
	var out []*clogspb.ReplicaReport
	for _, sf := range shards {
		if sf.disk.failed() != nil {
			continue
		}
		index := uint32(sf.key.index)
		out = append(out, &clogspb.ReplicaReport{ExtentId: sf.key.id, ShardIndex: &index,
			CommitLength: sf.header.SealedLength, Sealed: true, Damaged: sf.damaged() != nil})
	}
	return out
}
