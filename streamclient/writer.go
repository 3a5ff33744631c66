package streamclient

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

// Address is where a block lives: its extent and the offset of its header.
type Address struct {
	Extent uint64
	Offset uint64
}

func (a Address) String() string { return fmt.Sprintf("%d:%d", a.Extent, a.Offset) }

// ErrOutcomeUnknown: an append may or may not have landed, and the writer
// could not find out (the manager did not answer the seal). Exactly-once
// holds for every append that did not return this error.
var ErrOutcomeUnknown = errors.New("streamclient: append outcome unknown")

// Writer appends to one stream as its single writer, exactly once.
//
// Appends are pipelined: callers' blocks are given offsets in call order
// and sent with those offsets as expected offsets, up to
// Config.WriterInflight requests at once; blocks that queue up while the
// window is full go out together in one request. When a request fails
// or its outcome is unknown, the writer stops sending, lets the requests in
// flight finish, and asks the manager to seal the tail. The sealed length
// says which blocks landed: those are done, the others are written again,
// in their order, on the new extent. So each block lands exactly once, and
// blocks land in call order.
type Writer struct {
	c      *Client
	stream uint64
	name   string

	mu         sync.Mutex
	layout     *clogspb.StreamResponse // guarded by mu
	next       uint64                  // guarded by mu; where the next block lands in the tail
	queue      []*writeCall            // guarded by mu; not yet sent, in order
	inflight   int                     // guarded by mu; requests on the tail awaiting an answer
	failed     []*writeRequest         // guarded by mu; requests that failed on the tail
	rollover   bool                    // guarded by mu; the tail is full: move on when it drains
	needSeal   bool                    // guarded by mu; a request failed: seal the tail before writing on
	recovering bool                    // guarded by mu; a seal or rollover is running
	gate       sendGate                // guarded by mu
}

// writeCall is one Append call: its blocks land in order, possibly over
// two extents if a failure cut it.
type writeCall struct {
	blocks   []extent.Block
	landed   []Address // guarded by Writer.mu; a prefix of blocks
	attempts int       // guarded by Writer.mu
	gaveUp   bool      // guarded by Writer.mu; the caller stopped waiting
	// maybeLanded: an earlier request of it failed without saying whether
	// its blocks landed (the shared writer's retries; guarded by its mu).
	maybeLanded bool

	err  error // set before done is closed
	done chan struct{}
}

func (c *writeCall) pending() []extent.Block { return c.blocks[len(c.landed):] }

func (c *writeCall) finish(err error) {
	c.err = err
	close(c.done)
}

// writeRequest is one AppendBlocks request: the pending blocks of one or
// more calls, at consecutive offsets from start.
type writeRequest struct {
	tail  *clogspb.ExtentMeta
	start uint64
	calls []*writeCall
}

// OpenWriter creates the stream if needed and returns its writer. The
// writer starts on a fresh extent, sealing the current tail, so that it
// knows every offset it writes.
func (c *Client) OpenWriter(ctx context.Context, name string) (*Writer, error) {
	resp, err := c.CreateStream(ctx, name)
	if err != nil {
		return nil, err
	}
	next, err := c.allocExtent(ctx, resp.Stream.Id, lastExtent(resp))
	if err != nil {
		return nil, err
	}
	w := &Writer{c: c, stream: resp.Stream.Id, name: name, layout: next, next: extent.ExtentHeaderSize}
	w.gate = sendGate{cfg: &c.cfg, mu: &w.mu, pump: w.pumpLocked}
	return w, nil
}

// Append writes blocks at the end of the stream, after every block of
// the calls before it, and returns their addresses once all three
// replicas have them. The blocks of one call are contiguous in one extent
// unless a failure cut the call short; the rest then follows on the next
// extent.
//
// If ctx ends before the blocks are sent, none is written; if it ends
// while they are in flight, the error wraps ErrOutcomeUnknown for the
// caller, while the writer itself still tracks them and never writes them
// twice.
func (w *Writer) Append(ctx context.Context, blocks ...extent.Block) ([]Address, error) {
	return w.gate.appendAndWait(ctx, &w.queue, blocks)
}

