package streammanager

// Reconciliation: the leader compares what the metadata says each node
// should hold with what the nodes report holding (full reports in their
// heartbeats), and heals the difference:
//
//   - a replica of a sealed extent that is missing, shorter than the sealed
//     length, or damaged (a bad checksum) on a live node is repaired in
//     place: the node copies what it lacks from a healthy replica
//     (RepairExtent), checks it, fsyncs and seals before it answers;
//   - a replica on a node dead longer than ReplicaDeadAfter is copied
//     whole to another live node, and only when that copy is sealed does
//     one guarded transaction switch the extent's replica set to it;
//   - an extent file no stream references (an allocation that failed half
//     way, a truncated or deleted stream, a replica moved away) is deleted
//     by its node once it has been unreferenced for GCGrace.
//
// Every step is idempotent and the metadata only changes after the data is
// durable, so a crash of the manager, the source or the target at any point
// leaves the old layout valid; the next leader's pass redoes what is left.
// Replicas that missed a seal are sealed through heartbeats (heartbeat).

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	clogspb "github.com/clogs-io/clogs/proto"
)

// nodeReport is a node's last full report of the extents it holds.
type nodeReport struct {
	at      time.Time
	extents map[uint64]*clogspb.ReplicaReport
}

// nodeExtent names one extent file on one node.
type nodeExtent struct{ node, extent uint64 }

// repairKind says what a repair task does.
type repairKind int

const (
	repairInPlace repairKind = iota // the node copies what it lacks
	repairReplace                   // the node drops a damaged copy and copies it whole
	repairMove                      // another node copies it whole and takes the replica's place
)

func (k repairKind) String() string {
	return [...]string{"in-place", "replace", "move"}[k]
}

// repairTask heals replica index of a sealed extent.
type repairTask struct {
	kind    repairKind
	extent  *clogspb.ExtentMeta // resolved addresses, as planned
	index   int
	target  *clogspb.Replica   // the node that copies: the replica's own, or the new one
	sources []*clogspb.Replica // healthy replicas, best first
}

// noteReportLocked records a full report and answers with the extents the
// node should delete: those no stream has referenced on it for GCGrace.
func (m *Manager) noteReportLocked(nodeID uint64, replicas []*clogspb.ReplicaReport) []uint64 {
	now := time.Now()
	report := &nodeReport{at: now, extents: make(map[uint64]*clogspb.ReplicaReport, len(replicas))}
	for _, r := range replicas {
		report.extents[r.GetExtentId()] = r
	}
	m.reports[nodeID] = report
	for key := range m.orphans {
		if key.node == nodeID && report.extents[key.extent] == nil {
			delete(m.orphans, key) // gone from the node
		}
	}
	var deletes []uint64
	for id := range report.extents {
		key := nodeExtent{node: nodeID, extent: id}
		if m.referencedLocked(key) {
			delete(m.orphans, key)
			continue
		}
		since, seen := m.orphans[key]
		if !seen {
			m.orphans[key] = now
			continue
		}
		if now.Sub(since) >= m.cfg.GCGrace {
			deletes = append(deletes, id)
			delete(m.orphans, key) // counted again if the node keeps it
			m.metrics.orphansDeleted.Inc()
			m.lg.Info("telling node to delete an unreferenced extent", zap.Uint64("node", nodeID), zap.Uint64("extent", id), zap.Duration("unreferenced-for", now.Sub(since)))
		}
	}
	slices.Sort(deletes)
	return deletes
}

// referencedLocked reports whether the metadata places key's extent on
// key's node.
func (m *Manager) referencedLocked(key nodeExtent) bool {
	e, ok := m.cache.extents[key.extent]
	if !ok {
		return false
	}
	return slices.ContainsFunc(e.Replicas, func(r *clogspb.Replica) bool { return r.NodeId == key.node })
}

// reconcileLoop runs a pass every ReconcileInterval while this term lasts.
func (m *Manager) reconcileLoop(ctx context.Context) {
	ticker := time.NewTicker(m.cfg.ReconcileInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		m.reconcileOnce(ctx)
	}
}

// reconcileOnce reclaims etcd's space if it ran out, plans the repairs
// this pass can see, runs them with bounded concurrency, and applies
// retention.
func (m *Manager) reconcileOnce(ctx context.Context) {
	m.reclaimSpace(ctx)
	jobs := newBoundedJobs(m.cfg.RepairConcurrency)
	for _, task := range m.planRepairs(time.Now()) {
		jobs.start(ctx, func() { m.runRepair(ctx, task) })
	}
	for _, task := range m.planShardRepairs(time.Now()) {
		jobs.start(ctx, func() { m.runShardRepair(ctx, task) })
	}
	for _, task := range m.planCoding(time.Now()) {
		jobs.start(ctx, func() { m.runCoding(ctx, task) })
	}
	jobs.wait()
	if ctx.Err() != nil {
		return
	}
	m.deleteOrphanShards(ctx)
	m.applyRetention(ctx, time.Now())
}

// boundedJobs runs jobs in goroutines, at most n at once.
type boundedJobs struct {
	slots chan struct{}
	wg    sync.WaitGroup
}

