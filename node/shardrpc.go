package node

import (
	"context"
	"errors"
	"fmt"
	"io"

	"go.uber.org/zap"

	"github.com/clogs-io/clogs/erasure"
	"github.com/clogs-io/clogs/extent"
	"github.com/clogs-io/clogs/extent/vfs"
	clogspb "github.com/clogs-io/clogs/proto"
)

// shardMessage is about how many bytes one PutShard or ReadShard message
// carries (a ReadShard message holds at least one chunk).
const shardMessage = 1 << 20

// EncodeShards codes this node's sealed replica into shards and sends
// them to their nodes; see Node.encodeShards.
func (s *service) EncodeShards(ctx context.Context, req *clogspb.EncodeShardsRequest) (*clogspb.EncodeShardsResponse, error) {
	params, err := validateEncodeShards(req)
	if err != nil {
		return nil, ToStatus(err, req.GetExtentId())
	}
	if s.n.shuttingDown.Load() {
		return nil, ToStatus(ErrShuttingDown, req.GetExtentId())
	}
	size, err := s.n.encodeShards(ctx, req, params)
	if err != nil {
		return nil, ToStatus(err, req.GetExtentId())
	}
	return &clogspb.EncodeShardsResponse{ShardSize: size}, nil
}

// PutShard receives one whole shard file; see Node.putShard.
func (s *service) PutShard(stream clogspb.ExtentService_PutShardServer) error {
	first, err := stream.Recv()
	if err != nil {
		return ToStatus(fmt.Errorf("%w: no first message: %w", ErrBadRequest, err), 0)
	}
	if err := validateShardKey(first.GetExtentId(), first.GetIndex()); err != nil {
		return ToStatus(err, first.GetExtentId())
	}
	if s.n.shuttingDown.Load() {
		return ToStatus(ErrShuttingDown, first.GetExtentId())
	}
	key := shardKey{first.GetExtentId(), int(first.GetIndex())}
	size, err := s.n.putShard(key, first.GetData(), stream.Recv)
	if err != nil {
		return ToStatus(err, key.id)
	}
	s.n.metrics.addBytes("put-shard", size)
	return stream.SendAndClose(&clogspb.PutShardResponse{Size: size})
}

// ReadShard streams a shard's header and chunks; see Node.streamShard.
func (s *service) ReadShard(req *clogspb.ReadShardRequest, stream clogspb.ExtentService_ReadShardServer) error {
	if err := validateShardKey(req.GetExtentId(), req.GetIndex()); err != nil {
		return ToStatus(err, req.GetExtentId())
	}
	sf, err := s.n.shard(shardKey{req.GetExtentId(), int(req.GetIndex())})
	if err != nil {
		return ToStatus(err, req.GetExtentId())
	}
	sent, err := s.n.streamShard(stream, sf, req)
	s.n.metrics.addBytes("read-shard", sent)
	return ToStatus(err, req.GetExtentId())
}

func (s *service) DeleteShard(ctx context.Context, req *clogspb.DeleteShardRequest) (*clogspb.DeleteShardResponse, error) {
	if err := validateShardKey(req.GetExtentId(), req.GetIndex()); err != nil {
		return nil, ToStatus(err, req.GetExtentId())
	}
	if err := s.n.removeShard(shardKey{req.GetExtentId(), int(req.GetIndex())}); err != nil {
		return nil, ToStatus(err, req.GetExtentId())
	}
	return &clogspb.DeleteShardResponse{}, nil
}

func validateShardKey(id uint64, index uint32) error {
	if err := validateExtentID(id); err != nil {
		return err
	}
	if index >= erasure.MaxShards {
		return fmt.Errorf("%w: shard index %d, at most %d", ErrBadRequest, index, erasure.MaxShards-1)
	}
	return nil
}

