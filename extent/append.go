package extent

import (
	"fmt"
	"time"

	"go.uber.org/zap"
)

// appendRequest is one caller's batch of blocks waiting in the group-commit
// queue.
type appendRequest struct {
	blocks      []Block
	headers     [][]byte
	size        uint64
	expected    uint64 // when hasExpected, the offset the first block must land at
	hasExpected bool

	offsets []uint64
	err     error
	// wake receives true when the request is done, or false when its
	// goroutine must lead the next batch.
	wake chan bool
}

// Append writes blocks at the end of the extent, back to back, and returns
// each block's offset after all of them are durable. Concurrent appends are
// grouped into one vectored write and one fdatasync; a call's blocks stay
// contiguous and in order. The caller must not modify the blocks until
// Append returns. Either all of a call's blocks are appended or none.
func (e *Extent) Append(blocks ...Block) ([]uint64, error) {
	return e.append(blocks, 0, false)
}

// AppendAt is Append with a condition: the first block must land at
// expectedOffset, the extent's current end. Otherwise nothing is written
// and the error is an *OffsetMismatchError carrying the end. Secondaries
// use it to stay byte-identical to the primary; single writers use it for
// exactly-once appends.
func (e *Extent) AppendAt(expectedOffset uint64, blocks ...Block) ([]uint64, error) {
	return e.append(blocks, expectedOffset, true)
}

func (e *Extent) append(blocks []Block, expected uint64, hasExpected bool) ([]uint64, error) {
	return e.submit(blocks, expected, hasExpected).Wait()
}

// PendingAppend is an append queued by SubmitAt. Wait returns its result.
type PendingAppend struct {
	e    *Extent
	req  *appendRequest
	lead bool  // this append found no leader: its Wait leads the next batch
	err  error // refused before it was queued
}

// SubmitAt queues an AppendAt and returns without waiting for it, so that a
// caller can keep several appends in flight: appends submitted one after
// another by one goroutine are queued, and land, in that order. The caller
// must call Wait, from any goroutine, without delay: the queue may wait
// for it.
func (e *Extent) SubmitAt(expectedOffset uint64, blocks ...Block) *PendingAppend {
	return e.submit(blocks, expectedOffset, true)
}