func newBoundedJobs(n int) *boundedJobs { return &boundedJobs{slots: make(chan struct{}, n)} }

// start runs job once a slot is free; it runs nothing once ctx has ended.
func (b *boundedJobs) start(ctx context.Context, job func()) {
	select {
	case b.slots <- struct{}{}:
	case <-ctx.Done():
		return
	}
	b.wg.Go(func() {
		defer func() { <-b.slots }()
		job()
	})
}

// wait waits for every job started.
func (b *boundedJobs) wait() { b.wg.Wait() }

// planRepairs finds the sealed extents whose replicas need healing.
func (m *Manager) planRepairs(now time.Time) []repairTask {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.term == nil {
		return nil
	}
	var tasks []repairTask
	underReplicated := 0
	for _, stored := range m.cache.extents {
		if !stored.Sealed {
			continue
		}
		e := m.cache.resolved(stored)
		extentTasks, under := m.planExtentLocked(e, now)
		tasks = append(tasks, extentTasks...)
		if under {
			underReplicated++
		}
	}
	m.underReplicated = underReplicated
	slices.SortFunc(tasks, func(a, b repairTask) int { return cmp.Compare(a.extent.Id, b.extent.Id) })
	return tasks
}

// planExtentLocked plans the repairs of one sealed extent: at most one
// task per replica, none while a repair of it runs, and none without a
// source to copy from. under says a replica is not known to be whole and
// sealed on a live node.
func (m *Manager) planExtentLocked(e *clogspb.ExtentMeta, now time.Time) (planned []repairTask, under bool) {
	var confirmed, unconfirmed []*clogspb.Replica
	var tasks []repairTask
	for i, r := range e.Replicas {
		state, kind := m.replicaStateLocked(e, r, now)
		under = under || state != replicaWhole
		switch state {
		case replicaWhole:
			confirmed = append(confirmed, r)
		case replicaAlive:
			unconfirmed = append(unconfirmed, r)
		case replicaNeedsRepair:
			tasks = append(tasks, repairTask{kind: kind, extent: e, index: i, target: r})
		}
	}
	// Confirmed whole replicas first; live ones not yet reported after
	// them (RepairExtent tries its sources in order).
	sources := append(confirmed, unconfirmed...)
	if len(tasks) == 0 || len(sources) == 0 || m.repairing[e.Id] {
		return nil, under
	}
	planned = tasks[:0]
	for _, task := range tasks {
		task.sources = sources
		if task.kind == repairMove {
			target, ok := m.spareNodeLocked(e.Replicas)
			if !ok {
				m.lg.Warn("no live node to move a replica to", zap.Uint64("extent", e.Id), zap.Uint64("node", task.target.NodeId))
				continue
			}
			task.target = target
		}
		planned = append(planned, task)
	}
	return planned, under
}

// maxInPlaceFailures is how many in-place repairs of one replica may fail
// in a row before the replica is moved to another node instead.
const maxInPlaceFailures = 3

// replicaState is what the leader knows of one replica of a sealed extent.
type replicaState int

const (
	replicaWhole       replicaState = iota // reported sealed at the sealed length
	replicaAlive                           // on a live node, not reported whole since the extent was made
	replicaWaiting                         // on a node dead for less than ReplicaDeadAfter
	replicaNeedsRepair                     // missing, short, damaged, or on a node dead too long
)

// replicaStateLocked says what replica r of sealed extent e needs.
func (m *Manager) replicaStateLocked(e *clogspb.ExtentMeta, r *clogspb.Replica, now time.Time) (replicaState, repairKind) {
	if _, known := m.cache.nodes[r.NodeId]; !known {
		return replicaNeedsRepair, repairMove
	}
	if !m.aliveLocked(r.NodeId) {
		if m.deadForLocked(r.NodeId, now) >= m.cfg.ReplicaDeadAfter {
			return replicaNeedsRepair, repairMove
		}
		return replicaWaiting, 0
	}
	report, reported := m.reports[r.NodeId]
	// A report older than the extent (plus a heartbeat's slack) cannot
	// tell a missing replica from one allocated after it was taken.
	if !reported || report.at.Before(time.Unix(0, e.CreatedUnixNano).Add(m.cfg.NodeDeadAfter)) {
		return replicaAlive, 0
	}
	rep, has := report.extents[e.Id]
	if has && rep.GetSealed() && !rep.GetDamaged() && rep.GetCommitLength() == e.SealedLength {
		return replicaWhole, 0
	}
	// A node that failed to repair its own replica (a failed disk, no
	// room) gives it up to another node.
	if m.repairFailures[nodeExtent{node: r.NodeId, extent: e.Id}] >= maxInPlaceFailures {
		return replicaNeedsRepair, repairMove
	}
	switch {
	case !has:
		return replicaNeedsRepair, repairInPlace
	case rep.GetDamaged():
		return replicaNeedsRepair, repairReplace
	case rep.GetCommitLength() < e.SealedLength:
		return replicaNeedsRepair, repairInPlace
	case !rep.GetSealed():
		return replicaAlive, 0 // long enough: sealed by the heartbeat's seal order
	}
	return replicaWhole, 0
}

