package node

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/clogs-io/clogs/extent"
)

// A replica is damaged when one of its blocks failed its checksum, found
// by a read or by the scrubber. From then on:
//
//   - reads at or past the first bad block fail with that *CorruptionError,
//     so a reader tries another replica (blocks before it are still
//     served);
//   - full reports to the stream manager say damaged=true, so that the
//     manager replaces the replica with RepairExtent from a good one;
//   - the scrubber skips it.
//
// The damage is kept in a marker file next to the extent file
// (disk.markerPath), written durably, so a restarted node still knows.
// The marker goes with the replica: deleting or replacing the replica
// removes it, and a marker left without its extent file (a crash between
// the two removals) is removed at the next start.

// damaged returns the first bad block found in the replica, or nil.
func (r *replica) damaged() *extent.CorruptionError {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.damage
}

// markDamaged records that r failed a checksum at cause.Offset, in memory
// and in its marker file. Only the first damage found is kept.
func (n *Node) markDamaged(r *replica, cause *extent.CorruptionError) {
	r.mu.Lock()
	first := r.damage == nil
	if first {
		r.damage = cause
	}
	r.mu.Unlock()
	if !first {
		return
	}
	n.metrics.damagedFound.Inc()
	n.lg.Error("replica failed a checksum; marked damaged", zap.Uint64("extent", r.id), zap.Uint64("offset", cause.Offset),
		zap.String("disk", r.disk.path), zap.Error(cause))
	// Under n.mu, so that the marker is not written for a replica that a
	// delete or a repair has just taken out of the map: it would then
	// name the new replica.
	n.mu.RLock()
	defer n.mu.RUnlock()
	if n.replicas[r.id] != r {
		return
	}
	body := fmt.Sprintf("%d\n%s\n", cause.Offset, strings.ReplaceAll(cause.Error(), "\n", " "))
	if err := writeFileDurably(r.disk.markerPath(r.id), []byte(body)); err != nil {
		r.disk.noteError(err)
		n.lg.Warn("cannot write the damage marker; the damage is known until a restart only", zap.Uint64("extent", r.id), zap.Error(err))
	}
}

// loadMarker applies the damage marker of extent id found on d at start:
// it marks the replica it belongs to, or is removed when that replica is
// gone.
func (n *Node) loadMarker(d *disk, id uint64) {
	if _, unopened := n.damaged[id]; unopened {
		return // the file failed to open: damaged anyway
	}
	r, ok := n.replicas[id]
	if !ok || r.disk != d {
		if err := removeMarker(d, id); err != nil {
			n.lg.Warn("cannot remove a damage marker without its extent", zap.Uint64("extent", id), zap.String("disk", d.path), zap.Error(err))
		}
		return
	}
	raw, err := os.ReadFile(d.markerPath(id))
	if err != nil {
		d.noteError(err)
	}
	r.damage = parseMarker(id, raw, err)
	n.lg.Warn("replica was marked damaged before the restart", zap.Uint64("extent", id), zap.Uint64("offset", r.damage.Offset), zap.String("disk", d.path))
}

// parseMarker decodes a damage marker. A marker that cannot be read or
// parsed marks the whole replica damaged.
func parseMarker(id uint64, raw []byte, readErr error) *extent.CorruptionError {
	first, rest, _ := strings.Cut(string(raw), "\n")
	offset, err := strconv.ParseUint(first, 10, 64)
	if readErr != nil || err != nil || offset < extent.ExtentHeaderSize {
		return &extent.CorruptionError{ExtentID: id, Offset: extent.ExtentHeaderSize,
			Err: fmt.Errorf("marked damaged before a restart (unreadable marker: %v)", errors.Join(readErr, err))}
	}
	return &extent.CorruptionError{ExtentID: id, Offset: offset,
		Err: fmt.Errorf("marked damaged before a restart: %s", strings.TrimSpace(rest))}
}

// removeMarker deletes extent id's damage marker on d, if there is one.
func removeMarker(d *disk, id uint64) error {
	err := os.Remove(d.markerPath(id))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		d.noteError(err)
		return fmt.Errorf("remove damage marker of extent %d: %w", id, err)
	}
	return syncDir(d.path)
}
