package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc/codes"

	"github.com/clogs-io/clogs/conn"
	"github.com/clogs-io/clogs/extent"
	clogspb "github.com/clogs-io/clogs/proto"
)

// RepairExtent, on this node's side. The stream manager asks a node to make
// its replica of a sealed extent whole: the node copies the blocks it lacks
// from a healthy replica, each at the offset it has there, checks them,
// makes them durable, and seals at the sealed length. It answers only
// after the seal is durable, so a repair that did not answer did not
// count. What it does depends on the local replica:
//
//   - sealed at the sealed length, not known damaged: nothing (whole);
//     with replace set, the replica is verified first and replaced only if
//     a block fails its checksum (the answer to an earlier repair may have
//     been lost, and copying a good replica again helps no one);
//   - missing, damaged (a bad checksum, a file that failed to open), on a
//     failed disk, failed by an earlier write, unsealed with replace set,
//     or sealed at another length with replace set: dropped, and created
//     again empty, then copied whole;
//   - unsealed: fenced (no more appends), then copied from its commit
//     length on, or, when it is already as long or longer, sealed (a
//     longer one is cut, as any seal cuts);
//   - sealed at another length without replace: refused (seal-conflict).
//
// A repair interrupted by a crash leaves an unsealed replica holding a
// durable prefix; it comes back recovering (no appends, no reads) and the
// next RepairExtent continues from its commit length.

// Outcomes of RepairExtent, the label of clogs_node_repairs_total.
const (
	repairRepaired = "repaired"
	repairWhole    = "whole"
	repairFailed   = "failed"
)

// errSourceIdle ends a copy from a source that sent nothing for the
// replica timeout.
var errSourceIdle = errors.New("node: the repair source sent nothing within the replica timeout")

// sourceError is a repair source's failure, as opposed to a local one: the
// repair tries the next source.
type sourceError struct {
	addr string
	err  error
}

func (e *sourceError) Error() string { return fmt.Sprintf("source %s: %v", e.addr, e.err) }
func (e *sourceError) Unwrap() error { return e.err }

// validateRepair checks a RepairExtent request.
func (n *Node) validateRepair(req *clogspb.RepairExtentRequest) error {
	if err := validateExtentID(req.GetExtentId()); err != nil {
		return err
	}
	length := req.GetSealedLength()
	if length < extent.ExtentHeaderSize || length%extent.BlockHeaderSize != 0 || length > n.cfg.Extent.MaxSize {
		return fmt.Errorf("%w: sealed length %d is not a block boundary between %d and %d", ErrBadRequest, length, extent.ExtentHeaderSize, n.cfg.Extent.MaxSize)
	}
	if err := validateReplicaSet(req.GetReplicas(), req.GetSelfIndex()); err != nil {
		return err
	}
	for i, src := range req.GetSources() {
		if !isHostPort(src.GetAddr()) {
			return fmt.Errorf("%w: source %d address %q is not host:port", ErrBadRequest, i, src.GetAddr())
		}
	}
	return nil
}

// repair carries out a validated RepairExtent and returns the bytes it
// copied.
func (n *Node) repair(ctx context.Context, req *clogspb.RepairExtentRequest) (copied uint64, err error) {
	id, length := req.GetExtentId(), req.GetSealedLength()
	began := time.Now()
	outcome := repairFailed
	defer func() {
		n.metrics.repairs.WithLabelValues(outcome).Inc()
		if err != nil {
			n.lg.Warn("repair failed", zap.Uint64("extent", id), zap.Uint64("sealed-length", length), zap.Uint64("copied", copied), zap.Error(err))
		}
	}()
	release, err := n.lockRepair(ctx, id)
	if err != nil {
		return 0, fmt.Errorf("extent %d: waiting for another repair: %w", id, err)
	}
	defer release()
	r, whole, err := n.repairTarget(ctx, req)
	if err != nil {
		return 0, err
	}
	if whole {
		outcome = repairWhole
		return 0, nil
	}
	copied, err = n.copyMissing(ctx, r, req)
	if err != nil {
		return copied, err
	}
	if err := r.seal(length); err != nil {
		return copied, err
	}
	r.adopt(req.GetReplicas(), int(req.GetSelfIndex()))
	outcome = repairRepaired
	n.lg.Info("repaired replica", zap.Uint64("extent", id), zap.Uint64("sealed-length", length), zap.Uint64("copied", copied),
		zap.String("disk", r.disk.path), zap.Duration("took", time.Since(began)))
	return copied, nil
}

