package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/clogs-io/clogs/extent"
	clogspb "github.com/clogs-io/clogs/proto"
)

// Request limits beyond those of the extent format.
const (
	// MaxBlocksPerCall bounds the blocks of one append or replicate call.
	MaxBlocksPerCall = 4096
	// MaxWait bounds how long a tailing read waits for new blocks.
	MaxWait = time.Minute
	// readChunk is how many bytes of blocks one streamed message carries
	// (a larger single block goes alone).
	readChunk = 1 << 20
	// ReplicationFactor is the number of replicas of every extent.
	ReplicationFactor = 3
)

// service implements the gRPC ExtentService. Each handler validates, calls
// the node, and maps the error through ToStatus.
type service struct {
	clogspb.UnsafeExtentServiceServer
	n *Node
}

var _ clogspb.ExtentServiceServer = (*service)(nil)

func (s *service) AppendBlocks(ctx context.Context, req *clogspb.AppendBlocksRequest) (*clogspb.AppendBlocksResponse, error) {
	c, err := validateAppend(req)
	if err != nil {
		return nil, ToStatus(err, req.GetExtentId())
	}
	r, err := s.n.replica(req.GetExtentId())
	if err != nil {
		return nil, ToStatus(err, req.GetExtentId())
	}
	if err := r.append(ctx, s.n.deps, c); err != nil {
		return nil, ToStatus(err, req.GetExtentId())
	}
	s.n.metrics.addBytes("append", c.size)
	return &clogspb.AppendBlocksResponse{Offsets: c.offsets, End: c.end}, nil
}

func (s *service) ReplicateBlocks(ctx context.Context, req *clogspb.ReplicateBlocksRequest) (*clogspb.ReplicateBlocksResponse, error) {
	blocks, size, err := validateBlocks(req.GetExtentId(), req.GetBlocks())
	if err != nil {
		return nil, ToStatus(err, req.GetExtentId())
	}
	r, err := s.n.replica(req.GetExtentId())
	if err != nil {
		return nil, ToStatus(err, req.GetExtentId())
	}
	end, err := r.replicate(ctx, req.GetOffset(), blocks)
	if err != nil {
		return nil, ToStatus(err, req.GetExtentId())
	}
	s.n.metrics.addBytes("replicate", size)
	return &clogspb.ReplicateBlocksResponse{End: end}, nil
}

func (s *service) ReadBlocks(req *clogspb.ReadBlocksRequest, stream clogspb.ExtentService_ReadBlocksServer) error {
	if err := validateRead(req); err != nil {
		return ToStatus(err, req.GetExtentId())
	}
	r, err := s.n.replica(req.GetExtentId())
	if err != nil {
		return ToStatus(err, req.GetExtentId())
	}
	sent, err := s.streamBlocks(stream, r, req)
	s.n.metrics.addBytes("read", sent)
	var corrupt *extent.CorruptionError
	if errors.As(err, &corrupt) {
		s.n.markDamaged(r, corrupt)
	}
	return ToStatus(err, req.GetExtentId())
}

// streamBlocks sends blocks from req.Offset on, up to the readable end and
// req.MaxBytes, waiting first for new blocks when asked to. It returns the
// payload bytes sent. At least one message is sent on success, so that the
// reader learns the end.
func (s *service) streamBlocks(stream clogspb.ExtentService_ReadBlocksServer, r *replica, req *clogspb.ReadBlocksRequest) (uint64, error) {
	// Without wait_ms the wait is over at once: a reader at the end hears
	// "no blocks" right away.
	ctx, cancel := context.WithTimeout(stream.Context(), time.Duration(req.GetWaitMs())*time.Millisecond)
	defer cancel()
	offset := req.GetOffset()
	limit, sealed, err := r.waitReadable(ctx, offset)
	if err != nil {
		return 0, err
	}
	// A read of a damaged replica that reaches its first bad block stops
	// there with the corruption found, even if the bytes would read back
	// well now: the replica is going to be replaced. Blocks before it, and
	// reads from past it, are served. The end told to the reader stays
	// the extent's.
	readEnd, damage := limit, r.damaged()
	if damage != nil && offset <= damage.Offset && damage.Offset < limit {
		readEnd = damage.Offset
	} else {
		damage = nil
	}
	budget := req.GetMaxBytes()
	var sent uint64
	for messages := 0; ; messages++ {
		if damage != nil && offset >= readEnd {
			return sent, damage
		}
		resp, used, err := readMessage(r, offset, readEnd, budget)
		if err != nil {
			return sent, err
		}
		if len(resp.Blocks) == 0 && messages > 0 {
			return sent, nil
		}
		resp.End, resp.Sealed = limit, sealed
		if err := stream.Send(resp); err != nil {
			return sent, err
		}
		sent += used
		offset = resp.NextOffset
		if len(resp.Blocks) == 0 || (budget > 0 && used >= budget) {
			return sent, nil
		}
		if budget > 0 {
			budget -= used
		}
	}
}

