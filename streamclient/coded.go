package streamclient

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"github.com/clogs-io/clogs/erasure"
	"github.com/clogs-io/clogs/extent"
	"github.com/clogs-io/clogs/node"
	clogspb "github.com/clogs-io/clogs/proto"
)

// Reads of erasure-coded extents (issue 9). A sealed extent whose layout
// has Erasure set and no replicas lives as d+p shards on as many nodes.
// The reader opens every shard once per extent (a node.RemoteShard: an
// io.ReaderAt over ReadShard, checked with erasure.OpenShard) and keeps
// them while it reads the extent. Each Next reads whole stripes, about
// readBudget bytes of the extent from the reader's position, through an
// erasure.Reader, which checks every chunk and rebuilds the missing,
// unreachable or corrupt ones from any d good chunks of their stripe; it
// then decodes the blocks in those bytes at their offsets, as a replica
// would serve them, and returns the whole ones. Damage is logged; bytes
// that cannot be rebuilt are never returned.

// codedExtent is a coded extent being read, its shards open.
type codedExtent struct {
	id      uint64
	layout  *clogspb.ErasureLayout // as it was when the shards were opened
	remotes []*node.RemoteShard    // by shard index; nil for one that failed to open
	reader  *erasure.Reader
}

// isCoded reports whether e is read from shards.
func isCoded(e *clogspb.ExtentMeta) bool {
	return e.GetSealed() && e.GetErasure() != nil && len(e.GetReplicas()) == 0
}

// codedParams returns the coding of layout l.
func codedParams(l *clogspb.ErasureLayout) erasure.Params {
	params := erasure.Params{DataShards: int(l.GetDataShards()), ParityShards: int(l.GetParityShards()), ChunkSize: int(l.GetChunkSize())}
	if params.ChunkSize == 0 {
		params.ChunkSize = erasure.DefaultChunkSize
	}
	return params
}

// readCoded reads the blocks of coded extent e from the reader's
// position.
func (r *Reader) readCoded(ctx context.Context, e *clogspb.ExtentMeta) (readResult, error) {
	ce, err := r.openCoded(ctx, e)
	if err != nil {
		return readResult{}, fmt.Errorf("read extent %d at %d: %w", e.Id, r.pos.Offset, err)
	}
	res, err := r.c.readCodedBlocks(ctx, ce, r.pos.Offset)
	if err != nil {
		r.coded = nil // open every shard again next time: some may be back
		return readResult{}, fmt.Errorf("read extent %d at %d: %w", e.Id, r.pos.Offset, err)
	}
	return res, nil
}

// openCoded returns e's shards, open: those the reader opened before, if
// the layout has not changed since, or else newly opened ones.
func (r *Reader) openCoded(ctx context.Context, e *clogspb.ExtentMeta) (*codedExtent, error) {
	if r.coded != nil && r.coded.id == e.Id && proto.Equal(r.coded.layout, e.GetErasure()) {
		return r.coded, nil
	}
	r.coded = nil
	ce, err := r.c.openCoded(ctx, e)
	if err != nil {
		return nil, err
	}
	r.coded = ce
	return ce, nil
}

// openCoded opens the shards of coded extent e in parallel. A shard whose
// node cannot be reached, which it does not hold, or whose header is not
// of e's coding counts as missing; fewer than d open fails the read.
func (c *Client) openCoded(ctx context.Context, e *clogspb.ExtentMeta) (*codedExtent, error) {
	l := e.GetErasure()
	params := codedParams(l)
	if err := params.Validate(); err != nil {
		return nil, fmt.Errorf("%w: extent %d: %w", ErrPermanent, e.Id, err)
	}
	if len(l.GetShards()) != params.Shards() {
		return nil, fmt.Errorf("%w: extent %d coded %s places %d shards", ErrPermanent, e.Id, params, len(l.GetShards()))
	}
	ce := &codedExtent{id: e.Id, layout: l, remotes: make([]*node.RemoteShard, params.Shards())}
	shards := make([]*erasure.Shard, params.Shards())
	errs := make([]error, params.Shards())
	want := erasure.ShardHeader{ExtentID: e.Id, Version: erasure.FormatVersion, Params: params, SealedLength: e.SealedLength,
		Stripes: params.Stripes(e.SealedLength)}
	var wg sync.WaitGroup
	for i, rep := range l.GetShards() {
		wg.Go(func() {
			h := want
			h.Index = i
			shards[i], ce.remotes[i], errs[i] = c.openShard(ctx, rep.GetAddr(), h)
		})
	}
	wg.Wait()
	open := 0
	for i, err := range errs {
		if err != nil {
			c.lg.Warn("shard of a coded extent unusable; reading around it", zap.Uint64("extent", e.Id), zap.Int("shard", i),
				zap.String("node", l.GetShards()[i].GetAddr()), zap.Error(err))
			continue
		}
		open++
	}
	if open < params.DataShards {
		return nil, fmt.Errorf("extent %d coded %s: %w: %d shards could be opened, %d needed", e.Id, params, erasure.ErrUnrecoverable, open, params.DataShards)
	}
	reader, err := erasure.NewReader(shards)
	if err != nil {
		return nil, fmt.Errorf("extent %d: %w", e.Id, err)
	}
	ce.reader = reader
	return ce, nil
}

