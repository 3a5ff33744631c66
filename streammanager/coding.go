package streammanager

// Erasure coding of cold extents (issue "Erasure-code sealed extents").
// A stream whose policy names d+p codes its sealed extents once they have
// been sealed for ec_after_seconds and are whole on all three replicas:
//
//  1. a node holding a whole replica encodes it (EncodeShards) and sends
//     shard i to node i of d+p distinct live nodes; each fsyncs and
//     verifies its shard before the call returns;
//  2. one guarded transaction records the layout (ExtentMeta.erasure) and
//     drops the replicas from the metadata;
//  3. the replica files, no longer referenced, are deleted by their nodes
//     after GCGrace, like any orphan.
//
// A crash before step 2 leaves the replicated layout valid and shard files
// no layout references, which are deleted after GCGrace (deleteOrphan-
// Shards); after step 2 the coded layout is whole. Never neither.

import (
	"cmp"
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	clogspb "github.com/clogs-io/clogs/proto"
)

// Limits of the shard format (package erasure): checked here so that a
// policy the nodes would refuse is refused when it is set.
const (
	maxDataShards   = 32
	maxParityShards = 16
)

// validateCoding checks a policy's d+p against the format and the live
// nodes (each shard needs its own node).
func (m *Manager) validateCoding(p *clogspb.StreamPolicy) error {
	d, par := p.GetEcData(), p.GetEcParity()
	if d == 0 && par == 0 {
		return nil
	}
	switch {
	case d == 0 || par == 0:
		return fmt.Errorf("%w: erasure coding %d+%d: both data and parity shards must be at least 1", ErrBadRequest, d, par)
	case d > maxDataShards || par > maxParityShards || d+par > maxDataShards:
		return fmt.Errorf("%w: erasure coding %d+%d: at most %d data, %d parity, %d in all", ErrBadRequest, d, par, maxDataShards, maxParityShards, maxDataShards)
	case p.GetEcAfterSeconds() < 0:
		return fmt.Errorf("%w: ec-after %ds is negative", ErrBadRequest, p.GetEcAfterSeconds())
	}
	m.mu.Lock()
	live := 0
	if m.cache != nil {
		for id := range m.cache.nodes {
			if m.aliveLocked(id) {
				live++
			}
		}
	}
	m.mu.Unlock()
	if int(d+par) > live {
		return fmt.Errorf("%w: erasure coding %d+%d needs %d live nodes, %d are alive", ErrBadRequest, d, par, d+par, live)
	}
	return nil
}

// codingTask codes one extent.
type codingTask struct {
	extent  *clogspb.ExtentMeta // resolved
	policy  *clogspb.StreamPolicy
	sources []*clogspb.Replica // whole replicas, best first
}

// planCoding finds sealed extents whose stream's policy says to code them
// now: sealed long enough, whole on every replica, not being repaired.
func (m *Manager) planCoding(now time.Time) []codingTask {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.term == nil {
		return nil
	}
	var tasks []codingTask
	for _, s := range m.cache.streams {
		p := s.GetPolicy()
		if p.GetEcData() == 0 {
			continue
		}
		for _, id := range s.ExtentIds[:max(len(s.ExtentIds)-1, 0)] {
			if task, ok := m.codingTaskLocked(id, p, now); ok {
				tasks = append(tasks, task)
			}
		}
	}
	return tasks
}

func (m *Manager) codingTaskLocked(id uint64, p *clogspb.StreamPolicy, now time.Time) (codingTask, bool) {
	stored := m.cache.extents[id]
	if stored == nil || !stored.Sealed || stored.Erasure != nil || m.repairing[id] {
		return codingTask{}, false
	}
	sealedAt := time.Unix(0, cmp.Or(stored.SealedUnixNano, stored.CreatedUnixNano))
	if now.Sub(sealedAt) < time.Duration(p.GetEcAfterSeconds())*time.Second {
		return codingTask{}, false
	}
	e := m.cache.resolved(stored)
	var whole []*clogspb.Replica
	for _, r := range e.Replicas {
		if state, _ := m.replicaStateLocked(e, r, now); state == replicaWhole {
			whole = append(whole, r)
		}
	}
	if len(whole) != len(e.Replicas) || len(whole) == 0 {
		return codingTask{}, false // heal first: code only from a fully replicated extent
	}
	return codingTask{extent: e, policy: p, sources: whole}, true
}

