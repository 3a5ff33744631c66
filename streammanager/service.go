package streammanager

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/proto"

	clogspb "github.com/clogs-io/clogs/proto"
)

// maxAllocIDs bounds one AllocID call.
const maxAllocIDs = 10000

// service implements the gRPC StreamManager service: validate, call the
// manager, map the error.
type service struct {
	clogspb.UnsafeStreamManagerServer
	m *Manager
}

var _ clogspb.StreamManagerServer = (*service)(nil)

// status maps an error for the wire, naming the leader on not-leader.
func (s *service) status(err error) error { return ToStatus(s.m.withLeader(err)) }

func (s *service) CreateStream(ctx context.Context, req *clogspb.CreateStreamRequest) (*clogspb.StreamResponse, error) {
	resp, err := s.m.createStream(req.GetName(), req.GetPolicy())
	return resp, s.status(err)
}

func (s *service) StreamInfo(ctx context.Context, req *clogspb.StreamInfoRequest) (*clogspb.StreamResponse, error) {
	if req.GetId() == 0 {
		if err := ValidateStreamName(req.GetName()); err != nil {
			return nil, s.status(err)
		}
	}
	resp, err := s.m.streamInfo(req.GetId(), req.GetName())
	return resp, s.status(err)
}

func (s *service) ListStreams(ctx context.Context, req *clogspb.ListStreamsRequest) (*clogspb.ListStreamsResponse, error) {
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	if _, err := s.m.leaderLocked(); err != nil {
		return nil, s.status(err)
	}
	resp := &clogspb.ListStreamsResponse{Revision: s.m.cache.rev}
	for _, st := range s.m.cache.streams {
		resp.Streams = append(resp.Streams, proto.Clone(st).(*clogspb.StreamMeta))
	}
	sortStreams(resp.Streams)
	return resp, nil
}

func (s *service) ExtentInfo(ctx context.Context, req *clogspb.ExtentInfoRequest) (*clogspb.ExtentInfoResponse, error) {
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	if _, err := s.m.leaderLocked(); err != nil {
		return nil, s.status(err)
	}
	e, ok := s.m.cache.extents[req.GetExtentId()]
	if !ok {
		return nil, s.status(fmt.Errorf("%w: extent %d", ErrNotFound, req.GetExtentId()))
	}
	return &clogspb.ExtentInfoResponse{Extent: s.m.cache.resolved(e), Revision: s.m.cache.rev}, nil
}

func (s *service) NodesInfo(ctx context.Context, req *clogspb.NodesInfoRequest) (*clogspb.NodesInfoResponse, error) {
	resp, err := s.m.nodesInfo()
	return resp, s.status(err)
}

func (s *service) RegisterNode(ctx context.Context, req *clogspb.RegisterNodeRequest) (*clogspb.RegisterNodeResponse, error) {
	resp, err := s.m.registerNode(req)
	return resp, s.status(err)
}

func (s *service) Heartbeat(ctx context.Context, req *clogspb.HeartbeatRequest) (*clogspb.HeartbeatResponse, error) {
	resp, err := s.m.heartbeat(req)
	return resp, s.status(err)
}

func (s *service) StreamAllocExtent(ctx context.Context, req *clogspb.StreamAllocExtentRequest) (*clogspb.StreamResponse, error) {
	if req.GetStreamId() == 0 {
		return nil, s.status(fmt.Errorf("%w: stream ID 0", ErrBadRequest))
	}
	resp, err := s.m.streamAllocExtent(ctx, req.GetStreamId(), req.GetTailExtentId(), req.GetForce())
	return resp, s.status(err)
}

func (s *service) TruncateStream(ctx context.Context, req *clogspb.TruncateStreamRequest) (*clogspb.StreamResponse, error) {
	resp, err := s.m.truncateStream(req.GetStreamId(), req.GetFirstKeptExtentId())
	return resp, s.status(err)
}

func (s *service) DeleteStream(ctx context.Context, req *clogspb.DeleteStreamRequest) (*clogspb.DeleteStreamResponse, error) {
	rev, err := s.m.deleteStream(req.GetStreamId())
	if err != nil {
		return nil, s.status(err)
	}
	return &clogspb.DeleteStreamResponse{Revision: rev}, nil
}

func (s *service) AllocID(ctx context.Context, req *clogspb.AllocIDRequest) (*clogspb.AllocIDResponse, error) {
	n := req.GetCount()
	if n == 0 || n > maxAllocIDs {
		return nil, s.status(fmt.Errorf("%w: count %d, want 1 to %d", ErrBadRequest, n, maxAllocIDs))
	}
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	t, err := s.m.leaderLocked()
	if err != nil {
		return nil, s.status(err)
	}
	first, err := s.m.reserveIDsLocked(t, uint64(n))
	if err != nil {
		return nil, s.status(err)
	}
	return &clogspb.AllocIDResponse{First: first, Count: n}, nil
}

func (s *service) SetStreamPolicy(ctx context.Context, req *clogspb.SetStreamPolicyRequest) (*clogspb.StreamResponse, error) {
	if req.GetStreamId() == 0 {
		return nil, s.status(fmt.Errorf("%w: stream ID 0", ErrBadRequest))
	}
	resp, err := s.m.setStreamPolicy(req.GetStreamId(), req.GetPolicy())
	return resp, s.status(err)
}