// readMessage reads the blocks of one streamed message.
func readMessage(r *replica, offset, limit, budget uint64) (*clogspb.ReadBlocksResponse, uint64, error) {
	size := uint64(readChunk)
	if budget > 0 {
		size = min(size, budget)
	}
	blocks, next, err := r.ext.ReadBefore(offset, limit, make([]byte, size))
	if err != nil {
		return nil, 0, err
	}
	resp := &clogspb.ReadBlocksResponse{NextOffset: next, Blocks: make([]*clogspb.BlockAt, len(blocks))}
	var used uint64
	for i, b := range blocks {
		resp.Blocks[i] = &clogspb.BlockAt{Offset: b.Offset, Payload: b.Payload, UserData: b.UserData}
		used += extent.BlockSize(len(b.Payload))
	}
	return resp, used, nil
}

func (s *service) AllocExtent(ctx context.Context, req *clogspb.AllocExtentRequest) (*clogspb.AllocExtentResponse, error) {
	if err := validateAlloc(req); err != nil {
		return nil, ToStatus(err, req.GetExtentId())
	}
	if s.n.shuttingDown.Load() {
		return nil, ToStatus(ErrShuttingDown, req.GetExtentId())
	}
	if err := s.n.alloc(req.GetExtentId(), req.GetReplicas(), int(req.GetSelfIndex())); err != nil {
		return nil, ToStatus(err, req.GetExtentId())
	}
	return &clogspb.AllocExtentResponse{}, nil
}

func (s *service) CommitLength(ctx context.Context, req *clogspb.CommitLengthRequest) (*clogspb.CommitLengthResponse, error) {
	if err := validateExtentID(req.GetExtentId()); err != nil {
		return nil, ToStatus(err, req.GetExtentId())
	}
	r, err := s.n.replica(req.GetExtentId())
	if err != nil {
		return nil, ToStatus(err, req.GetExtentId())
	}
	length, sealed := r.ext.Sealed()
	if req.GetFence() {
		length, sealed = r.fence()
	}
	return &clogspb.CommitLengthResponse{Length: length, Sealed: sealed}, nil
}

func (s *service) Seal(ctx context.Context, req *clogspb.SealRequest) (*clogspb.SealResponse, error) {
	if err := validateExtentID(req.GetExtentId()); err != nil {
		return nil, ToStatus(err, req.GetExtentId())
	}
	r, err := s.n.replica(req.GetExtentId())
	if err != nil {
		return nil, ToStatus(err, req.GetExtentId())
	}
	if err := r.seal(req.GetLength()); err != nil {
		return nil, ToStatus(err, req.GetExtentId())
	}
	return &clogspb.SealResponse{}, nil
}

func (s *service) DeleteExtent(ctx context.Context, req *clogspb.DeleteExtentRequest) (*clogspb.DeleteExtentResponse, error) {
	if err := validateExtentID(req.GetExtentId()); err != nil {
		return nil, ToStatus(err, req.GetExtentId())
	}
	if err := s.n.remove(req.GetExtentId()); err != nil {
		return nil, ToStatus(err, req.GetExtentId())
	}
	return &clogspb.DeleteExtentResponse{}, nil
}

func (s *service) DiskUsage(ctx context.Context, req *clogspb.DiskUsageRequest) (*clogspb.DiskUsageResponse, error) {
	return &clogspb.DiskUsageResponse{Disks: s.n.diskUsage()}, nil
}

// diskUsage reports every disk.
func (n *Node) diskUsage() []*clogspb.DiskUsage {
	var out []*clogspb.DiskUsage
	for _, d := range n.disks {
		u := &clogspb.DiskUsage{DiskId: d.id, Path: d.path, Extents: uint32(d.extentCount())}
		total, free, err := d.usage()
		if err != nil {
			d.noteError(err)
		}
		u.TotalBytes, u.FreeBytes = total, free
		u.Full = err == nil && aboveHighWater(total, free, n.cfg.HighWaterMark)
		if f := d.failed(); f != nil {
			u.Failed, u.Failure = true, f.Error()
		}
		out = append(out, u)
	}
	return out
}

func validateExtentID(id uint64) error {
	if id == 0 {
		return fmt.Errorf("%w: extent ID 0", ErrBadRequest)
	}
	return nil
}