// runCoding codes one extent: shards to d+p nodes, then the layout.
func (m *Manager) runCoding(ctx context.Context, task codingTask) {
	e := task.extent
	if !m.claimRepair(e.Id) {
		return
	}
	defer m.releaseRepair(e.Id)
	d, p := task.policy.GetEcData(), task.policy.GetEcParity()
	lg := m.lg.With(zap.Uint64("extent", e.Id), zap.String("coding", fmt.Sprintf("%d+%d", d, p)))
	targets, err := m.placeShards(int(d + p))
	if err != nil {
		lg.Warn("no nodes for the shards; the extent stays replicated", zap.Error(err))
		return
	}
	ctx, cancel := context.WithTimeout(ctx, m.cfg.RepairTimeout)
	defer cancel()
	req := &clogspb.EncodeShardsRequest{ExtentId: e.Id, SealedLength: e.SealedLength, DataShards: d, ParityShards: p, Targets: targets}
	var resp *clogspb.EncodeShardsResponse
	for _, source := range task.sources {
		resp, err = extentCall(m, ctx, source.Addr, func(c clogspb.ExtentServiceClient) (*clogspb.EncodeShardsResponse, error) {
			return c.EncodeShards(ctx, req)
		})
		if err == nil {
			break
		}
		lg.Warn("encode failed at a source; trying the next", zap.Uint64("source", source.NodeId), zap.Error(err))
	}
	if err != nil {
		m.metrics.codings.WithLabelValues("failed").Inc()
		return // the shards written are orphans, deleted after GCGrace
	}
	layout := &clogspb.ErasureLayout{DataShards: d, ParityShards: p, Shards: targets, CodedUnixNano: time.Now().UnixNano()}
	if err := m.publishCoded(e, layout); err != nil {
		m.metrics.codings.WithLabelValues("failed").Inc()
		lg.Warn("coded layout not recorded; the shards are left for garbage collection", zap.Error(err))
		return
	}
	m.metrics.codings.WithLabelValues("done").Inc()
	lg.Info("extent erasure-coded", zap.Uint64("shard-size", resp.GetShardSize()), zap.Uint64("sealed-length", e.SealedLength))
}

// placeShards picks n distinct live nodes with room, freest first.
func (m *Manager) placeShards(n int) ([]*clogspb.Replica, error) {
	m.mu.Lock()
	candidates := m.candidatesLocked()
	m.mu.Unlock()
	chosen, err := m.cfg.Placement.Place(candidates, n, nil)
	if err != nil {
		return nil, err
	}
	out := make([]*clogspb.Replica, len(chosen))
	for i, c := range chosen {
		out[i] = &clogspb.Replica{NodeId: c.NodeID, Addr: c.Addr}
	}
	return out, nil
}

// publishCoded records an extent's coded layout in one guarded
// transaction, if the extent is still the sealed, replicated one that was
// coded.
func (m *Manager) publishCoded(e *clogspb.ExtentMeta, layout *clogspb.ErasureLayout) error {
	t, unlock, err := m.leadStream(e.StreamId)
	defer unlock()
	if err != nil {
		return err
	}
	current, ok := m.cache.extents[e.Id]
	if !ok || !current.Sealed || current.Erasure != nil || current.SealedLength != e.SealedLength {
		return fmt.Errorf("extent %d changed while it was coded", e.Id)
	}
	updated := proto.Clone(current).(*clogspb.ExtentMeta)
	updated.Erasure, updated.Replicas = layout, nil
	if _, err := m.commitLocked(t, nil, clientv3.OpPut(m.cfg.prefix()+idKey(extentsDir, e.Id), mustMarshal(updated))); err != nil {
		return err
	}
	m.cache.extents[e.Id] = updated
	return nil
}

// codingStats is codingStatsLocked, or zeros when not leading.
func (m *Manager) codingStats() (int, uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cache == nil {
		return 0, 0
	}
	return m.codingStatsLocked()
}

// codingStats are the coded extents and the bytes coding saves against
// three replicas.
func (m *Manager) codingStatsLocked() (coded int, savedBytes uint64) {
	for _, e := range m.cache.extents {
		l := e.GetErasure()
		if l == nil || l.DataShards == 0 {
			continue
		}
		coded++
		stored := e.SealedLength * uint64(l.DataShards+l.ParityShards) / uint64(l.DataShards)
		if 3*e.SealedLength > stored {
			savedBytes += 3*e.SealedLength - stored
		}
	}
	return coded, savedBytes
}

// nodeShard names one shard file on one node.
type nodeShard struct {
	node, extent uint64
	index        uint32
}