// validateEncodeShards checks an EncodeShards request and returns its
// coding.
func validateEncodeShards(req *clogspb.EncodeShardsRequest) (erasure.Params, error) {
	if err := validateExtentID(req.GetExtentId()); err != nil {
		return erasure.Params{}, err
	}
	params := erasure.Params{DataShards: int(req.GetDataShards()), ParityShards: int(req.GetParityShards()), ChunkSize: int(req.GetChunkSize())}
	if params.ChunkSize == 0 {
		params.ChunkSize = erasure.DefaultChunkSize
	}
	if err := params.Validate(); err != nil {
		return erasure.Params{}, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	if length := req.GetSealedLength(); length < extent.ExtentHeaderSize || length%extent.BlockHeaderSize != 0 || length > erasure.MaxSealedLength {
		return erasure.Params{}, fmt.Errorf("%w: sealed length %d is not a block boundary", ErrBadRequest, length)
	}
	targets := req.GetTargets()
	if len(targets) != params.Shards() {
		return erasure.Params{}, fmt.Errorf("%w: %d targets for %s", ErrBadRequest, len(targets), params)
	}
	seen := map[string]bool{}
	for i, t := range targets {
		if !isHostPort(t.GetAddr()) || seen[t.GetAddr()] {
			return erasure.Params{}, fmt.Errorf("%w: target %d address %q is not host:port or is there twice", ErrBadRequest, i, t.GetAddr())
		}
		seen[t.GetAddr()] = true
	}
	return params, nil
}

// encodeShards checks every block of the local replica of the request's
// extent, codes it with params and streams shard i to target i. It
// returns after every target made its shard durable and verified it, with
// the size of each shard file. On a failure the streams still open are
// cancelled and their targets keep nothing; targets that already answered
// keep their whole shard. The node deletes none: only the manager knows
// whether a shard of that name is part of a layout in use.
func (n *Node) encodeShards(ctx context.Context, req *clogspb.EncodeShardsRequest, params erasure.Params) (uint64, error) {
	id, length := req.GetExtentId(), req.GetSealedLength()
	// A repair must not replace the replica while it is read.
	release, err := n.lockRepair(ctx, id)
	if err != nil {
		return 0, fmt.Errorf("extent %d: waiting for a repair: %w", id, err)
	}
	defer release()
	src, err := n.encodeSource(id, length)
	if err != nil {
		return 0, err
	}
	defer src.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	senders := make([]*shardSender, params.Shards())
	writers := make([]io.Writer, params.Shards())
	for i, target := range req.GetTargets() {
		if senders[i], err = n.openShardSender(ctx, id, i, target.GetAddr()); err != nil {
			return 0, err
		}
		writers[i] = senders[i]
	}
	if err := erasure.Encode(src, id, length, params, writers); err != nil {
		return 0, err
	}
	// Close every stream first, so that the targets sync and verify in
	// parallel, then hear each answer.
	for _, s := range senders {
		if err := s.closeSend(); err != nil {
			return 0, err
		}
	}
	for _, s := range senders {
		if err := s.answer(); err != nil {
			return 0, err
		}
	}
	n.metrics.addBytes("encode", length)
	n.lg.Info("encoded extent into shards", zap.Uint64("extent", id), zap.Stringer("coding", params), zap.Int("chunk-size", params.ChunkSize),
		zap.Uint64("shard-size", params.ShardSize(length)))
	return params.ShardSize(length), nil
}

// encodeSource checks the local replica of extent id, sealed at length,
// block by block, and opens its file for reading. The caller holds the
// extent's repair lock, so the file stays the one checked.
func (n *Node) encodeSource(id, length uint64) (vfs.File, error) {
	r, err := n.replica(id)
	if err != nil {
		return nil, err
	}
	sealedAt, sealed := r.ext.Sealed()
	switch {
	case !sealed:
		return nil, fmt.Errorf("extent %d: %w", id, ErrNotSealed)
	case sealedAt != length:
		return nil, fmt.Errorf("extent %d: %w: the replica is sealed at %d, not %d", id, extent.ErrSealConflict, sealedAt, length)
	case r.damaged() != nil:
		return nil, fmt.Errorf("extent %d: the replica is damaged: %w", id, r.damaged())
	}
	path := r.disk.extentPath(id)
	f, err := n.fsys().OpenReadOnly(path)
	if err != nil {
		r.disk.noteError(err)
		return nil, fmt.Errorf("extent %d: open the replica to encode: %w", id, err)
	}
	// Inspect checks the extent header as well as every block.
	report, err := extent.Inspect(n.fsys(), path, nil)
	if err == nil && report.Problem != nil {
		err = report.Problem
	}
	if err == nil && (report.SealedLength != length || report.ValidEnd != length) {
		err = fmt.Errorf("%w: the file is sealed at %d with blocks to %d", extent.ErrSealConflict, report.SealedLength, report.ValidEnd)
	}
	if err != nil {
		f.Close()
		var corrupt *extent.CorruptionError
		if errors.As(err, &corrupt) {
			n.markDamaged(r, corrupt)
		}
		return nil, fmt.Errorf("extent %d: check the replica to encode: %w", id, err)
	}
	return f, nil
}

// shardSender writes one shard to its target through a PutShard stream,
// in messages of shardMessage bytes.
type shardSender struct {
	id     uint64
	index  int
	addr   string
	stream clogspb.ExtentService_PutShardClient
	buf    []byte
	sent   bool // the first message, which names the shard, is sent
}

func (n *Node) openShardSender(ctx context.Context, id uint64, index int, addr string) (*shardSender, error) {
	s := &shardSender{id: id, index: index, addr: addr}
	cc, err := n.pool.Get(ctx, addr)
	if err != nil {
		return nil, s.fail(err)
	}
	if s.stream, err = clogspb.NewExtentServiceClient(cc).PutShard(ctx); err != nil {
		return nil, s.fail(FromStatus(err))
	}
	return s, nil
}

// fail wraps a failure of the target.
func (s *shardSender) fail(err error) error {
	return fmt.Errorf("extent %d: shard %d to %s: %w: %w", s.id, s.index, s.addr, ErrShardTargetFailed, err)
}

func (s *shardSender) Write(p []byte) (int, error) {
	written := len(p)
	for len(p) > 0 {
		if s.buf == nil {
			s.buf = make([]byte, 0, shardMessage) // a sent message's buffer is never reused
		}
		take := min(len(p), shardMessage-len(s.buf))
		s.buf, p = append(s.buf, p[:take]...), p[take:]
		if len(s.buf) == shardMessage {
			if err := s.flush(); err != nil {
				return 0, err
			}
		}
	}
	return written, nil
}

func (s *shardSender) flush() error {
	if len(s.buf) == 0 && s.sent {
		return nil
	}
	msg := &clogspb.PutShardRequest{Data: s.buf}
	if !s.sent {
		msg.ExtentId, msg.Index = s.id, uint32(s.index)
	}
	s.buf, s.sent = nil, true
	if err := s.stream.Send(msg); err != nil {
		if errors.Is(err, io.EOF) {
			// The target ended the stream; its status says why.
			_, err = s.stream.CloseAndRecv()
		}
		return s.fail(FromStatus(err))
	}
	return nil
}

// closeSend sends what is buffered and ends the stream.
func (s *shardSender) closeSend() error {
	if err := s.flush(); err != nil {
		return err
	}
	if err := s.stream.CloseSend(); err != nil {
		return s.fail(FromStatus(err))
	}
	return nil
}

// answer waits for the target's answer: its shard is durable and
// verified.
func (s *shardSender) answer() error {
	var resp clogspb.PutShardResponse
	if err := s.stream.RecvMsg(&resp); err != nil {
		return s.fail(FromStatus(err))
	}
	return nil
}

// putShard writes the shard file that recv streams (first is the first
// message's data), as key on the disk with the most room: under a partial
// name, checked against key as its header arrives, then fsynced, verified
// chunk by chunk, and renamed into place. A put that fails leaves
// nothing; one put per shard at a time.
func (n *Node) putShard(key shardKey, first []byte, recv func() (*clogspb.PutShardRequest, error)) (size uint64, err error) {
	release, err := n.startPut(key)
	if err != nil {
		return 0, err
	}
	defer release()
	d, err := pickDisk(n.disks, n.cfg.HighWaterMark)
	if err != nil {
		return 0, fmt.Errorf("extent %d shard %d: %w", key.id, key.index, err)
	}
	partial := d.shardPath(key.id, key.index) + partialSuffix
	n.fsys().Remove(partial) // left by a put whose node crashed, if any
	w, err := erasure.CreateFile(n.fsys(), partial)
	if err != nil {
		d.noteError(err)
		return 0, fmt.Errorf("extent %d shard %d: %w", key.id, key.index, err)
	}
	defer func() {
		if err != nil {
			w.Abort()
		}
	}()
	rx := &shardReceiver{key: key, w: w, disk: d}
	if err := rx.receive(first, recv); err != nil {
		return 0, err
	}
	if err := w.Commit(); err != nil {
		d.noteError(err)
		return 0, fmt.Errorf("extent %d shard %d: %w", key.id, key.index, err)
	}
	if err := n.verifyShardFile(partial, key); err != nil {
		return 0, err
	}
	if err := n.installShard(d, key, partial, rx.header); err != nil {
		return 0, err
	}
	return rx.written, nil
}

// startPut marks a put of key as running, or fails if one is.
func (n *Node) startPut(key shardKey) (release func(), err error) {
	n.shardMu.Lock()
	defer n.shardMu.Unlock()
	if n.putting[key] {
		return nil, fmt.Errorf("extent %d shard %d: %w: another PutShard of it runs", key.id, key.index, ErrExists)
	}
	n.putting[key] = true
	return func() {
		n.shardMu.Lock()
		delete(n.putting, key)
		n.shardMu.Unlock()
	}, nil
}

// verifyShardFile checks a written shard file whole: header, size, name
// and every chunk.
func (n *Node) verifyShardFile(path string, key shardKey) error {
	s, err := erasure.OpenFile(n.fsys(), path)
	if err == nil {
		defer s.Close()
		if err = checkShardKey(s.Header(), key); err == nil {
			err = s.Verify()
		}
	}
	if err != nil {
		return fmt.Errorf("extent %d shard %d: the shard written fails its check: %w", key.id, key.index, err)
	}
	return nil
}

// shardReceiver writes a PutShard stream to a file, checking the header
// against the shard's name as soon as it is whole and the length against
// the header.
type shardReceiver struct {
	key     shardKey
	w       *erasure.FileWriter
	disk    *disk
	head    []byte              // the header's bytes until it is whole
	header  erasure.ShardHeader // once it is whole
	size    uint64              // the file's size by the header; 0 until known
	written uint64
}

func (rx *shardReceiver) receive(first []byte, recv func() (*clogspb.PutShardRequest, error)) error {
	if err := rx.write(first); err != nil {
		return err
	}
	for {
		msg, err := recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("extent %d shard %d: receive: %w", rx.key.id, rx.key.index, err)
		}
		if err := rx.write(msg.GetData()); err != nil {
			return err
		}
	}
	if rx.size == 0 || rx.written != rx.size {
		return fmt.Errorf("%w: extent %d shard %d: the stream ended at %d bytes, the shard has %d", ErrBadRequest, rx.key.id, rx.key.index, rx.written, rx.size)
	}
	return nil
}

