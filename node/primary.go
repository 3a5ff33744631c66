package node

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/clogs-io/clogs/extent"
	clogspb "github.com/clogs-io/clogs/proto"
)

// clientAppend is one AppendBlocks call waiting on the primary.
type clientAppend struct {
	blocks   []extent.Block
	pbBlocks []*clogspb.Block
	size     uint64
	expected *uint64

	// Set before done is closed.
	offsets []uint64
	end     uint64
	err     error
	done    chan struct{}
}

func (c *clientAppend) finish(offsets []uint64, end uint64, err error) {
	c.offsets, c.end, c.err = offsets, end, err
	close(c.done)
}

// batch is a group of client appends written locally and replicated as one.
type batch struct {
	start, end uint64
	reqs       []*clientAppend
	offsets    [][]uint64 // per request
	local      *extent.PendingAppend
	err        error
	finished   bool
}

// pipeline is the primary's group commit: client appends queue up; while
// fewer than maxInflight batches are in flight, everything queued becomes
// one batch, submitted to the local engine and sent to both secondaries in
// parallel. Batches complete in order, so the acked end only moves forward
// over batches that are durable on every replica. It lives inside replica
// and is guarded by replica.mu.
//
// A pipelined single writer sends several appends with expected offsets at
// once; their RPCs may reach the primary in any order. An append whose
// expected offset lies ahead of the assigned end is held, sorted by that
// offset, until the appends before it arrive, its caller gives up, or the
// extent closes; held bytes are bounded by maxBatchBytes.
type pipeline struct {
	queue      []*clientAppend
	held       []*clientAppend // sorted by expected offset, all past the assigned end
	heldBytes  uint64
	inflight   []*batch
	headFailed bool // a batch failed in order: everything after it fails
}

// mayStartLocked says whether a new batch may start now. With nothing in
// flight, always. With batches in flight, only when at least
// pipelineBytes are queued: a small batch started early costs three
// fdatasyncs and two RPCs for little, while waiting lets the queue grow
// into one large batch (measured with make bench-node: one batch in flight
// beat four at 4 KiB and 64 KiB). A slow fsync still does not idle the
// network: once a batch's worth is waiting, it goes.
func (p *pipeline) mayStartLocked(deps *primaryDeps) bool {
	if len(p.inflight) == 0 {
		return true
	}
	if len(p.inflight) >= deps.maxInflight {
		return false
	}
	var queued uint64
	for _, c := range p.queue {
		queued += c.size
		if queued >= deps.pipelineBytes {
			return true
		}
	}
	return false
}

// failQueuedLocked fails every append not yet in a batch.
func (p *pipeline) failQueuedLocked(err error) {
	for _, c := range p.queue {
		c.finish(nil, 0, err)
	}
	for _, c := range p.held {
		c.finish(nil, 0, err)
	}
	p.queue, p.held, p.heldBytes = nil, nil, 0
}

// holdLocked keeps an append that arrived before the ones it follows. It
// reports false, holding nothing, when the bound is reached or another
// append already waits for the same offset.
func (p *pipeline) holdLocked(c *clientAppend, maxBytes uint64) bool {
	if p.heldBytes+c.size > maxBytes {
		return false
	}
	i, found := slices.BinarySearchFunc(p.held, *c.expected, func(h *clientAppend, at uint64) int {
		return cmp.Compare(*h.expected, at)
	})
	if found {
		return false
	}
	p.held = slices.Insert(p.held, i, c)
	p.heldBytes += c.size
	return true
}

// releaseLocked moves held appends that are due (expected offset at or
// before end) to the front of the queue, in offset order.
func (p *pipeline) releaseLocked(end uint64) {
	n := 0
	for n < len(p.held) && *p.held[n].expected <= end {
		p.heldBytes -= p.held[n].size
		n++
	}
	if n == 0 {
		return
	}
	p.queue = slices.Insert(p.queue, 0, p.held[:n]...)
	p.held = slices.Delete(p.held, 0, n)
}

// abandonLocked forgets a held append whose caller has given up; it
// reports whether c was held (and is now finished with err).
func (p *pipeline) abandonLocked(c *clientAppend, err error) bool {
	i := slices.Index(p.held, c)
	if i < 0 {
		return false
	}
	p.held = slices.Delete(p.held, i, i+1)
	p.heldBytes -= c.size
	c.finish(nil, 0, err)
	return true
}

// primaryDeps is what the primary needs from the node.
type primaryDeps struct {
	maxInflight   int
	maxBatchBytes uint64
	pipelineBytes uint64
	maxSize       uint64
	timeout       time.Duration
	send          func(ctx context.Context, addr string, req *clogspb.ReplicateBlocksRequest) error
	observe       func(b *batch, took time.Duration)
}

// append is AppendBlocks on the primary. It returns after the blocks are
// durable on all replicas, or with the reason they may not be.
func (r *replica) append(ctx context.Context, deps *primaryDeps, c *clientAppend) error {
	r.mu.Lock()
	if err := r.closedForAppendsLocked(); err != nil {
		r.mu.Unlock()
		return err
	}
	if !r.isPrimaryLocked() {
		r.mu.Unlock()
		return fmt.Errorf("extent %d: %w", r.id, ErrNotPrimary)
	}
	r.pipeline.queue = append(r.pipeline.queue, c)
	r.startBatchesLocked(deps)
	r.mu.Unlock()
	select {
	case <-c.done:
		return c.err
	case <-ctx.Done():
		r.mu.Lock()
		held := r.pipeline.abandonLocked(c, ctx.Err())
		r.mu.Unlock()
		if held {
			return fmt.Errorf("extent %d: append not written, still waiting for the appends before offset %d: %w", r.id, *c.expected, ctx.Err())
		}
		return fmt.Errorf("extent %d: append outcome unknown: %w", r.id, ctx.Err())
	}
}