// unreachableFor is how long a node that could not be reached for a
// shard is skipped: a degraded scan opens every coded extent's shards, and
// would otherwise wait out a dial timeout for the dead node at each one.
const unreachableFor = 5 * time.Second

// shardDialTimeout bounds the wait for a connection to a shard's node.
const shardDialTimeout = 500 * time.Millisecond

// openShard opens one shard of a coded extent on the node at addr.
func (c *Client) openShard(ctx context.Context, addr string, want erasure.ShardHeader) (*erasure.Shard, *node.RemoteShard, error) {
	if c.recentlyUnreachable(addr) {
		return nil, nil, fmt.Errorf("node %s was unreachable less than %v ago", addr, unreachableFor)
	}
	// A shard has stand-ins (any d of d+p do), so a node that does not
	// connect at once is not waited for as long as a replica would be.
	dialCtx, cancel := context.WithTimeout(ctx, min(shardDialTimeout, c.cfg.Conn.DialTimeout))
	cc, err := c.pool.Get(dialCtx, addr)
	cancel()
	if err != nil {
		c.noteUnreachable(addr)
		return nil, nil, err
	}
	// One fetch serves one Next: readBudget of the extent is about
	// readBudget/d of each data shard, and a Bind stops it at the range.
	opts := node.RemoteShardOptions{MaxFetch: readBudget/uint64(want.Params.ChunkSize) + 1, Timeout: c.cfg.CallTimeout}
	return node.OpenRemoteShard(ctx, clogspb.NewExtentServiceClient(cc), addr, want, opts)
}

// readCodedBlocks reads the blocks of ce from offset pos: the stripes
// that hold [pos, pos+readBudget), or more when the block at pos is
// longer. A block that runs past the stripes read is left for the next
// read.
func (c *Client) readCodedBlocks(ctx context.Context, ce *codedExtent, pos uint64) (readResult, error) {
	sealed := ce.reader.SealedLength()
	res := readResult{next: pos, sealed: true}
	if pos >= sealed {
		return res, nil
	}
	stripe := ce.reader.Params().StripeSize()
	start := pos / stripe * stripe
	for want := uint64(readBudget); ; want *= 2 {
		end := min(sealed, (pos+want+stripe-1)/stripe*stripe)
		buf, err := c.readCodedRange(ctx, ce, start, end)
		if err != nil {
			return res, err
		}
		blocks, next, err := decodeCodedBlocks(buf[pos-start:], pos, ce.id, end == sealed || want > extent.BlockSize(extent.MaxPayload))
		if err != nil {
			return res, err
		}
		if len(blocks) > 0 {
			res.blocks, res.next = blocks, next
			return res, nil
		}
	}
}

// readCodedRange returns ce's bytes [start, end), reconstructing what
// needs to be, and logs the damage it met.
func (c *Client) readCodedRange(ctx context.Context, ce *codedExtent, start, end uint64) ([]byte, error) {
	endStripe := (end + ce.reader.Params().StripeSize() - 1) / ce.reader.Params().StripeSize()
	for _, s := range ce.remotes {
		if s != nil {
			s.Bind(ctx, endStripe)
		}
	}
	buf := make([]byte, end-start)
	report, err := ce.reader.ReadRange(buf, start)
	if len(report.Bad) > 0 || err != nil {
		c.lg.Warn("coded extent read around bad shards", zap.Uint64("extent", ce.id), zap.Uint64("from", start), zap.Uint64("to", end),
			zap.Ints("bad-shards", report.BadShards()), zap.Bool("corrupt", report.Corrupt()), zap.Int("reconstructed", report.Reconstructed),
			zap.Errors("problems", chunkErrors(report.Bad)), zap.NamedError("error", err))
	}
	if err != nil {
		return nil, err
	}
	return buf, nil
}

func chunkErrors(bad []erasure.ChunkProblem) []error {
	out := make([]error, 0, len(bad))
	for _, p := range bad {
		out = append(out, fmt.Errorf("shard %d stripe %d: %w", p.Shard, p.Stripe, p.Err))
	}
	return out
}

// decodeCodedBlocks decodes the blocks at the start of buf, the extent's
// bytes from offset pos, and returns them with the offset after the last.
// A block that does not decode ends the blocks; when buf holds everything
// there is to read (final), it is corruption, else it may run past buf.
func decodeCodedBlocks(buf []byte, pos, id uint64, final bool) ([]*clogspb.BlockAt, uint64, error) {
	var blocks []*clogspb.BlockAt
	for len(buf) > 0 {
		b, size, err := extent.DecodeBlock(buf)
		if err != nil {
			if !final {
				break
			}
			return nil, pos, &extent.CorruptionError{ExtentID: id, Offset: pos, Err: err}
		}
		blocks = append(blocks, &clogspb.BlockAt{Offset: pos, Payload: b.Payload, UserData: b.UserData})
		buf, pos = buf[size:], pos+size
	}
	return blocks, pos, nil
}

func (c *Client) recentlyUnreachable(addr string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	at, ok := c.unreachable[addr]
	return ok && time.Since(at) < unreachableFor
}

func (c *Client) noteUnreachable(addr string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.unreachable == nil {
		c.unreachable = map[string]time.Time{}
	}
	c.unreachable[addr] = time.Now()
}
