package streamclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/clogs-io/clogs/extent"
	"github.com/clogs-io/clogs/node"
	clogspb "github.com/clogs-io/clogs/proto"
)

// Block is a block read from a stream, with its address.
type Block struct {
	Address
	Payload  []byte
	UserData []byte
}

// readBudget is how many bytes of blocks one read asks for.
const readBudget = 4 << 20

// tailWait is how long a following reader's long-poll waits at the tail.
const tailWait = time.Second

// Reader iterates a stream's blocks in order, across extents. A following
// reader waits at the end for new blocks and moves across seals and
// rollovers without gaps or repeats.
type Reader struct {
	c      *Client
	name   string
	follow bool
	layout *clogspb.StreamResponse
	pos    Address      // the next block to read; Offset 0 means the extent's start
	coded  *codedExtent // the coded extent last read, its shards open (coded.go)
}

// OpenReader reads stream name from address from (the zero Address is the
// start of the stream).
func (c *Client) OpenReader(ctx context.Context, name string, from Address, follow bool) (*Reader, error) {
	layout, err := c.StreamInfo(ctx, name)
	if err != nil {
		return nil, err
	}
	r := &Reader{c: c, name: name, follow: follow, layout: layout, pos: from}
	if from.Extent != 0 && r.extent(from.Extent) == nil {
		return nil, fmt.Errorf("%w: extent %d is not in stream %s", ErrPermanent, from.Extent, name)
	}
	return r, nil
}

// Position returns the address of the next block the reader returns.
func (r *Reader) Position() Address { return r.pos }

// Next returns the next blocks. Without follow it returns io.EOF at the end
// of the stream; with follow it waits for new blocks until ctx ends.
func (r *Reader) Next(ctx context.Context) ([]Block, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		e, err := r.current(ctx)
		if errors.Is(err, errRetry) {
			continue
		}
		if err != nil {
			return nil, err
		}
		blocks, moved, err := r.readFrom(ctx, e)
		if err != nil || len(blocks) > 0 {
			return blocks, err
		}
		if !moved && !r.follow {
			return nil, io.EOF
		}
	}
}

// current returns the extent the reader is in, moving to the stream's
// first extent at the start. With no extents yet, it waits (follow) or
// ends.
func (r *Reader) current(ctx context.Context) (*clogspb.ExtentMeta, error) {
	if r.pos.Extent == 0 {
		if len(r.layout.Extents) == 0 {
			if err := r.refresh(ctx); err != nil {
				return nil, err
			}
			if len(r.layout.Extents) == 0 {
				return nil, r.waitOrEOF(ctx)
			}
		}
		r.pos = Address{Extent: r.layout.Extents[0].Id}
	}
	e := r.extent(r.pos.Extent)
	if e == nil {
		return nil, fmt.Errorf("streamclient: extent %d left stream %s (truncated?)", r.pos.Extent, r.name)
	}
	if r.pos.Offset == 0 {
		r.pos.Offset = extent.ExtentHeaderSize
	}
	return e, nil
}

// readFrom reads the next blocks of e. moved says the reader moved on
// (to the next extent, or learned of a seal) without blocks, so the caller
// should look again at once.
func (r *Reader) readFrom(ctx context.Context, e *clogspb.ExtentMeta) ([]Block, bool, error) {
	if e.Sealed && r.pos.Offset >= e.SealedLength {
		return nil, r.advance(ctx, e), nil
	}
	wait := uint32(0)
	if r.follow && !e.Sealed {
		wait = uint32(tailWait / time.Millisecond)
	}
	resp, err := r.read(ctx, e, wait)
	if errors.Is(err, errRetry) {
		return nil, true, nil
	}
	if err != nil {
		return nil, false, err
	}
	blocks := make([]Block, 0, len(resp.blocks))
	for _, b := range resp.blocks {
		blocks = append(blocks, Block{Address: Address{Extent: e.Id, Offset: b.Offset}, Payload: b.Payload, UserData: b.UserData})
	}
	r.pos.Offset = resp.next
	if len(blocks) == 0 && resp.sealed && !e.Sealed {
		return nil, true, r.learn(ctx) // sealed meanwhile: learn its length
	}
	return blocks, false, nil
}

// advance moves to the extent after e, refreshing the layout when e is
// the last known one. It reports whether it moved.
func (r *Reader) advance(ctx context.Context, e *clogspb.ExtentMeta) bool {
	if next := r.after(e.Id); next != nil {
		r.pos = Address{Extent: next.Id, Offset: extent.ExtentHeaderSize}
		return true
	}
	if r.learn(ctx) == nil {
		if next := r.after(e.Id); next != nil {
			r.pos = Address{Extent: next.Id, Offset: extent.ExtentHeaderSize}
			return true
		}
	}
	if r.follow {
		select {
		case <-ctx.Done():
		case <-time.After(tailWait / 10):
		}
	}
	return false
}