func callSize(blocks []extent.Block) (uint64, error) {
	if len(blocks) == 0 {
		return 0, fmt.Errorf("%w: no blocks", ErrPermanent)
	}
	var size uint64
	for i, b := range blocks {
		if len(b.Payload) == 0 || len(b.Payload) > extent.MaxPayload || len(b.UserData) > extent.MaxUserData {
			return 0, fmt.Errorf("%w: block %d: payload %d bytes (1 to %d), user data %d bytes (at most %d)",
				ErrPermanent, i, len(b.Payload), extent.MaxPayload, len(b.UserData), extent.MaxUserData)
		}
		size += extent.BlockSize(len(b.Payload))
	}
	return size, nil
}

// pumpLocked sends queued calls while the window has room, or starts a
// seal or rollover once the tail has drained.
func (w *Writer) pumpLocked() {
	for !w.needSeal && !w.rollover && w.inflight < w.c.cfg.WriterInflight && len(w.queue) > 0 && w.gate.maySendLocked(w.inflight, w.queue) {
		req := w.takeLocked()
		if req == nil {
			w.rollover = true
			break
		}
		w.inflight++
		go w.send(req)
	}
	if (w.needSeal || w.rollover) && w.inflight == 0 && !w.recovering && (len(w.queue) > 0 || len(w.failed) > 0) {
		w.recovering = true
		go w.recover()
	}
}

// takeLocked takes queued calls, whole, into one request at the tail's
// end, up to Config.WriterBatchBytes (at least one call) and as much as
// the extent holds. It returns nil when the first call does not fit.
func (w *Writer) takeLocked() *writeRequest {
	tail := w.layout.Extents[len(w.layout.Extents)-1]
	calls, bytes := takeCalls(&w.queue, w.next, w.c.cfg.MaxExtentSize, w.c.cfg.WriterBatchBytes)
	if len(calls) == 0 {
		return nil
	}
	req := &writeRequest{tail: tail, start: w.next, calls: calls}
	w.next += bytes
	return req
}

