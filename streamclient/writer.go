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

// Address is where a block lives: its extent and the offset of its header.
type Address struct {
	Extent uint64
	Offset uint64
}

func (a Address) String() string { return fmt.Sprintf("%d:%d", a.Extent, a.Offset) }

// Writer appends to one stream as its single writer: every append carries
// the offset it must land at, so that after an ambiguous failure the
// sealed length tells whether it landed, and each block lands exactly once.
// Appends from concurrent goroutines are serialized in call order.
type Writer struct {
	c      *Client
	stream uint64
	name   string

	mu     sync.Mutex // serializes appends; guards the fields below
	layout *clogspb.StreamResponse
	next   uint64 // where the next block lands in the tail; 0 = unknown
}

// OpenWriter creates the stream if needed and returns its writer. The
// writer starts on a fresh extent, sealing the current tail, so that it
// knows every offset it writes.
func (c *Client) OpenWriter(ctx context.Context, name string) (*Writer, error) {
	resp, err := c.CreateStream(ctx, name)
	if err != nil {
		return nil, err
	}
	w := &Writer{c: c, stream: resp.Stream.Id, name: name, layout: resp}
	if err := w.rollover(ctx); err != nil {
		return nil, err
	}
	return w, nil
}

// Append writes blocks at the end of the stream, in order, and returns
// their addresses once all three replicas have them. Blocks of one call
// land in one extent.
func (w *Writer) Append(ctx context.Context, blocks ...extent.Block) ([]Address, error) {
	size, err := callSize(blocks)
	if err != nil {
		return nil, err
	}
	if extent.ExtentHeaderSize+size > w.c.cfg.MaxExtentSize {
		return nil, fmt.Errorf("%w: %d bytes of blocks do not fit in one extent of %d", ErrPermanent, size, w.c.cfg.MaxExtentSize)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	var addrs []Address
	err = w.c.retry(ctx, func() (err error) {
		addrs, err = w.appendOnce(ctx, blocks, size)
		return err
	})
	return addrs, err
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

// appendOnce makes one attempt. After a failure whose outcome is unknown,
// it seals the tail: if the sealed length covers the blocks, they landed
// and their addresses are returned; otherwise the next attempt writes them
// to the new extent.
func (w *Writer) appendOnce(ctx context.Context, blocks []extent.Block, size uint64) ([]Address, error) {
	if w.next+size > w.c.cfg.MaxExtentSize {
		if err := w.rollover(ctx); err != nil {
			return nil, err
		}
	}
	tail := w.tailMeta()
	start := w.next
	resp, err := w.send(ctx, tail, blocks, start)
	if err == nil {
		w.next = resp.End
		return addresses(tail.Id, resp.Offsets), nil
	}
	if errors.Is(err, extent.ErrBlockSize) || errors.Is(err, extent.ErrUserDataSize) || errors.Is(err, node.ErrBadRequest) {
		return nil, err
	}
	w.c.lg.Debug("append failed; sealing the tail")
	sealed, serr := w.sealTail(ctx, tail.Id)
	if serr != nil {
		return nil, errors.Join(err, serr)
	}
	if sealed >= start+size {
		return addresses(tail.Id, offsetsFrom(start, blocks)), nil // it landed
	}
	return nil, fmt.Errorf("append to extent %d did not land, retrying on a new extent: %w", tail.Id, err)
}

func (w *Writer) send(ctx context.Context, tail *clogspb.ExtentMeta, blocks []extent.Block, at uint64) (*clogspb.AppendBlocksResponse, error) {
	req := &clogspb.AppendBlocksRequest{ExtentId: tail.Id, ExpectedOffset: &at}
	for _, b := range blocks {
		req.Blocks = append(req.Blocks, &clogspb.Block{Payload: b.Payload, UserData: b.UserData})
	}
	var resp *clogspb.AppendBlocksResponse
	err := w.c.extentNode(ctx, tail.Replicas[0].Addr, func(ctx context.Context, es clogspb.ExtentServiceClient) (err error) {
		resp, err = es.AppendBlocks(ctx, req)
		return err
	})
	if w.c.afterAppend != nil {
		err = w.c.afterAppend(err)
	}
	return resp, err
}

// sealTail asks the manager to seal the tail and start a new extent; it
// returns the tail's sealed length and moves the writer to the new tail.
func (w *Writer) sealTail(ctx context.Context, tail uint64) (uint64, error) {
	resp, err := w.c.allocExtent(ctx, w.stream, tail)
	if err != nil {
		return 0, err
	}
	var sealedLength uint64
	found := false
	for _, e := range resp.Extents {
		if e.Id == tail {
			sealedLength, found = e.SealedLength, e.Sealed
		}
	}
	if !found {
		return 0, fmt.Errorf("streamclient: extent %d is no longer sealed in stream %s", tail, w.name)
	}
	w.layout, w.next = resp, extent.ExtentHeaderSize
	return sealedLength, nil
}

// rollover seals the current tail (if any) and moves to a fresh extent.
func (w *Writer) rollover(ctx context.Context) error {
	resp, err := w.c.allocExtent(ctx, w.stream, lastExtent(w.layout))
	if err != nil {
		return err
	}
	w.layout, w.next = resp, extent.ExtentHeaderSize
	return nil
}

func (w *Writer) tailMeta() *clogspb.ExtentMeta {
	return w.layout.Extents[len(w.layout.Extents)-1]
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

func offsetsFrom(start uint64, blocks []extent.Block) []uint64 {
	offsets := make([]uint64, len(blocks))
	for i, b := range blocks {
		offsets[i] = start
		start += extent.BlockSize(len(b.Payload))
	}
	return offsets
}