// deadForLocked is how long a node has been silent: since its last
// heartbeat, or since this term began if it has not heartbeated to it.
func (m *Manager) deadForLocked(id uint64, now time.Time) time.Duration {
	if l, ok := m.live[id]; ok {
		return now.Sub(l.lastHeartbeat)
	}
	return now.Sub(m.term.began)
}

// runRepair runs one task: the copy on the target node, then, for a move,
// the switch of the metadata.
func (m *Manager) runRepair(ctx context.Context, task repairTask) {
	if !m.claimRepair(task.extent.Id) {
		return
	}
	defer m.releaseRepair(task.extent.Id)
	ctx, cancel := context.WithTimeout(ctx, m.cfg.RepairTimeout)
	defer cancel()
	replicas := slices.Clone(task.extent.Replicas)
	replicas[task.index] = task.target
	req := &clogspb.RepairExtentRequest{
		ExtentId: task.extent.Id, SealedLength: task.extent.SealedLength, Sources: task.sources,
		Replicas: replicas, SelfIndex: uint32(task.index), Replace: task.kind == repairReplace,
	}
	lg := m.lg.With(zap.Uint64("extent", task.extent.Id), zap.Stringer("kind", task.kind), zap.Uint64("node", task.target.NodeId))
	began := time.Now()
	resp, err := extentCall(m, ctx, task.target.Addr, func(c clogspb.ExtentServiceClient) (*clogspb.RepairExtentResponse, error) {
		return c.RepairExtent(ctx, req)
	})
	if err != nil {
		m.metrics.repairs.WithLabelValues(task.kind.String(), "failed").Inc()
		m.noteRepairFailed(task)
		lg.Warn("repair failed; the next pass tries again", zap.Error(err))
		return
	}
	m.metrics.bytesRepaired.Add(float64(resp.GetCopiedBytes()))
	if task.kind == repairMove {
		if err := m.publishMove(task, replicas); err != nil {
			m.metrics.repairs.WithLabelValues(task.kind.String(), "failed").Inc()
			lg.Warn("moved replica not recorded; the copy is left for garbage collection", zap.Error(err))
			return
		}
	}
	m.noteRepaired(task)
	m.metrics.repairs.WithLabelValues(task.kind.String(), "done").Inc()
	lg.Info("replica repaired", zap.Uint64("copied-bytes", resp.GetCopiedBytes()), zap.Duration("took", time.Since(began)))
}

func (m *Manager) claimRepair(id uint64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.repairing[id] {
		return false
	}
	m.repairing[id] = true
	return true
}

func (m *Manager) releaseRepair(id uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.repairing, id)
}

// noteRepairFailed counts a failed in-place repair of a replica.
func (m *Manager) noteRepairFailed(task repairTask) {
	if task.kind == repairMove {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.repairFailures[nodeExtent{node: task.target.NodeId, extent: task.extent.Id}]++
}

// noteRepaired updates the target's last report, so that the next pass
// does not repair the replica again before the node reports it.
func (m *Manager) noteRepaired(task repairTask) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if report, ok := m.reports[task.target.NodeId]; ok {
		report.extents[task.extent.Id] = &clogspb.ReplicaReport{ExtentId: task.extent.Id, CommitLength: task.extent.SealedLength, Sealed: true}
	}
	delete(m.needRepair, task.extent.Id)
	delete(m.repairFailures, nodeExtent{node: task.extent.Replicas[task.index].NodeId, extent: task.extent.Id})
}

// publishMove records a moved replica in one guarded transaction, if the
// extent still has the replica set the move was planned from.
func (m *Manager) publishMove(task repairTask, replicas []*clogspb.Replica) error {
	stored := m.extentStream(task.extent.Id)
	if stored == 0 {
		return fmt.Errorf("%w: extent %d is gone", ErrNotFound, task.extent.Id)
	}
	t, unlock, err := m.leadStream(stored)
	defer unlock()
	if err != nil {
		return err
	}
	current, ok := m.cache.extents[task.extent.Id]
	if !ok || !current.Sealed || len(current.Replicas) != len(replicas) || current.Replicas[task.index].NodeId != task.extent.Replicas[task.index].NodeId {
		return fmt.Errorf("extent %d changed while its replica was copied", task.extent.Id)
	}
	updated := proto.Clone(current).(*clogspb.ExtentMeta)
	updated.Replicas[task.index] = &clogspb.Replica{NodeId: task.target.NodeId, Addr: task.target.Addr}
	if _, err := m.commitLocked(t, nil, clientv3.OpPut(m.cfg.prefix()+idKey(extentsDir, updated.Id), mustMarshal(updated))); err != nil {
		return err
	}
	m.cache.extents[updated.Id] = updated
	return nil
}

// extentStream returns the stream of an extent, or 0.
func (m *Manager) extentStream(id uint64) uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cache == nil {
		return 0
	}
	if e, ok := m.cache.extents[id]; ok {
		return e.StreamId
	}
	return 0
}