// send makes one AppendBlocks request and records its outcome.
func (w *Writer) send(req *writeRequest) {
	expected := req.start
	pb := &clogspb.AppendBlocksRequest{ExtentId: req.tail.Id, ExpectedOffset: &expected}
	for _, call := range req.calls {
		for _, b := range call.pending() {
			pb.Blocks = append(pb.Blocks, &clogspb.Block{Payload: b.Payload, UserData: b.UserData})
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), w.c.cfg.CallTimeout)
	defer cancel()
	err := w.c.extentNode(ctx, req.tail.Replicas[0].Addr, func(ctx context.Context, es clogspb.ExtentServiceClient) error {
		_, err := es.AppendBlocks(ctx, pb)
		return err
	})
	if w.c.afterAppend != nil {
		err = w.c.afterAppend(err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.inflight--
	if err != nil {
		w.c.lg.Debug("append failed; the tail will be sealed")
		w.failed = append(w.failed, req)
		w.needSeal = true
	} else {
		w.landLocked(req, requestEnd(req))
		w.gate.holdLocked(w.inflight, len(req.calls))
	}
	w.pumpLocked()
}

// landLocked records the blocks of req that end at or before landedEnd as
// written, finishes the calls that are complete, and returns the calls
// with blocks left to write, in order.
func (w *Writer) landLocked(req *writeRequest, landedEnd uint64) []*writeCall {
	var rest []*writeCall
	at := req.start
	for _, call := range req.calls {
		for _, b := range call.pending() {
			size := extent.BlockSize(len(b.Payload))
			if at+size > landedEnd {
				break
			}
			call.landed = append(call.landed, Address{Extent: req.tail.Id, Offset: at})
			at += size
		}
		if len(call.pending()) == 0 {
			call.finish(nil)
			continue
		}
		at = landedEnd // nothing after the first block that did not land landed
		rest = append(rest, call)
	}
	return rest
}

// recover seals the tail after a failure, or rolls over from a full one,
// once nothing is in flight on it; then writing goes on.
func (w *Writer) recover() {
	ctx, cancel := context.WithTimeout(context.Background(), w.c.recoveryTimeout())
	defer cancel()
	w.mu.Lock()
	tail := w.layout.Extents[len(w.layout.Extents)-1].Id
	w.mu.Unlock()
	resp, err := w.c.allocExtent(ctx, w.stream, tail)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.recovering = false
	if err == nil {
		err = w.adoptLocked(resp, tail)
	}
	if err != nil {
		w.failAllLocked(err)
	}
	w.pumpLocked()
}

// adoptLocked moves to the new tail of resp: the blocks of failed
// requests that the old tail's sealed length covers have landed; the
// rest go first in the queue, in order, for the new extent.
func (w *Writer) adoptLocked(resp *clogspb.StreamResponse, oldTail uint64) error {
	var sealedLength uint64
	found := false
	for _, e := range resp.Extents {
		if e.Id == oldTail {
			sealedLength, found = e.SealedLength, e.Sealed
		}
	}
	if !found {
		return fmt.Errorf("streamclient: extent %d is no longer sealed in stream %s", oldTail, w.name)
	}
	slices.SortFunc(w.failed, func(a, b *writeRequest) int { return cmp.Compare(a.start, b.start) })
	var rewrite []*writeCall
	for _, req := range w.failed {
		for _, call := range w.landLocked(req, sealedLength) {
			call.attempts++
			switch {
			case call.gaveUp:
				call.finish(fmt.Errorf("streamclient: append not written after its caller gave up"))
			case call.attempts >= w.c.cfg.Attempts:
				call.finish(fmt.Errorf("streamclient: %d attempts, blocks from %d on not written", call.attempts, len(call.landed)))
			default:
				rewrite = append(rewrite, call)
			}
		}
	}
	w.queue = append(rewrite, w.queue...)
	w.failed, w.needSeal, w.rollover = nil, false, false
	w.layout, w.next = resp, extent.ExtentHeaderSize
	return nil
}

// failAllLocked answers every waiting call after the seal could not be
// done: calls in failed requests may have landed; queued ones did not.
// The tail stays marked for sealing, so the next append tries again.
func (w *Writer) failAllLocked(err error) {
	for _, req := range w.failed {
		for _, call := range req.calls {
			call.finish(fmt.Errorf("%w: sealing the tail: %w", ErrOutcomeUnknown, err))
		}
	}
	for _, call := range w.queue {
		call.finish(fmt.Errorf("streamclient: append not written: sealing the tail: %w", err))
	}
	w.failed, w.queue = nil, nil
}

// recoveryTimeout bounds a writer's seal and move to a new tail, which
// the caller that failed does not wait for: every attempt at the manager
// with its pause.
func (c *Client) recoveryTimeout() time.Duration {
	return time.Duration(c.cfg.Attempts) * (c.cfg.CallTimeout + c.cfg.MaxBackoff)
}

func blocksSize(blocks []extent.Block) uint64 {
	var size uint64
	for _, b := range blocks {
		size += extent.BlockSize(len(b.Payload))
	}
	return size
}

// requestEnd is where req's blocks end when all of them land.
func requestEnd(req *writeRequest) uint64 {
	end := req.start
	for _, call := range req.calls {
		end += blocksSize(call.pending())
	}
	return end
}

func lastExtent(layout *clogspb.StreamResponse) uint64 {
	if len(layout.Extents) == 0 {
		return 0
	}
	return layout.Extents[len(layout.Extents)-1].Id
}

func addresses(extentID uint64, offsets []uint64) []Address {
	out := make([]Address, len(offsets))
	for i, off := range offsets {
		out[i] = Address{Extent: extentID, Offset: off}
	}
	return out
}