func (rx *shardReceiver) write(p []byte) error {
	if rx.size == 0 {
		take := min(len(p), erasure.ShardHeaderSize-len(rx.head))
		rx.head = append(rx.head, p[:take]...)
		if len(rx.head) == erasure.ShardHeaderSize {
			if err := rx.checkHeader(); err != nil {
				return err
			}
		}
	}
	if rx.size > 0 && uint64(len(p)) > rx.size-rx.written {
		return fmt.Errorf("%w: extent %d shard %d: more than the %d bytes the header says", ErrBadRequest, rx.key.id, rx.key.index, rx.size)
	}
	if _, err := rx.w.Write(p); err != nil {
		rx.disk.noteError(err)
		return fmt.Errorf("extent %d shard %d: %w", rx.key.id, rx.key.index, err)
	}
	rx.written += uint64(len(p))
	return nil
}

func (rx *shardReceiver) checkHeader() error {
	h, err := erasure.DecodeShardHeader(rx.head)
	if err != nil {
		return fmt.Errorf("%w: extent %d shard %d: %w", ErrBadRequest, rx.key.id, rx.key.index, err)
	}
	if h.ExtentID != rx.key.id || h.Index != rx.key.index {
		return fmt.Errorf("%w: put as extent %d shard %d, the header says extent %d shard %d", ErrBadRequest, rx.key.id, rx.key.index, h.ExtentID, h.Index)
	}
	rx.header, rx.size = h, h.ShardSize()
	return nil
}