// validateAppend checks an AppendBlocks request and converts it.
func validateAppend(req *clogspb.AppendBlocksRequest) (*clientAppend, error) {
	blocks, size, err := validateBlocks(req.GetExtentId(), req.GetBlocks())
	if err != nil {
		return nil, err
	}
	c := &clientAppend{blocks: blocks, pbBlocks: req.GetBlocks(), size: size, done: make(chan struct{})}
	if req.ExpectedOffset != nil {
		expected := req.GetExpectedOffset()
		if expected < extent.ExtentHeaderSize || expected%extent.BlockHeaderSize != 0 {
			return nil, fmt.Errorf("%w: expected offset %d is not a block offset", ErrBadRequest, expected)
		}
		c.expected = &expected
	}
	return c, nil
}

// validateBlocks checks the blocks of an append or replicate call against
// the format's limits, before anything is written.
func validateBlocks(id uint64, pbBlocks []*clogspb.Block) ([]extent.Block, uint64, error) {
	if err := validateExtentID(id); err != nil {
		return nil, 0, err
	}
	if len(pbBlocks) == 0 || len(pbBlocks) > MaxBlocksPerCall {
		return nil, 0, fmt.Errorf("%w: %d blocks, want 1 to %d", ErrBadRequest, len(pbBlocks), MaxBlocksPerCall)
	}
	blocks := make([]extent.Block, len(pbBlocks))
	var size uint64
	for i, b := range pbBlocks {
		if n := len(b.GetPayload()); n == 0 || n > extent.MaxPayload {
			return nil, 0, fmt.Errorf("block %d: %w: payload of %d bytes, want 1 to %d", i, extent.ErrBlockSize, n, extent.MaxPayload)
		}
		if n := len(b.GetUserData()); n > extent.MaxUserData {
			return nil, 0, fmt.Errorf("block %d: %w: %d bytes, at most %d", i, extent.ErrUserDataSize, n, extent.MaxUserData)
		}
		blocks[i] = extent.Block{Payload: b.GetPayload(), UserData: b.GetUserData()}
		size += extent.BlockSize(len(b.GetPayload()))
	}
	return blocks, size, nil
}

func validateRead(req *clogspb.ReadBlocksRequest) error {
	if err := validateExtentID(req.GetExtentId()); err != nil {
		return err
	}
	if wait := time.Duration(req.GetWaitMs()) * time.Millisecond; wait > MaxWait {
		return fmt.Errorf("%w: wait %v is above %v", ErrBadRequest, wait, MaxWait)
	}
	return nil
}

func validateAlloc(req *clogspb.AllocExtentRequest) error {
	if err := validateExtentID(req.GetExtentId()); err != nil {
		return err
	}
	return validateReplicaSet(req.GetReplicas(), req.GetSelfIndex())
}

// validateReplicaSet checks an extent's replica set and this node's index
// in it.
func validateReplicaSet(set []*clogspb.Replica, self uint32) error {
	if len(set) != ReplicationFactor {
		return fmt.Errorf("%w: %d replicas, want %d", ErrBadRequest, len(set), ReplicationFactor)
	}
	if int(self) >= len(set) {
		return fmt.Errorf("%w: self index %d of %d replicas", ErrBadRequest, self, len(set))
	}
	seen := map[string]bool{}
	for i, rep := range set {
		if !isHostPort(rep.GetAddr()) {
			return fmt.Errorf("%w: replica %d address %q is not host:port", ErrBadRequest, i, rep.GetAddr())
		}
		if seen[rep.GetAddr()] {
			return fmt.Errorf("%w: replica address %s twice", ErrBadRequest, rep.GetAddr())
		}
		seen[rep.GetAddr()] = true
	}
	return nil
}

func isHostPort(addr string) bool {
	host, port, err := net.SplitHostPort(addr)
	return err == nil && host != "" && port != ""
}

// RepairExtent makes this node's replica of a sealed extent whole; see
// Node.repair.
func (s *service) RepairExtent(ctx context.Context, req *clogspb.RepairExtentRequest) (*clogspb.RepairExtentResponse, error) {
	if err := s.n.validateRepair(req); err != nil {
		return nil, ToStatus(err, req.GetExtentId())
	}
	if s.n.shuttingDown.Load() {
		return nil, ToStatus(ErrShuttingDown, req.GetExtentId())
	}
	copied, err := s.n.repair(ctx, req)
	if err != nil {
		return nil, ToStatus(err, req.GetExtentId())
	}
	return &clogspb.RepairExtentResponse{CopiedBytes: copied}, nil
}