type readResult struct {
	blocks []*clogspb.BlockAt
	next   uint64
	sealed bool
}

// read reads from e at the reader's position: an unsealed extent from its
// primary, a sealed one from any replica, trying the next on failure
// (a corrupt or unreachable replica).
func (r *Reader) read(ctx context.Context, e *clogspb.ExtentMeta, waitMs uint32) (readResult, error) {
	if isCoded(e) {
		return r.readCoded(ctx, e)
	}
	replicas := e.Replicas
	if !e.Sealed {
		replicas = replicas[:1]
	}
	var errs []error
	for _, rep := range replicas {
		res, err := r.readReplica(ctx, rep.Addr, e.Id, waitMs)
		if err == nil {
			return res, nil
		}
		errs = append(errs, fmt.Errorf("replica %s: %w", rep.Addr, err))
	}
	err := errors.Join(errs...)
	// The replicas may be gone because the extent was coded meanwhile.
	if e.Sealed && r.learn(ctx) == nil && isCoded(r.extent(e.Id)) {
		return readResult{}, errRetry
	}
	if !e.Sealed {
		// A primary back from a restart has lost its acked end and takes
		// no appends: no writer can extend the extent, and only a seal
		// makes its blocks readable. Ask for it (as a writer would).
		if errors.Is(err, node.ErrRecovering) {
			if _, serr := r.c.allocExtent(ctx, r.layout.Stream.Id, e.Id); serr != nil {
				err = errors.Join(err, serr)
			}
		}
		// The primary may be gone or the extent sealed: learn the layout
		// again and let the caller retry.
		if rerr := r.refresh(ctx); rerr == nil && r.extent(e.Id).GetSealed() {
			return readResult{next: r.pos.Offset, sealed: true}, nil
		}
	}
	return readResult{}, fmt.Errorf("read extent %d at %d: %w", e.Id, r.pos.Offset, err)
}

func (r *Reader) readReplica(ctx context.Context, addr string, id uint64, waitMs uint32) (readResult, error) {
	res := readResult{next: r.pos.Offset}
	err := r.c.extentNode(ctx, addr, func(ctx context.Context, es clogspb.ExtentServiceClient) error {
		stream, err := es.ReadBlocks(ctx, &clogspb.ReadBlocksRequest{ExtentId: id, Offset: r.pos.Offset, MaxBytes: readBudget, WaitMs: waitMs})
		if err != nil {
			return err
		}
		for {
			msg, err := stream.Recv()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			res.blocks = append(res.blocks, msg.Blocks...)
			res.next, res.sealed = msg.NextOffset, msg.Sealed
		}
	})
	return res, err
}

// refresh asks the manager for the stream's layout; the answer is at
// least as new as any the client has seen.
func (r *Reader) refresh(ctx context.Context) error {
	layout, err := r.c.StreamInfo(ctx, r.name)
	if err != nil {
		return err
	}
	if layout.Revision >= r.layout.Revision {
		r.layout = layout
	}
	return nil
}

// learn takes a newer layout from the client's cache, or else from the
// manager.
func (r *Reader) learn(ctx context.Context) error {
	if r.adoptCached() {
		return nil
	}
	return r.refresh(ctx)
}

// adoptCached moves the reader to a newer layout the client already knows
// (say, from a writer in this process that just rolled over), and reports
// whether there was one.
func (r *Reader) adoptCached() bool {
	if newer := r.c.cachedLayout(r.layout.Stream.Id, r.layout.Revision); newer != nil {
		r.layout = newer
		return true
	}
	return false
}

// waitOrEOF ends a non-following read of an empty stream, or pauses a
// following one.
func (r *Reader) waitOrEOF(ctx context.Context) error {
	if !r.follow {
		return io.EOF
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(tailWait / 10):
		return errRetry
	}
}

// errRetry makes Next look again; it never reaches callers.
var errRetry = errors.New("streamclient: look again")

func (r *Reader) extent(id uint64) *clogspb.ExtentMeta {
	for _, e := range r.layout.Extents {
		if e.Id == id {
			return e
		}
	}
	return nil
}

func (r *Reader) after(id uint64) *clogspb.ExtentMeta {
	for i, e := range r.layout.Extents {
		if e.Id == id && i+1 < len(r.layout.Extents) {
			return r.layout.Extents[i+1]
		}
	}
	return nil
}