// noteShardsLocked tracks the shard files a node reports: one no coded
// layout places there for GCGrace is queued for deletion
// (deleteOrphanShards), such as the shards of a coding that failed or was
// never recorded.
func (m *Manager) noteShardsLocked(nodeID uint64, shards []*clogspb.ReplicaReport) {
	now := time.Now()
	reported := map[nodeShard]*clogspb.ReplicaReport{}
	for _, r := range shards {
		key := nodeShard{node: nodeID, extent: r.GetExtentId(), index: r.GetShardIndex()}
		reported[key] = r
		if m.shardReferencedLocked(key) {
			delete(m.shardOrphans, key)
			continue
		}
		since, seen := m.shardOrphans[key]
		switch {
		case !seen:
			m.shardOrphans[key] = now
		case now.Sub(since) >= m.cfg.GCGrace:
			m.shardDeletes = append(m.shardDeletes, key)
			delete(m.shardOrphans, key)
		}
	}
	for key := range m.shardOrphans {
		if key.node == nodeID && reported[key] == nil {
			delete(m.shardOrphans, key)
		}
	}
	m.shardReports[nodeID] = &shardReport{at: now, shards: reported}
}

// shardReport is the shards a node reported last.
type shardReport struct {
	at     time.Time
	shards map[nodeShard]*clogspb.ReplicaReport
}

func (m *Manager) shardReferencedLocked(key nodeShard) bool {
	l := m.cache.extents[key.extent].GetErasure()
	return l != nil && int(key.index) < len(l.Shards) && l.Shards[key.index].NodeId == key.node
}

// deleteOrphanShards has nodes delete the shard files queued for deletion.
func (m *Manager) deleteOrphanShards(ctx context.Context) {
	m.mu.Lock()
	due := m.shardDeletes
	m.shardDeletes = nil
	addrs := map[uint64]string{}
	for _, key := range due {
		if m.cache == nil {
			break
		}
		if n, ok := m.cache.nodes[key.node]; ok {
			addrs[key.node] = n.Addr
		}
	}
	m.mu.Unlock()
	for _, key := range due {
		addr, ok := addrs[key.node]
		if !ok {
			continue
		}
		_, err := extentCall(m, ctx, addr, func(c clogspb.ExtentServiceClient) (*clogspb.DeleteShardResponse, error) {
			return c.DeleteShard(ctx, &clogspb.DeleteShardRequest{ExtentId: key.extent, Index: key.index})
		})
		if err != nil {
			m.lg.Warn("delete an unreferenced shard", zap.Uint64("node", key.node), zap.Uint64("extent", key.extent), zap.Uint32("shard", key.index), zap.Error(err))
			continue
		}
		m.metrics.orphansDeleted.Inc()
		m.lg.Info("deleted an unreferenced shard", zap.Uint64("node", key.node), zap.Uint64("extent", key.extent), zap.Uint32("shard", key.index))
	}
}

// shardTask rebuilds shard index of a coded extent on target: the node
// that held it (lost or damaged there) or, for a move, another node.
type shardTask struct {
	extent  *clogspb.ExtentMeta // resolved
	index   int
	target  *clogspb.Replica
	move    bool
	sources []*clogspb.ShardSource
}

// planShardRepairs finds the shards of coded extents that must be rebuilt:
// missing or damaged on a live node (rebuilt there), or on a node dead
// longer than ReplicaDeadAfter (rebuilt on another node, which then takes
// its place in the layout).
func (m *Manager) planShardRepairs(now time.Time) []shardTask {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.term == nil {
		return nil
	}
	var tasks []shardTask
	for _, stored := range m.cache.extents {
		if stored.GetErasure() == nil || m.repairing[stored.Id] {
			continue
		}
		e := m.cache.resolved(stored)
		tasks = append(tasks, m.planCodedExtentLocked(e, now)...)
	}
	return tasks
}

func (m *Manager) planCodedExtentLocked(e *clogspb.ExtentMeta, now time.Time) []shardTask {
	l := e.Erasure
	var sources []*clogspb.ShardSource
	var tasks []shardTask
	for i, s := range l.Shards {
		switch state, move := m.shardStateLocked(e, i, s, now); state {
		case replicaWhole, replicaAlive:
			sources = append(sources, &clogspb.ShardSource{Index: uint32(i), Addr: s.Addr})
		case replicaNeedsRepair:
			tasks = append(tasks, shardTask{extent: e, index: i, target: s, move: move})
		}
	}
	if len(tasks) == 0 || len(sources) < int(l.DataShards) {
		return nil // whole, or not enough left to rebuild from (yet)
	}
	planned := tasks[:0]
	for _, task := range tasks {
		task.sources = sources
		if task.move {
			target, ok := m.spareNodeLocked(e.Erasure.Shards)
			if !ok {
				m.lg.Warn("no live node to rebuild a shard on", zap.Uint64("extent", e.Id), zap.Int("shard", task.index))
				continue
			}
			task.target = target
		}
		planned = append(planned, task)
	}
	return planned
}