// startBatchesLocked turns queued appends into batches while the pipeline
// has room.
func (r *replica) startBatchesLocked(deps *primaryDeps) {
	p := &r.pipeline
	for len(p.queue) > 0 && p.mayStartLocked(deps) {
		b, blocks := r.takeBatchLocked(deps)
		if b == nil {
			continue
		}
		b.local = r.ext.SubmitAt(b.start, blocks...)
		r.assignedEnd = b.end
		p.inflight = append(p.inflight, b)
		go r.runBatch(deps, b)
	}
}

// takeBatchLocked takes queued appends, up to maxBatchBytes (at least one),
// gives them offsets from the assigned end, holds those that arrived ahead
// of their turn, and refuses those whose expected offset or size does not
// fit. It returns nil if none was accepted.
func (r *replica) takeBatchLocked(deps *primaryDeps) (*batch, []extent.Block) {
	p := &r.pipeline
	b := &batch{start: r.assignedEnd, end: r.assignedEnd}
	var blocks []extent.Block
	for len(p.queue) > 0 {
		c := p.queue[0]
		if len(b.reqs) > 0 && b.end-b.start+c.size > deps.maxBatchBytes {
			break
		}
		p.queue = p.queue[1:]
		if c.expected != nil && *c.expected > b.end && p.holdLocked(c, deps.maxBatchBytes) {
			continue
		}
		if c.expected != nil && *c.expected != b.end {
			c.finish(nil, 0, &extent.OffsetMismatchError{ExtentID: r.id, Expected: *c.expected, End: b.end})
			continue
		}
		if b.end+c.size > deps.maxSize {
			c.finish(nil, 0, fmt.Errorf("extent %d: %w: %d + %d bytes passes %d", r.id, extent.ErrFull, b.end, c.size, deps.maxSize))
			continue
		}
		offsets := make([]uint64, len(c.blocks))
		for i, blk := range c.blocks {
			offsets[i] = b.end
			b.end += extent.BlockSize(len(blk.Payload))
		}
		b.reqs = append(b.reqs, c)
		b.offsets = append(b.offsets, offsets)
		blocks = append(blocks, c.blocks...)
		p.releaseLocked(b.end)
	}
	if len(b.reqs) == 0 {
		return nil, nil
	}
	return b, blocks
}

// runBatch waits for the local write and both secondaries, then completes
// the batch.
func (r *replica) runBatch(deps *primaryDeps, b *batch) {
	began := time.Now()
	r.mu.Lock()
	peers := r.set[1:]
	r.mu.Unlock()
	req := &clogspb.ReplicateBlocksRequest{ExtentId: r.id, Offset: b.start}
	for _, c := range b.reqs {
		req.Blocks = append(req.Blocks, c.pbBlocks...)
	}
	errs := make([]error, 1+len(peers))
	var wg sync.WaitGroup
	for i, peer := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), deps.timeout)
			defer cancel()
			if err := deps.send(ctx, peer.Addr, req); err != nil {
				errs[1+i] = fmt.Errorf("replica %d (%s): %w", i+1, peer.Addr, err)
			}
		}()
	}
	if _, err := b.local.Wait(); err != nil {
		errs[0] = fmt.Errorf("local write: %w", err)
	}
	wg.Wait()
	if deps.observe != nil {
		deps.observe(b, time.Since(began))
	}
	r.finishBatch(deps, b, errors.Join(errs...))
}

// finishBatch records a batch's outcome and completes, in order, every
// batch at the head of the pipeline that is finished.
func (r *replica) finishBatch(deps *primaryDeps, b *batch, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	b.err, b.finished = err, true
	if errors.Is(err, ErrFenced) || errors.Is(err, extent.ErrSealed) {
		r.fenced = true // a replica is being sealed: so is the extent
	} else if err != nil && r.failure == nil {
		r.failure = err
		r.disk.noteError(err)
	}
	p := &r.pipeline
	for len(p.inflight) > 0 && p.inflight[0].finished {
		head := p.inflight[0]
		p.inflight = p.inflight[1:]
		r.completeLocked(head)
	}
	if err := r.closedForAppendsLocked(); err != nil {
		p.failQueuedLocked(err)
	} else {
		r.startBatchesLocked(deps)
	}
	r.notifyLocked()
}

// completeLocked answers the appends of a batch at the head of the
// pipeline. A batch is acked only if it and every batch before it
// succeeded, and no seal cut it.
func (r *replica) completeLocked(b *batch) {
	var err error
	switch {
	case r.sealed && b.end > r.ackedEnd:
		err = fmt.Errorf("extent %d: %w before the batch was acknowledged", r.id, extent.ErrSealed)
	case !r.sealed && (r.fenced || r.sealing):
		// The seal's length was (or is being) collected; acknowledging
		// now could promise a block the seal cuts. A secondary that was
		// fenced first fails the batch too; the seal is the reason.
		err = fmt.Errorf("extent %d: %w before the batch was acknowledged", r.id, ErrFenced)
	case r.pipeline.headFailed:
		err = fmt.Errorf("extent %d: %w: an earlier batch failed", r.id, ErrReplicaFailed)
	case b.err != nil:
		r.pipeline.headFailed = true
		err = fmt.Errorf("extent %d: %w: %w", r.id, ErrReplicaFailed, b.err)
	}
	if b.err != nil {
		r.pipeline.headFailed = true
	}
	if err == nil && !r.sealed {
		r.ackedEnd = b.end
	}
	for i, c := range b.reqs {
		if err != nil {
			c.finish(nil, 0, err)
		} else {
			c.finish(b.offsets[i], b.end, nil)
		}
	}
}
