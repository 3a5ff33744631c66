package extent

import (
	"go.uber.org/zap"
)

// Zero fill (Config.ZeroAhead).
//
// An append past the file's end makes fdatasync commit metadata too: the
// new size and the blocks allocated for the write, which on ext4 is a
// journal commit shared by every file on the file system. Measured on
// this machine's disk with three nodes flushing together: 0.42 ms per
// fdatasync of a 4 KiB append, against 0.17 ms when the same append
// overwrites zeros written earlier, where fdatasync only flushes the
// disk's cache. So while an extent has no append waiting, the writer
// writes zeros ahead of the end, without syncing them (the next append's
// fdatasync, or the file system's periodic commit, makes them durable).
//
// The fill runs in the writer role that batch leaders take (Extent.writing),
// so it never races an append, a seal or a close: an append that arrives
// meanwhile waits for the current chunk, then leads its batch. It only
// tops up after the space ahead has fallen below half of ZeroAhead, never
// while appends are queued, and only after a batch of at most a quarter of
// ZeroAhead: the saving is one metadata commit per fdatasync whatever the
// batch's size, while the zeros cost as much writing as the data, so large
// batches (64 KiB x 32 appends make ~1 MiB ones) append past the end as
// without zeros. Measured with them filled too: 10% less throughput there.
//
// The zeros are not data: a zero payload length marks unwritten space
// (doc.go), Open cuts a tail of zeros back off without reporting a torn
// tail, and Seal truncates to the sealed length.

// zeroChunk is the most one fill write covers; an append arriving during
// a fill waits for at most one of these.
const zeroChunk = 256 << 10

var zeros = make([]byte, zeroChunk)

// zeroFillDueLocked says whether the writer should top up the zeros
// ahead of the end now: they have fallen below half of ZeroAhead. Called
// with mu held by the writer.
func (e *Extent) zeroFillDueLocked() bool {
	if !e.zeroFillAllowedLocked() {
		return false
	}
	if e.lastBatchBytes > e.cfg.ZeroAhead/4 {
		return false
	}
	end := e.durableEnd.Load()
	return e.zeroTarget(end) >= max(e.zeroedEnd, end)+e.cfg.ZeroAhead/2
}

func (e *Extent) zeroFillAllowedLocked() bool {
	return e.cfg.ZeroAhead > 0 && !e.noZeroFill && !e.sealed && !e.sealing && e.failErr == nil && !e.closed.Load()
}

// zeroTarget is where the zeros ahead of end should reach.
func (e *Extent) zeroTarget(end uint64) uint64 {
	return min(alignUp(end, PayloadAlign)+e.cfg.ZeroAhead, e.cfg.MaxSize/PayloadAlign*PayloadAlign)
}

// zeroFill writes zeros ahead of the end, a chunk at a time, until the
// target is reached or an append is waiting; then it hands the writer role
// on. It runs in its own goroutine, holding the writer role.
func (e *Extent) zeroFill() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for len(e.pending) == 0 && e.zeroFillAllowedLocked() {
		end := e.durableEnd.Load()
		from := max(e.zeroedEnd, alignUp(end, PayloadAlign))
		target := e.zeroTarget(end)
		if from >= target {
			break
		}
		n := min(uint64(zeroChunk), target-from)
		e.mu.Unlock()
		err := e.f.WritevAt([][]byte{zeros[:n]}, int64(from))
		e.mu.Lock()
		if err != nil {
			// Not an append's failure: the next append meets the disk's
			// trouble itself. Stop filling this extent.
			e.noZeroFill = true
			e.lg.Warn("cannot write zeros ahead of the extent's end; no more", zap.Uint64("extent", e.ID()), zap.Uint64("offset", from), zap.Error(err))
			break
		}
		e.zeroedEnd = from + n
	}
	e.handOffLocked()
}