// shardStateLocked says what shard i of coded extent e, on node s, needs.
func (m *Manager) shardStateLocked(e *clogspb.ExtentMeta, i int, s *clogspb.Replica, now time.Time) (state replicaState, move bool) {
	if _, known := m.cache.nodes[s.NodeId]; !known {
		return replicaNeedsRepair, true
	}
	if !m.aliveLocked(s.NodeId) {
		if m.deadForLocked(s.NodeId, now) >= m.cfg.ReplicaDeadAfter {
			return replicaNeedsRepair, true
		}
		return replicaWaiting, false
	}
	report, ok := m.shardReports[s.NodeId]
	if !ok || report.at.Before(time.Unix(0, e.Erasure.CodedUnixNano).Add(m.cfg.NodeDeadAfter)) {
		return replicaAlive, false
	}
	rep := report.shards[nodeShard{node: s.NodeId, extent: e.Id, index: uint32(i)}]
	if rep == nil || rep.GetDamaged() {
		return replicaNeedsRepair, false
	}
	return replicaWhole, false
}

// runShardRepair rebuilds one shard, and for a move records its new node.
func (m *Manager) runShardRepair(ctx context.Context, task shardTask) {
	e := task.extent
	if !m.claimRepair(e.Id) {
		return
	}
	defer m.releaseRepair(e.Id)
	ctx, cancel := context.WithTimeout(ctx, m.cfg.RepairTimeout)
	defer cancel()
	l := e.Erasure
	req := &clogspb.RebuildShardRequest{ExtentId: e.Id, Index: uint32(task.index), SealedLength: e.SealedLength,
		DataShards: l.DataShards, ParityShards: l.ParityShards, ChunkSize: l.ChunkSize, Sources: task.sources}
	lg := m.lg.With(zap.Uint64("extent", e.Id), zap.Int("shard", task.index), zap.Uint64("node", task.target.NodeId), zap.Bool("move", task.move))
	resp, err := extentCall(m, ctx, task.target.Addr, func(c clogspb.ExtentServiceClient) (*clogspb.RebuildShardResponse, error) {
		return c.RebuildShard(ctx, req)
	})
	if err != nil {
		m.metrics.shardRebuilds.WithLabelValues("failed").Inc()
		lg.Warn("shard rebuild failed; the next pass tries again", zap.Error(err))
		return
	}
	m.metrics.bytesRepaired.Add(float64(resp.GetWritten()))
	if task.move {
		if err := m.publishShardMove(task); err != nil {
			m.metrics.shardRebuilds.WithLabelValues("failed").Inc()
			lg.Warn("rebuilt shard not recorded; left for garbage collection", zap.Error(err))
			return
		}
	}
	m.noteShardRebuilt(task)
	m.metrics.shardRebuilds.WithLabelValues("done").Inc()
	lg.Info("shard rebuilt", zap.Uint64("written", resp.GetWritten()))
}

// noteShardRebuilt records the shard as whole on its node until the next
// report says otherwise.
func (m *Manager) noteShardRebuilt(task shardTask) {
	m.mu.Lock()
	defer m.mu.Unlock()
	key := nodeShard{node: task.target.NodeId, extent: task.extent.Id, index: uint32(task.index)}
	if report, ok := m.shardReports[task.target.NodeId]; ok {
		report.shards[key] = &clogspb.ReplicaReport{ExtentId: key.extent, ShardIndex: &key.index, CommitLength: task.extent.SealedLength, Sealed: true}
	}
}

// publishShardMove records shard index's new node, if the layout is
// still the one the rebuild was planned from.
func (m *Manager) publishShardMove(task shardTask) error {
	t, unlock, err := m.leadStream(task.extent.StreamId)
	defer unlock()
	if err != nil {
		return err
	}
	current, ok := m.cache.extents[task.extent.Id]
	l := current.GetErasure()
	if !ok || l == nil || task.index >= len(l.Shards) || l.Shards[task.index].NodeId != task.extent.Erasure.Shards[task.index].NodeId {
		return fmt.Errorf("extent %d's layout changed while its shard was rebuilt", task.extent.Id)
	}
	updated := proto.Clone(current).(*clogspb.ExtentMeta)
	updated.Erasure.Shards[task.index] = &clogspb.Replica{NodeId: task.target.NodeId, Addr: task.target.Addr}
	if _, err := m.commitLocked(t, nil, clientv3.OpPut(m.cfg.prefix()+idKey(extentsDir, updated.Id), mustMarshal(updated))); err != nil {
		return err
	}
	m.cache.extents[updated.Id] = updated
	return nil
}