// streamShard sends the header and the chunks of the stripes req asks for,
// each checked first, and returns the bytes of chunks sent. A chunk that
// fails its check ends the stream after the chunks before it, and marks
// the shard damaged.
func (n *Node) streamShard(stream clogspb.ExtentService_ReadShardServer, sf *shardFile, req *clogspb.ReadShardRequest) (uint64, error) {
	sh, err := erasure.OpenFile(n.fsys(), sf.path)
	if err != nil {
		n.noteShardError(sf, err)
		return 0, err
	}
	defer sh.Close()
	h := sh.Header()
	first := req.GetFirstStripe()
	if first > h.Stripes {
		return 0, fmt.Errorf("%w: stripe %d of %d", ErrBadRequest, first, h.Stripes)
	}
	end := h.Stripes
	if limit := req.GetMaxStripes(); limit > 0 && limit < end-first {
		end = first + limit
	}
	perMessage := max(1, shardMessage/sh.RecordSize())
	resp := &clogspb.ReadShardResponse{Header: erasure.EncodeShardHeader(h), FirstStripe: first}
	var sent uint64
	for stripe := first; ; {
		var readErr error
		for stripe < end && len(resp.Chunks) < perMessage {
			record := make([]byte, sh.RecordSize())
			if _, readErr = sh.ReadChunk(stripe, record); readErr != nil {
				break
			}
			resp.Chunks = append(resp.Chunks, record)
			stripe++
		}
		if readErr == nil || len(resp.Chunks) > 0 {
			if err := stream.Send(resp); err != nil {
				return sent, err
			}
			sent += uint64(len(resp.Chunks) * sh.RecordSize())
		}
		if readErr != nil {
			n.noteShardError(sf, readErr)
			return sent, readErr
		}
		if stripe >= end {
			return sent, nil
		}
		resp = &clogspb.ReadShardResponse{FirstStripe: stripe}
	}
}

// noteShardError marks sf damaged when err is a failed check, and its disk
// failed when err is an I/O error.
func (n *Node) noteShardError(sf *shardFile, err error) {
	if errors.Is(err, erasure.ErrCorrupt) || errors.Is(err, erasure.ErrBadHeader) {
		n.markShardDamaged(sf, err)
		return
	}
	sf.disk.noteError(err)
}
