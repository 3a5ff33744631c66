package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/clogs-io/clogs/erasure"
	clogspb "github.com/clogs-io/clogs/proto"
)

// RemoteShard is a shard file that an extent-node holds, read through
// ReadShard as an io.ReaderAt, so that erasure.OpenShard, erasure.Reader
// and erasure.Rebuild read it as they read a local file. It is the client
// side of ReadShard, used by RebuildShard and by streamclient's reads of
// coded extents.
//
// It fetches chunk records in windows: a read of a stripe that is not at
// hand asks the node for that stripe and the ones after it, up to
// MaxFetch stripes and no further than the end that Bind set, in one
// ReadShard call; later reads of those stripes cost nothing. The header
// is fetched once, at open, and every ReadShard answer must carry the
// same bytes. The chunks are not checked here: erasure checks every chunk
// it reads.
//
// A ReadShard that fails (node unreachable, chunk corrupt, shard gone)
// fails the read of the first stripe it did not deliver with the node's
// error (so a "shard-corrupt" answer reads as a corrupt chunk); every
// later read fails with ErrShardFailed until the next Bind, so that one
// operation asks a failed node once.
//
// Its methods are safe for concurrent use.
type RemoteShard struct {
	client      clogspb.ExtentServiceClient
	addr        string
	header      erasure.ShardHeader
	headerBytes []byte
	recordSize  uint64
	maxFetch    uint64
	timeout     time.Duration

	mu       sync.Mutex
	ctx      context.Context // guarded by mu; of the current operation
	end      uint64          // guarded by mu; fetches stop before this stripe
	first    uint64          // guarded by mu; the stripe of records[0]
	records  [][]byte        // guarded by mu; the last window fetched
	failed   error           // guarded by mu; the failure of this operation
	failedAt uint64          // guarded by mu; the stripe failed reports
}

// ErrShardFailed: a RemoteShard's node failed a read earlier in the same
// operation; the shard is not asked again until the next Bind.
var ErrShardFailed = errors.New("node: the shard's node failed earlier in this read")

// errBadAnswer: a ReadShard answer that does not follow the protocol.
var errBadAnswer = errors.New("node: a bad ReadShard answer")

// RemoteShardOptions shape a RemoteShard's reads.
type RemoteShardOptions struct {
	// MaxFetch bounds the stripes one ReadShard call fetches; at least 1.
	MaxFetch uint64
	// Timeout bounds each ReadShard call; 0 means only the context's.
	Timeout time.Duration
}

// OpenRemoteShard fetches the header of shard want.Index of extent
// want.ExtentID from the node at addr (through client), checks that it is
// the shard of want's coding (extent, index, parameters and sealed
// length; a different one is an erasure.ErrBadHeader), and opens it with
// erasure.OpenShard. Reads then go through the returned RemoteShard, bound
// to ctx until the next Bind.
func OpenRemoteShard(ctx context.Context, client clogspb.ExtentServiceClient, addr string, want erasure.ShardHeader, opts RemoteShardOptions) (*erasure.Shard, *RemoteShard, error) {
	s := &RemoteShard{client: client, addr: addr, header: want, recordSize: uint64(want.Params.ChunkSize) + erasure.ChunkCRCSize,
		maxFetch: max(1, opts.MaxFetch), timeout: opts.Timeout, ctx: ctx, end: want.Stripes}
	stripes := want.Params.Stripes(want.SealedLength)
	// first_stripe at the stripe count: the header alone.
	head, _, err := s.call(ctx, stripes, 0)
	if err != nil {
		return nil, nil, err
	}
	got, err := erasure.DecodeShardHeader(head)
	if err != nil {
		return nil, nil, s.fail(err)
	}
	if got.ExtentID != want.ExtentID || got.Index != want.Index || got.Params != want.Params || got.SealedLength != want.SealedLength {
		return nil, nil, s.fail(&erasure.HeaderError{Err: erasure.ErrHeaderField, Detail: fmt.Sprintf(
			"holds shard %d of extent %d coded %s in %d-byte chunks, %d bytes; want shard %d of extent %d coded %s in %d-byte chunks, %d bytes",
			got.Index, got.ExtentID, got.Params, got.Params.ChunkSize, got.SealedLength,
			want.Index, want.ExtentID, want.Params, want.Params.ChunkSize, want.SealedLength)})
	}
	s.header, s.headerBytes, s.end = got, head, got.Stripes
	shard, err := erasure.OpenShard(s, int64(got.ShardSize()))
	if err != nil {
		return nil, nil, s.fail(err)
	}
	return shard, s, nil
}

// Addr returns the address of the shard's node.
func (s *RemoteShard) Addr() string { return s.addr }