// lockRepair waits until no other repair of extent id runs, and returns
// the function that ends this one.
func (n *Node) lockRepair(ctx context.Context, id uint64) (release func(), err error) {
	for {
		n.repairMu.Lock()
		running, busy := n.repairs[id]
		if !busy {
			done := make(chan struct{})
			n.repairs[id] = done
			n.repairMu.Unlock()
			return func() {
				n.repairMu.Lock()
				delete(n.repairs, id)
				n.repairMu.Unlock()
				close(done)
			}, nil
		}
		n.repairMu.Unlock()
		select {
		case <-running:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// repairing says whether a repair of extent id runs.
func (n *Node) repairing(id uint64) bool {
	n.repairMu.Lock()
	defer n.repairMu.Unlock()
	_, busy := n.repairs[id]
	return busy
}

// repairTarget returns the replica to copy into: the local one, fenced,
// or a new empty one. whole is true when the local replica needs nothing.
func (n *Node) repairTarget(ctx context.Context, req *clogspb.RepairExtentRequest) (r *replica, whole bool, err error) {
	id := req.GetExtentId()
	n.mu.RLock()
	r, ok := n.replicas[id]
	_, unopened := n.damaged[id]
	n.mu.RUnlock()
	switch {
	case unopened:
		return n.recreate(id, req, "the extent file failed to open", false)
	case !ok:
		r, err := n.createForRepair(id, req)
		return r, false, err
	}
	drop, why, err := n.mustReplace(ctx, r, req)
	switch {
	case err != nil:
		return nil, false, err
	case drop:
		return n.recreate(id, req, why, r.disk.failed() != nil)
	}
	if _, sealed := r.ext.Sealed(); sealed {
		return nil, true, nil
	}
	r.fence()
	return r, false, nil
}

// mustReplace decides whether the local replica r is dropped and copied
// again whole, and why; see the comment at the top of the file. A replica
// it keeps is either whole (sealed at the length) or unsealed and sound.
func (n *Node) mustReplace(ctx context.Context, r *replica, req *clogspb.RepairExtentRequest) (bool, string, error) {
	length, sealed := r.ext.Sealed()
	want := req.GetSealedLength()
	switch {
	case r.damaged() != nil:
		return true, "it failed a checksum", nil
	case r.disk.failed() != nil:
		return true, "its disk failed", nil
	case sealed && length != want && !req.GetReplace():
		return false, "", fmt.Errorf("extent %d: %w: the replica is sealed at %d, the repair asks for %d", r.id, extent.ErrSealConflict, length, want)
	case sealed && length != want:
		return true, fmt.Sprintf("sealed at %d, not %d", length, want), nil
	case sealed && req.GetReplace():
		return n.verifyBeforeReplacing(ctx, r)
	case sealed:
		return false, "", nil
	case req.GetReplace():
		return true, "the stream manager asked to replace it", nil
	case r.ext.Failed() != nil:
		return true, "an earlier write failed", nil
	}
	return false, "", nil
}

// verifyBeforeReplacing checks every block of a sealed replica the
// manager asked to replace, and keeps it if all pass.
func (n *Node) verifyBeforeReplacing(ctx context.Context, r *replica) (bool, string, error) {
	_, err := n.verifyReplica(ctx, r, n.repairThrottle)
	var corrupt *extent.CorruptionError
	switch {
	case errors.As(err, &corrupt):
		n.markDamaged(r, corrupt)
		return true, "it failed a checksum", nil
	case err != nil:
		return false, "", fmt.Errorf("extent %d: verify the replica to replace: %w", r.id, err)
	}
	n.lg.Info("asked to replace a replica that verifies whole; keeping it", zap.Uint64("extent", r.id))
	return false, "", nil
}

// recreate drops the local replica of extent id and creates it again,
// empty. A replica on a failed disk is forgotten even if its file cannot
// be removed.
func (n *Node) recreate(id uint64, req *clogspb.RepairExtentRequest, why string, diskFailed bool) (*replica, bool, error) {
	n.lg.Warn("dropping a replica to copy it again whole", zap.Uint64("extent", id), zap.String("why", why))
	if err := n.remove(id); err != nil && !errors.Is(err, ErrNotFound) {
		if !diskFailed {
			return nil, false, fmt.Errorf("extent %d: drop the replica to repair: %w", id, err)
		}
		n.lg.Warn("cannot remove a replica on a failed disk; leaving its file", zap.Uint64("extent", id), zap.Error(err))
	}
	r, err := n.createForRepair(id, req)
	return r, false, err
}

// createForRepair creates an empty replica of extent id to copy into. It
// is recovering: it takes no appends and serves no reads until the
// repair seals it.
func (n *Node) createForRepair(id uint64, req *clogspb.RepairExtentRequest) (*replica, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.replicas[id]; ok {
		return nil, fmt.Errorf("extent %d: %w: created while the repair ran", id, ErrExists)
	}
	r, err := n.createLocked(id, req.GetReplicas(), int(req.GetSelfIndex()))
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.recovering = true
	r.mu.Unlock()
	return r, nil
}

// adopt records the replica set a repaired replica belongs to.
func (r *replica) adopt(set []*clogspb.Replica, self int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.set, r.selfIndex = set, self
}

// copyMissing copies the blocks between r's commit length and the sealed
// length from the first source that serves them; a source that fails
// part way leaves what it sent, and the next one continues from there.
func (n *Node) copyMissing(ctx context.Context, r *replica, req *clogspb.RepairExtentRequest) (uint64, error) {
	length := req.GetSealedLength()
	if r.ext.CommitLength() >= length {
		return 0, nil
	}
	var copied uint64
	var failures []error
	for _, src := range req.GetSources() {
		if src.GetAddr() == n.Addr() {
			continue
		}
		got, err := n.copyFrom(ctx, r, src.GetAddr(), length)
		copied += got
		var srcErr *sourceError
		switch {
		case err == nil:
			return copied, nil
		case ctx.Err() != nil:
			return copied, fmt.Errorf("extent %d: repair stopped at %d: %w", r.id, r.ext.CommitLength(), ctx.Err())
		case !errors.As(err, &srcErr):
			return copied, err
		}
		n.lg.Info("repair source failed; trying the next", zap.Uint64("extent", r.id), zap.Error(err))
		failures = append(failures, err)
	}
	if len(failures) == 0 {
		return copied, fmt.Errorf("%w: extent %d: no source other than this node to copy from", ErrBadRequest, r.id)
	}
	return copied, fmt.Errorf("extent %d: %w (have %d of %d bytes): %w", r.id, sourcesFailed(failures), r.ext.CommitLength(), length, errors.Join(failures...))
}

// sourcesFailed says which way every source failed: unreachable, all of
// them; corrupt, if one served a bad block; otherwise not holding the
// extent sealed at the length.
func sourcesFailed(failures []error) error {
	unreachable := true
	for _, err := range failures {
		if errors.Is(err, extent.ErrCorrupt) {
			return ErrSourceCorrupt
		}
		unreachable = unreachable && sourceUnreachable(err)
	}
	if unreachable {
		return ErrSourceUnreachable
	}
	return ErrSourceMismatch
}

// sourceUnreachable says whether a source failed by not answering.
func sourceUnreachable(err error) bool {
	if errors.Is(err, conn.ErrNotReady) || errors.Is(err, errSourceIdle) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var remote *RemoteError
	if !errors.As(err, &remote) {
		return false
	}
	switch remote.Code {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled:
		return true
	}
	return false
}

// repairRequestBytes is how much a repair asks its source for at a time.
// The source reads only what is asked for, so asking for a little at a
// time, after the previous part is written and paid for, paces the
// source's disk reads by the target's --repair-rate too. One long stream
// let the source read as far ahead as the connection's flow-control
// window (16 MiB), in bursts that foreground appends waited behind (make
// bench-repair: p99 2.5x instead of at most 2x).
const repairRequestBytes = 1 << 20

// copyFrom copies the blocks from r's commit length to length from the
// source at addr, a part at a time, and writes each at the offset it has
// there. It returns the bytes it copied; source failures are
// *sourceError.
func (n *Node) copyFrom(ctx context.Context, r *replica, addr string, length uint64) (uint64, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	idle := time.AfterFunc(n.cfg.ReplicaTimeout, func() { cancel(errSourceIdle) })
	defer idle.Stop()
	sourceErr := func(err error) error {
		if errors.Is(context.Cause(ctx), errSourceIdle) {
			err = errSourceIdle
		}
		return &sourceError{addr: addr, err: FromStatus(err)}
	}
	cc, err := n.pool.Get(ctx, addr)
	if err != nil {
		return 0, sourceErr(err)
	}
	client := clogspb.NewExtentServiceClient(cc)
	offset := r.ext.CommitLength()
	var copied uint64
	for offset < length {
		stream, err := client.ReadBlocks(ctx, &clogspb.ReadBlocksRequest{ExtentId: r.id, Offset: offset, MaxBytes: min(repairRequestBytes, length-offset)})
		if err != nil {
			return copied, sourceErr(err)
		}
		partStart := offset
		for {
			msg, err := stream.Recv()
			if err == io.EOF && offset > partStart {
				break // this part is done; ask for the next
			}
			if err == io.EOF {
				err = fmt.Errorf("%w: the source's blocks end at %d, before the sealed length %d", ErrSourceMismatch, offset, length)
			}
			if err != nil {
				return copied, sourceErr(err)
			}
			if !idle.Stop() { // the time spent throttled and writing is not the source's
				return copied, sourceErr(errSourceIdle)
			}
			blocks, size, err := checkSourceBlocks(msg, offset, length)
			if err != nil {
				return copied, &sourceError{addr: addr, err: err}
			}
			if err := n.writeRepaired(r, offset, blocks); err != nil {
				return copied, err
			}
			offset += size
			copied += size
			n.metrics.repairBytes.Add(float64(size))
			// Pay for the bytes after writing them: what was received
			// is not held back, and the next message waits.
			if err := n.repairThrottle.wait(ctx, size); err != nil {
				return copied, err
			}
			idle.Reset(n.cfg.ReplicaTimeout)
		}
	}
	return copied, nil
}

// checkSourceBlocks checks one message from a repair source: the source
// holds the extent sealed at length, and its blocks follow on from offset,
// within the format's limits and the sealed length.
func checkSourceBlocks(msg *clogspb.ReadBlocksResponse, offset, length uint64) ([]extent.Block, uint64, error) {
	if !msg.GetSealed() || msg.GetEnd() != length {
		return nil, 0, fmt.Errorf("%w: the source's end is %d (sealed: %v), the sealed length %d", ErrSourceMismatch, msg.GetEnd(), msg.GetSealed(), length)
	}
	if len(msg.GetBlocks()) == 0 {
		return nil, 0, fmt.Errorf("%w: the source sent no blocks at %d, before the sealed length %d", ErrSourceMismatch, offset, length)
	}
	blocks := make([]extent.Block, len(msg.GetBlocks()))
	pos := offset
	for i, b := range msg.GetBlocks() {
		payload, userData := b.GetPayload(), b.GetUserData()
		if b.GetOffset() != pos {
			return nil, 0, fmt.Errorf("%w: block at %d, expected one at %d", ErrSourceMismatch, b.GetOffset(), pos)
		}
		if len(payload) == 0 || len(payload) > extent.MaxPayload || len(userData) > extent.MaxUserData {
			return nil, 0, fmt.Errorf("%w: block at %d has %d payload and %d user-data bytes", ErrSourceMismatch, pos, len(payload), len(userData))
		}
		if size := extent.BlockSize(len(payload)); size > length-pos {
			return nil, 0, fmt.Errorf("%w: block at %d of %d bytes runs past the sealed length %d", ErrSourceMismatch, pos, size, length)
		}
		blocks[i] = extent.Block{Payload: payload, UserData: userData}
		pos += extent.BlockSize(len(payload))
	}
	return blocks, pos - offset, nil
}

// writeRepaired appends blocks to r at offset, durably, and reads them
// back through the engine, which checks their checksums. A block that
// does not read back as written marks the replica damaged.
func (n *Node) writeRepaired(r *replica, offset uint64, blocks []extent.Block) error {
	if _, err := r.ext.AppendAt(offset, blocks...); err != nil {
		r.disk.noteError(err)
		return fmt.Errorf("extent %d: write repaired blocks at %d: %w", r.id, offset, err)
	}
	err := readBack(r.ext, offset, blocks)
	var corrupt *extent.CorruptionError
	if errors.As(err, &corrupt) {
		n.markDamaged(r, corrupt)
	}
	if err != nil {
		return fmt.Errorf("extent %d: read back repaired blocks: %w", r.id, err)
	}
	return nil
}

// readBack reads the blocks just written at offset and compares them
// with what was written.
func readBack(ext *extent.Extent, offset uint64, blocks []extent.Block) error {
	end := offset + blocksSize(blocks)
	buf := make([]byte, end-offset)
	pos := offset
	for i := 0; i < len(blocks); {
		got, next, err := ext.ReadBefore(pos, end, buf)
		if err != nil {
			return err
		}
		if len(got) == 0 {
			return fmt.Errorf("no block at %d, %d blocks short", pos, len(blocks)-i)
		}
		for _, b := range got {
			want := blocks[i]
			if !bytes.Equal(b.Payload, want.Payload) || !bytes.Equal(b.UserData, want.UserData) {
				return &extent.CorruptionError{ExtentID: ext.ID(), Offset: b.Offset, Err: errors.New("the block reads back different from what was written")}
			}
			i++
		}
		pos = next
	}
	return nil
}