func (e *Extent) submit(blocks []Block, expected uint64, hasExpected bool) *PendingAppend {
	req, err := newAppendRequest(blocks, expected, hasExpected)
	if err != nil {
		return &PendingAppend{err: fmt.Errorf("append to extent %d: %w", e.ID(), err)}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.appendableLocked(); err != nil {
		return &PendingAppend{err: err}
	}
	e.pending = append(e.pending, req)
	p := &PendingAppend{e: e, req: req, lead: !e.writing}
	e.writing = true
	return p
}

// Wait returns the offsets of the append's blocks once they are durable,
// or why they were not written.
func (p *PendingAppend) Wait() ([]uint64, error) {
	if p.err != nil {
		return nil, p.err
	}
	if !p.lead {
		if done := <-p.req.wake; done {
			return p.req.offsets, p.req.err
		}
		// promoted: lead the next batch, which holds req
	}
	p.e.mu.Lock()
	p.e.leadBatch()
	p.e.mu.Unlock()
	return p.req.offsets, p.req.err
}

// newAppendRequest validates blocks and encodes their headers (checksums
// included) in the caller's goroutine, outside any lock.
func newAppendRequest(blocks []Block, expected uint64, hasExpected bool) (*appendRequest, error) {
	if len(blocks) == 0 {
		return nil, fmt.Errorf("%w: no blocks", ErrBlockSize)
	}
	req := &appendRequest{
		blocks: blocks, expected: expected, hasExpected: hasExpected,
		headers: make([][]byte, len(blocks)), wake: make(chan bool, 1),
	}
	for i, b := range blocks {
		if err := b.validate(); err != nil {
			return nil, fmt.Errorf("block %d: %w", i, err)
		}
		req.headers[i] = encodeBlockHeader(b)
		req.size += BlockSize(len(b.Payload))
	}
	return req, nil
}

// appendableLocked says why the extent takes no appends, if it does not.
func (e *Extent) appendableLocked() error {
	switch {
	case e.closed.Load():
		return ErrClosed
	case e.sealed || e.sealing:
		return fmt.Errorf("append to extent %d: %w", e.ID(), ErrSealed)
	case e.failErr != nil:
		return fmt.Errorf("append to extent %d: %w: %w", e.ID(), ErrFailed, e.failErr)
	}
	return nil
}

// leadBatch takes every pending request, writes and syncs the accepted
// ones in one go, completes them all, and hands leadership to the next
// waiter, if any. Called with mu held and writing set; mu is released
// during the I/O.
func (e *Extent) leadBatch() {
	batch := e.pending
	e.pending = nil
	start := e.durableEnd.Load()
	end, iov, accepted := e.assignOffsetsLocked(batch, start)
	if len(accepted) > 0 {
		e.mu.Unlock()
		err := e.writeAndSync(iov, start, end)
		e.mu.Lock()
		e.finishWriteLocked(accepted, start, end, err)
		e.lastBatchBytes = end - start
	}
	for _, req := range batch {
		req.wake <- true
	}
	if len(e.pending) == 0 && e.zeroFillDueLocked() {
		go e.zeroFill() // keeps the writer role
		return
	}
	e.handOffLocked()
}

// handOffLocked ends a writer's turn: the first pending append leads the
// next batch, or the extent goes idle.
func (e *Extent) handOffLocked() {
	if len(e.pending) > 0 {
		e.pending[0].wake <- false
		return
	}
	e.writing = false
	e.idle.Broadcast()
}

// assignOffsetsLocked gives each request of the batch its offsets from
// start on, refusing those whose expected offset or size does not fit.
func (e *Extent) assignOffsetsLocked(batch []*appendRequest, start uint64) (uint64, [][]byte, []*appendRequest) {
	end := start
	var iov [][]byte
	var accepted []*appendRequest
	for _, req := range batch {
		if e.failErr != nil { // queued before an earlier batch failed
			req.err = fmt.Errorf("append to extent %d: %w: %w", e.ID(), ErrFailed, e.failErr)
			continue
		}
		if req.hasExpected && req.expected != end {
			req.err = &OffsetMismatchError{ExtentID: e.ID(), Expected: req.expected, End: end}
			continue
		}
		if end+req.size > e.cfg.MaxSize {
			req.err = fmt.Errorf("append to extent %d: %w: %d + %d bytes passes the maximum %d", e.ID(), ErrFull, end, req.size, e.cfg.MaxSize)
			continue
		}
		req.offsets = make([]uint64, len(req.blocks))
		for i, b := range req.blocks {
			req.offsets[i] = end
			iov = appendBlockIovecs(iov, req.headers[i], b)
			end += BlockSize(len(b.Payload))
		}
		accepted = append(accepted, req)
	}
	return end, iov, accepted
}

// writeAndSync writes one batch at start and makes it durable.
func (e *Extent) writeAndSync(iov [][]byte, start, end uint64) error {
	if err := e.preallocate(end); err != nil {
		return err
	}
	if err := e.f.WritevAt(iov, int64(start)); err != nil {
		return err
	}
	if e.cfg.UnsafeNoSyncForBenchmarks {
		return nil
	}
	began := time.Now()
	err := e.f.Datasync()
	took := time.Since(began)
	if e.cfg.SyncObserver != nil {
		e.cfg.SyncObserver(took)
	}
	if e.cfg.SlowSync > 0 && took > e.cfg.SlowSync {
		e.lg.Warn("slow fdatasync", zap.Uint64("extent", e.ID()), zap.Duration("took", took))
	}
	return err
}

// preallocate reserves space in PreallocateStep steps ahead of end.
// allocEnd is only touched by the batch leader.
func (e *Extent) preallocate(end uint64) error {
	step := e.cfg.PreallocateStep
	if step == 0 || end <= e.allocEnd {
		return nil
	}
	next := min(alignUp(end, step)+step, e.cfg.MaxSize)
	if err := e.f.Allocate(int64(e.allocEnd), int64(next-e.allocEnd)); err != nil {
		return err
	}
	e.allocEnd = next
	return nil
}

// finishWriteLocked publishes a successful batch, or fails the extent.
func (e *Extent) finishWriteLocked(accepted []*appendRequest, start, end uint64, err error) {
	if err == nil {
		for _, req := range accepted {
			for _, off := range req.offsets {
				e.boundaries.note(off)
			}
		}
		e.durableEnd.Store(end)
		return
	}
	e.failErr = err
	e.lg.Error("extent write failed; no more appends", zap.Uint64("extent", e.ID()), zap.Error(err))
	e.discardFailedBatch(start)
	e.zeroedEnd = 0
	for _, req := range accepted {
		req.offsets = nil
		req.err = fmt.Errorf("append to extent %d: %w: %w", e.ID(), ErrFailed, err)
	}
}

// discardFailedBatch cuts what a failed batch may have left behind, best
// effort, so a reopen does not find half of it. Reads never see it anyway.
func (e *Extent) discardFailedBatch(start uint64) {
	if err := e.f.Truncate(int64(start)); err != nil {
		e.lg.Warn("cannot cut failed batch", zap.Uint64("extent", e.ID()), zap.Error(err))
		return
	}
	if err := e.f.Datasync(); err != nil {
		e.lg.Warn("cannot sync after cutting failed batch", zap.Uint64("extent", e.ID()), zap.Error(err))
	}
}
