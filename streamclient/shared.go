package streamclient

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/clogs-io/clogs/extent"
	"github.com/clogs-io/clogs/node"
	clogspb "github.com/clogs-io/clogs/proto"
)

// SharedWriter appends to a stream from many goroutines at once. Calls
// that queue up while a request is in flight go out together in one
// request, as the single writer's do (sendGate); the primary groups
// concurrent requests, from this writer and others, into batches. It
// gives at-least-once, not exactly-once: after a failure whose outcome is
// unknown the blocks are written again on the next extent, so callers
// that need to drop duplicates put (writer ID, sequence) in the user data
// (DESIGN.md, "Exactly-once for a single writer").
type SharedWriter struct {
	c      *Client
	stream uint64
	name   string

	mu       sync.Mutex
	layout   *clogspb.StreamResponse // guarded by mu
	queue    []*writeCall            // guarded by mu; not yet sent
	inflight int                     // guarded by mu; requests awaiting an answer
	gate     sendGate                // guarded by mu
}

// OpenSharedWriter creates the stream if needed and returns a shared
// writer on it, starting on its current tail (or a first extent).
func (c *Client) OpenSharedWriter(ctx context.Context, name string) (*SharedWriter, error) {
	resp, err := c.CreateStream(ctx, name)
	if err != nil {
		return nil, err
	}
	w := &SharedWriter{c: c, stream: resp.Stream.Id, name: name, layout: resp}
	w.gate = sendGate{cfg: &c.cfg, mu: &w.mu, pump: w.pumpLocked}
	if len(resp.Extents) == 0 || resp.Extents[len(resp.Extents)-1].Sealed {
		if _, err := w.moveOn(ctx, lastExtent(resp)); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// Append writes blocks, contiguous and in order, and returns their
// addresses once all replicas have them. A request that fails is sent
// again on a new tail (the failed one sealed), up to Config.Attempts
// times with backoff; errors that cannot succeed come back at once.
//
// If ctx ends before the blocks are sent, none is written; if it ends
// while they are in flight, the error wraps ErrOutcomeUnknown: they may
// still land.
func (w *SharedWriter) Append(ctx context.Context, blocks ...extent.Block) ([]Address, error) {
	return w.gate.appendAndWait(ctx, &w.queue, blocks)
}

// pumpLocked sends queued calls while the window has room.
func (w *SharedWriter) pumpLocked() {
	for w.inflight < w.c.cfg.WriterInflight && len(w.queue) > 0 && w.gate.maySendLocked(w.inflight, w.queue) {
		// No more than an empty extent holds: a request that fits no
		// extent would fail on every new tail.
		calls, _ := takeCalls(&w.queue, extent.ExtentHeaderSize, w.c.cfg.MaxExtentSize, w.c.cfg.WriterBatchBytes)
		w.inflight++
		go w.send(calls)
	}
}

// send makes one AppendBlocks request of calls on the tail and records
// its outcome.
func (w *SharedWriter) send(calls []*writeCall) {
	tail := w.tail()
	req := &clogspb.AppendBlocksRequest{ExtentId: tail.Id}
	for _, call := range calls {
		for _, b := range call.blocks {
			req.Blocks = append(req.Blocks, &clogspb.Block{Payload: b.Payload, UserData: b.UserData})
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), w.c.cfg.CallTimeout)
	defer cancel()
	var resp *clogspb.AppendBlocksResponse
	err := w.c.extentNode(ctx, tail.Replicas[0].Addr, func(ctx context.Context, es clogspb.ExtentServiceClient) error {
		var err error
		resp, err = es.AppendBlocks(ctx, req)
		return err
	})
	if w.c.afterAppend != nil {
		err = w.c.afterAppend(err)
	}
	if err == nil && (resp == nil || len(resp.Offsets) != len(req.Blocks)) {
		err = fmt.Errorf("streamclient: extent %d: %d offsets in the answer for %d blocks", tail.Id, len(resp.GetOffsets()), len(req.Blocks))
	}
	if err != nil {
		w.retry(tail, calls, err)
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.inflight--
	offsets := resp.Offsets
	for _, call := range calls {
		call.landed = addresses(tail.Id, offsets[:len(call.blocks)])
		offsets = offsets[len(call.blocks):]
		call.finish(nil)
	}
	w.gate.holdLocked(w.inflight, len(calls))
	w.pumpLocked()
}

// retry handles a failed request: unless the error says the blocks can
// never be written, it seals the tail (full, sealed, failed or
// unreachable) so that writing goes on on a new one, pauses, and queues
// the calls again, in front, ending those whose attempts are used up or
// whose callers gave up.
func (w *SharedWriter) retry(tail *clogspb.ExtentMeta, calls []*writeCall, err error) {
	permanent := errors.Is(err, extent.ErrBlockSize) || errors.Is(err, extent.ErrUserDataSize) || errors.Is(err, node.ErrBadRequest)
	if permanent {
		err = fmt.Errorf("%w: %w", ErrPermanent, err)
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), w.c.recoveryTimeout())
		if _, merr := w.moveOn(ctx, tail.Id); merr != nil {
			err = errors.Join(err, merr)
		}
		cancel()
		time.Sleep(backoff(&w.c.cfg, calls[0].attempts))
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.inflight--
	var again []*writeCall
	for _, call := range calls {
		call.attempts++
		switch {
		case permanent || call.gaveUp:
			call.finish(err)
		case call.attempts >= w.c.cfg.Attempts:
			call.finish(fmt.Errorf("streamclient: %d attempts: %w", call.attempts, err))
		default:
			call.maybeLanded = true
			again = append(again, call)
		}
	}
	w.queue = append(again, w.queue...)
	w.pumpLocked()
}

func (w *SharedWriter) tail() *clogspb.ExtentMeta {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.layout.Extents[len(w.layout.Extents)-1]
}

// moveOn seals extent tail (if it is still the tail; the manager makes
// concurrent callers agree on one new extent) and adopts the new layout.
func (w *SharedWriter) moveOn(ctx context.Context, tail uint64) (*clogspb.StreamResponse, error) {
	resp, err := w.c.allocExtent(ctx, w.stream, tail)
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if resp.Revision >= w.layout.Revision {
		w.layout = resp
	}
	return resp, nil
}