// Bind starts an operation: reads go under ctx, fetch no stripe at or past
// end (0 means the last), and a node that failed the last operation is
// asked again. Records fetched before are kept: a shard does not change.
func (s *RemoteShard) Bind(ctx context.Context, end uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if end == 0 || end > s.header.Stripes {
		end = s.header.Stripes
	}
	s.ctx, s.end, s.failed = ctx, end, nil
}

// ReadAt reads the shard file's bytes at off.
func (s *RemoteShard) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("%w: read at %d", ErrBadRequest, off)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	if off < erasure.ShardHeaderSize {
		n = copy(p, s.headerBytes[off:])
	}
	for n < len(p) {
		pos := uint64(off) + uint64(n) - erasure.ShardHeaderSize
		stripe, within := pos/s.recordSize, pos%s.recordSize
		if stripe >= s.header.Stripes {
			return n, io.EOF
		}
		record, err := s.record(stripe)
		if err != nil {
			return n, err
		}
		n += copy(p[n:], record[within:])
	}
	return n, nil
}

// record returns stripe's chunk record, fetching it if need be. The
// caller holds mu.
func (s *RemoteShard) record(stripe uint64) ([]byte, error) {
	if stripe >= s.first && stripe-s.first < uint64(len(s.records)) {
		return s.records[stripe-s.first], nil
	}
	if s.failed != nil {
		if stripe == s.failedAt {
			return nil, s.failed
		}
		return nil, fmt.Errorf("%w: %s: %v", ErrShardFailed, s.addr, s.failed)
	}
	limit := s.end
	if limit <= stripe {
		limit = s.header.Stripes
	}
	count := min(s.maxFetch, limit-stripe)
	_, records, err := s.call(s.ctx, stripe, count)
	s.first, s.records = stripe, records
	if err != nil {
		s.failed, s.failedAt = s.fail(err), stripe+uint64(len(records))
	}
	if len(records) == 0 {
		return nil, s.failed
	}
	return records[0], nil
}

// call runs one ReadShard of count stripes from first (0: to the end) and
// returns the header and the records it delivered, with the error that
// ended it early, if any.
func (s *RemoteShard) call(ctx context.Context, first, count uint64) ([]byte, [][]byte, error) {
	var cancel context.CancelFunc
	if s.timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, s.timeout)
	} else {
		ctx, cancel = context.WithCancel(ctx)
	}
	defer cancel()
	stream, err := s.client.ReadShard(ctx, &clogspb.ReadShardRequest{ExtentId: s.header.ExtentID, Index: uint32(s.header.Index),
		FirstStripe: first, MaxStripes: count})
	if err != nil {
		return nil, nil, FromStatus(err)
	}
	var head []byte
	var records [][]byte
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return head, records, FromStatus(err)
		}
		if err := s.checkMessage(msg, head == nil, first+uint64(len(records))); err != nil {
			return head, records, err
		}
		if head == nil {
			head = msg.GetHeader()
		}
		records = append(records, msg.GetChunks()...)
	}
	if head == nil || (count > 0 && uint64(len(records)) != count) {
		return head, records, fmt.Errorf("%w: it ended after %d of %d stripes", errBadAnswer, len(records), count)
	}
	return head, records, nil
}

// checkMessage checks one ReadShard answer: the header in the first
// message only (the same bytes as at open), the chunks where they were
// asked for and of the record size.
func (s *RemoteShard) checkMessage(msg *clogspb.ReadShardResponse, first bool, stripe uint64) error {
	switch {
	case first && len(msg.GetHeader()) != erasure.ShardHeaderSize:
		return fmt.Errorf("%w: a header of %d bytes", errBadAnswer, len(msg.GetHeader()))
	case first && s.headerBytes != nil && string(msg.GetHeader()) != string(s.headerBytes):
		return &erasure.HeaderError{Err: erasure.ErrHeaderField, Detail: "the shard's header changed since it was opened"}
	case msg.GetFirstStripe() != stripe:
		return fmt.Errorf("%w: chunks of stripe %d, expected %d", errBadAnswer, msg.GetFirstStripe(), stripe)
	}
	for _, c := range msg.GetChunks() {
		if uint64(len(c)) != s.recordSize {
			return fmt.Errorf("%w: a chunk record of %d bytes, want %d", errBadAnswer, len(c), s.recordSize)
		}
	}
	return nil
}

// fail adds the shard and its node to err.
func (s *RemoteShard) fail(err error) error {
	return fmt.Errorf("extent %d shard %d on %s: %w", s.header.ExtentID, s.header.Index, s.addr, err)
}
