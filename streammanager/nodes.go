package streammanager

import (
	"cmp"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/google/uuid"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	clogspb "github.com/clogs-io/clogs/proto"
)

// nodeLive is what heartbeats told this manager about a node; it is not
// stored in etcd.
type nodeLive struct {
	lastHeartbeat time.Time
	disks         []*clogspb.DiskUsage
}

// registerNode returns the node's ID, creating it for a new UUID and
// updating the address of a known one.
func (m *Manager) registerNode(req *clogspb.RegisterNodeRequest) (*clogspb.RegisterNodeResponse, error) {
	parsed, err := uuid.Parse(req.GetUuid())
	if err != nil {
		return nil, fmt.Errorf("%w: node UUID %q: %v", ErrBadRequest, req.GetUuid(), err)
	}
	// One UUID has several spellings (braces, urn:, case); key on one.
	req = proto.Clone(req).(*clogspb.RegisterNodeRequest)
	req.Uuid = parsed.String()
	if host, port, err := net.SplitHostPort(req.GetAddr()); err != nil || host == "" || port == "" {
		return nil, fmt.Errorf("%w: node address %q is not host:port", ErrBadRequest, req.GetAddr())
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	t, err := m.leaderLocked()
	if err != nil {
		return nil, err
	}
	n := &clogspb.NodeMeta{Uuid: req.GetUuid(), Addr: req.GetAddr(), RegisteredUnixNano: time.Now().UnixNano()}
	if id, ok := m.cache.nodeByUUID[req.GetUuid()]; ok {
		known := m.cache.nodes[id]
		if known.Addr == req.GetAddr() {
			m.noteHeartbeatLocked(id, req.GetDisks())
			return &clogspb.RegisterNodeResponse{NodeId: id, Revision: m.cache.rev}, nil
		}
		n = proto.Clone(known).(*clogspb.NodeMeta)
		n.Addr = req.GetAddr()
	} else if n.Id, err = m.reserveIDsLocked(t, 1); err != nil {
		return nil, err
	}
	rev, err := m.commitLocked(t, nil, clientv3.OpPut(m.cfg.prefix()+idKey(nodesDir, n.Id), mustMarshal(n)))
	if err != nil {
		return nil, err
	}
	m.cache.putNode(n)
	m.noteHeartbeatLocked(n.Id, req.GetDisks())
	m.lg.Info("node registered", zap.Uint64("node", n.Id), zap.String("addr", n.Addr), zap.String("uuid", n.Uuid))
	return &clogspb.RegisterNodeResponse{NodeId: n.Id, Revision: rev}, nil
}

func (m *Manager) noteHeartbeatLocked(id uint64, disks []*clogspb.DiskUsage) {
	m.live[id] = &nodeLive{lastHeartbeat: time.Now(), disks: disks}
}

// heartbeat records a node's liveness and disks, and answers with seal
// orders for replicas it reports unsealed that the metadata has sealed.
func (m *Manager) heartbeat(req *clogspb.HeartbeatRequest) (*clogspb.HeartbeatResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.leaderLocked(); err != nil {
		return nil, err
	}
	if _, ok := m.cache.nodes[req.GetNodeId()]; !ok {
		return nil, fmt.Errorf("%w: node %d (register first)", ErrNotFound, req.GetNodeId())
	}
	m.noteHeartbeatLocked(req.GetNodeId(), req.GetDisks())
	resp := &clogspb.HeartbeatResponse{Revision: m.cache.rev}
	if req.GetFullReport() {
		resp.DeleteExtents = m.noteReportLocked(req.GetNodeId(), req.GetReplicas())
		m.noteShardsLocked(req.GetNodeId(), req.GetShards())
	}
	for _, r := range req.GetUnsealed() {
		e, ok := m.cache.extents[r.GetExtentId()]
		switch {
		case !ok:
			resp.UnknownExtents = append(resp.UnknownExtents, r.GetExtentId())
		case !e.Sealed:
		case r.GetCommitLength() >= e.SealedLength:
			resp.Seal = append(resp.Seal, &clogspb.SealOrder{ExtentId: e.Id, Length: e.SealedLength})
		default:
			m.needRepair[e.Id] = req.GetNodeId()
			m.lg.Warn("replica shorter than the sealed length needs repair", zap.Uint64("extent", e.Id), zap.Uint64("node", req.GetNodeId()), zap.Uint64("commit-length", r.GetCommitLength()), zap.Uint64("sealed-length", e.SealedLength))
		}
	}
	return resp, nil
}

// aliveLocked reports whether a node heartbeated within NodeDeadAfter.
func (m *Manager) aliveLocked(id uint64) bool {
	l, ok := m.live[id]
	return ok && time.Since(l.lastHeartbeat) < m.cfg.NodeDeadAfter
}

// nodesInfo lists every node with its liveness.
func (m *Manager) nodesInfo() (*clogspb.NodesInfoResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.leaderLocked(); err != nil {
		return nil, err
	}
	resp := &clogspb.NodesInfoResponse{Revision: m.cache.rev}
	for _, n := range m.cache.nodes {
		st := &clogspb.NodeStatus{Node: proto.Clone(n).(*clogspb.NodeMeta), Alive: m.aliveLocked(n.Id)}
		if l, ok := m.live[n.Id]; ok {
			st.LastHeartbeatUnixNano, st.Disks = l.lastHeartbeat.UnixNano(), l.disks
		}
		resp.Nodes = append(resp.Nodes, st)
	}
	slices.SortFunc(resp.Nodes, func(a, b *clogspb.NodeStatus) int { return cmp.Compare(a.Node.Id, b.Node.Id) })
	return resp, nil
}

// candidatesLocked lists every known node for placement, by ID, with
// what its heartbeats said.
func (m *Manager) candidatesLocked() []Candidate {
	candidates := make([]Candidate, 0, len(m.cache.nodes))
	for _, n := range m.cache.nodes {
		c := Candidate{NodeID: n.Id, Addr: n.Addr, Alive: m.aliveLocked(n.Id)}
		if l, ok := m.live[n.Id]; ok {
			c.Disks = l.disks
		}
		candidates = append(candidates, c)
	}
	slices.SortFunc(candidates, func(a, b Candidate) int { return cmp.Compare(a.NodeID, b.NodeID) })
	return candidates
}

// spareNodeLocked picks a live node with room outside holders (the nodes
// that already hold a replica or a shard of the extent).
func (m *Manager) spareNodeLocked(holders []*clogspb.Replica) (*clogspb.Replica, bool) {
	exclude := make(map[uint64]bool, len(holders))
	for _, r := range holders {
		exclude[r.NodeId] = true
	}
	chosen, err := m.cfg.Placement.Place(m.candidatesLocked(), 1, exclude)
	if err != nil || len(chosen) == 0 {
		return nil, false
	}
	return &clogspb.Replica{NodeId: chosen[0].NodeID, Addr: chosen[0].Addr}, true
}

// place chooses three nodes for a new extent.
func (m *Manager) place(exclude map[uint64]bool) ([]Candidate, error) {
	m.mu.Lock()
	if _, err := m.leaderLocked(); err != nil { // the term may have ended during a retry
		m.mu.Unlock()
		return nil, err
	}
	candidates := m.candidatesLocked()
	m.mu.Unlock()
	return m.cfg.Placement.Place(candidates, 3, exclude)
}
