package streamclient

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/clogs-io/clogs/extent"
	"github.com/clogs-io/clogs/node"
	clogspb "github.com/clogs-io/clogs/proto"
)

// SharedWriter appends to a stream from many goroutines at once, with
// as many appends in flight as callers: the primary groups them into
// batches. It gives at-least-once, not exactly-once: after a failure whose
// outcome is unknown the blocks are written again on the next extent, so
// callers that need to drop duplicates put (writer ID, sequence) in the
// user data (DESIGN.md, "Exactly-once for a single writer").
type SharedWriter struct {
	c      *Client
	stream uint64
	name   string

	mu     sync.Mutex
	layout *clogspb.StreamResponse // guarded by mu
}

// OpenSharedWriter creates the stream if needed and returns a shared
// writer on it, starting on its current tail (or a first extent).
func (c *Client) OpenSharedWriter(ctx context.Context, name string) (*SharedWriter, error) {
	resp, err := c.CreateStream(ctx, name)
	if err != nil {
		return nil, err
	}
	w := &SharedWriter{c: c, stream: resp.Stream.Id, name: name, layout: resp}
	if len(resp.Extents) == 0 || resp.Extents[len(resp.Extents)-1].Sealed {
		if _, err := w.moveOn(ctx, lastExtent(resp)); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// Append writes blocks, contiguous and in order, and returns their
// addresses once all replicas have them.
func (w *SharedWriter) Append(ctx context.Context, blocks ...extent.Block) ([]Address, error) {
	size, err := callSize(blocks)
	if err != nil {
		return nil, err
	}
	if extent.ExtentHeaderSize+size > w.c.cfg.MaxExtentSize {
		return nil, fmt.Errorf("%w: %d bytes of blocks do not fit in one extent of %d", ErrPermanent, size, w.c.cfg.MaxExtentSize)
	}
	req := &clogspb.AppendBlocksRequest{}
	for _, b := range blocks {
		req.Blocks = append(req.Blocks, &clogspb.Block{Payload: b.Payload, UserData: b.UserData})
	}
	var addrs []Address
	err = w.c.retry(ctx, func() error {
		tail := w.tail()
		resp, err := w.send(ctx, tail, req)
		if err == nil {
			addrs = addresses(tail.Id, resp.Offsets)
			return nil
		}
		if errors.Is(err, extent.ErrBlockSize) || errors.Is(err, extent.ErrUserDataSize) || errors.Is(err, node.ErrBadRequest) {
			return fmt.Errorf("%w: %w", ErrPermanent, err)
		}
		// Full, sealed, failed, unreachable: seal it and use a new tail.
		if _, merr := w.moveOn(ctx, tail.Id); merr != nil {
			return errors.Join(err, merr)
		}
		return err
	})
	return addrs, err
}

func (w *SharedWriter) send(ctx context.Context, tail *clogspb.ExtentMeta, req *clogspb.AppendBlocksRequest) (*clogspb.AppendBlocksResponse, error) {
	var resp *clogspb.AppendBlocksResponse
	err := w.c.extentNode(ctx, tail.Replicas[0].Addr, func(ctx context.Context, es clogspb.ExtentServiceClient) error {
		r := &clogspb.AppendBlocksRequest{ExtentId: tail.Id, Blocks: req.Blocks}
		var err error
		resp, err = es.AppendBlocks(ctx, r)
		return err
	})
	return resp, err
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
