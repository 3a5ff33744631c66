package streammanager

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"github.com/clogs-io/clogs/node"
	clogspb "github.com/clogs-io/clogs/proto"
)

// allocAttempts bounds how many placements a new extent is tried on.
const allocAttempts = 3

// streamAllocExtent seals the stream's tail at its commit length and adds
// a new extent, if tailID is still the tail; otherwise it returns the
// current layout unchanged. Calls for one stream are serialized, so that
// concurrent callers naming the same tail create exactly one extent.
func (m *Manager) streamAllocExtent(ctx context.Context, streamID, tailID uint64, force bool) (*clogspb.StreamResponse, error) {
	lock := m.streamLock(streamID)
	lock.Lock()
	defer lock.Unlock()

	m.mu.Lock()
	if _, err := m.leaderLocked(); err != nil {
		m.mu.Unlock()
		return nil, err
	}
	s, err := m.streamLocked(streamID, "")
	if err != nil {
		m.mu.Unlock()
		return nil, err
	}
	if tail(s) != tailID {
		resp := m.cache.layout(s)
		m.mu.Unlock()
		return resp, nil
	}
	var tailMeta *clogspb.ExtentMeta
	if tailID != 0 {
		tailMeta = m.cache.resolved(m.cache.extents[tailID])
	}
	m.mu.Unlock()

	if tailMeta != nil && !tailMeta.Sealed {
		length, err := m.sealExtent(ctx, tailMeta, force)
		if err != nil {
			return nil, err
		}
		tailMeta.Sealed, tailMeta.SealedLength, tailMeta.SealedUnixNano = true, length, time.Now().UnixNano()
	}
	newExtent, err := m.allocExtent(ctx, streamID)
	if err != nil {
		return nil, err
	}
	return m.publishAlloc(streamID, tailID, tailMeta, newExtent)
}

// publishAlloc records the sealed tail, the new extent and the stream's
// new extent list in one guarded transaction, then in the cache.
// If the tail changed meanwhile (this manager lost and regained
// leadership, and another leader extended the stream), nothing is written
// and the new extent stays an orphan for garbage collection: appending it
// would leave an unsealed extent before the tail.
func (m *Manager) publishAlloc(streamID, tailID uint64, sealedTail, newExtent *clogspb.ExtentMeta) (*clogspb.StreamResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, err := m.leaderLocked()
	if err != nil {
		return nil, err
	}
	s, err := m.streamLocked(streamID, "")
	if err != nil {
		return nil, err
	}
	if tail(s) != tailID {
		m.lg.Warn("stream changed while allocating; the new extent is left unused", zap.Uint64("stream", streamID), zap.Uint64("extent", newExtent.Id))
		return m.cache.layout(s), nil
	}
	updated := proto.Clone(s).(*clogspb.StreamMeta)
	updated.ExtentIds = append(slices.Clone(s.ExtentIds), newExtent.Id)
	ops := []clientv3.Op{
		clientv3.OpPut(m.cfg.prefix()+idKey(extentsDir, newExtent.Id), mustMarshal(newExtent)),
		clientv3.OpPut(m.cfg.prefix()+idKey(streamsDir, streamID), mustMarshal(updated)),
	}
	if sealedTail != nil {
		ops = append(ops, clientv3.OpPut(m.cfg.prefix()+idKey(extentsDir, sealedTail.Id), mustMarshal(sealedTail)))
	}
	if _, err := m.commitLocked(t, nil, ops...); err != nil {
		return nil, err
	}
	if sealedTail != nil {
		m.cache.extents[sealedTail.Id] = sealedTail
	}
	m.cache.extents[newExtent.Id] = newExtent
	m.cache.putStream(updated)
	m.metrics.extentsAllocated.Inc()
	return m.cache.layout(updated), nil
}

// sealExtent fences every replica and collects its commit length within
// SealTimeout, seals all of them at the minimum (or at the length a replica
// is already sealed at, from an earlier attempt), best effort, and returns
// the length. At least two replicas must answer, or one with force.
func (m *Manager) sealExtent(ctx context.Context, e *clogspb.ExtentMeta, force bool) (uint64, error) {
	answers := m.fenceAll(ctx, e)
	need := 2
	if force {
		need = 1
	}
	if len(answers) < need {
		return 0, fmt.Errorf("%w: extent %d: %d of %d replicas answered, need %d", ErrSealFailed, e.Id, len(answers), len(e.Replicas), need)
	}
	length := answers[0].Length
	for _, a := range answers {
		length = min(length, a.Length)
	}
	for _, a := range answers {
		if a.Sealed { // sealed by an earlier attempt: that length stands
			length = a.Length
			break
		}
	}
	m.sealAll(ctx, answered(e, answers), length)
	m.lg.Info("sealed extent", zap.Uint64("extent", e.Id), zap.Uint64("length", length), zap.Int("answered", len(answers)))
	m.metrics.extentsSealed.Inc()
	return length, nil
}

// fenceAll asks every replica for its commit length, fencing it.
func (m *Manager) fenceAll(ctx context.Context, e *clogspb.ExtentMeta) []fenceAnswer {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.SealTimeout)
	defer cancel()
	var mu sync.Mutex
	var answers []fenceAnswer
	var wg sync.WaitGroup
	for _, r := range e.Replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := extentCall(m, ctx, r.Addr, func(c clogspb.ExtentServiceClient) (*clogspb.CommitLengthResponse, error) {
				return c.CommitLength(ctx, &clogspb.CommitLengthRequest{ExtentId: e.Id, Fence: true})
			})
			if err != nil {
				m.lg.Warn("replica did not answer the seal's commit length", zap.Uint64("extent", e.Id), zap.String("replica", r.Addr), zap.Error(err))
				return
			}
			mu.Lock()
			answers = append(answers, fenceAnswer{CommitLengthResponse: resp, replica: r})
			mu.Unlock()
		}()
	}
	wg.Wait()
	return answers
}

// fenceAnswer is one replica's answer to the seal's fencing CommitLength.
type fenceAnswer struct {
	*clogspb.CommitLengthResponse
	replica *clogspb.Replica
}

// answered returns e limited to the replicas that answered the fence: only
// they are sealed now, so that a dead replica does not cost a second
// timeout; the others learn the length from their heartbeat answer.
func answered(e *clogspb.ExtentMeta, answers []fenceAnswer) *clogspb.ExtentMeta {
	out := &clogspb.ExtentMeta{Id: e.Id}
	for _, a := range answers {
		out.Replicas = append(out.Replicas, a.replica)
	}
	return out
}

// sealAll seals e's replicas at length, in parallel and best effort: a
// replica that misses it learns it from its heartbeat answer.
func (m *Manager) sealAll(ctx context.Context, e *clogspb.ExtentMeta, length uint64) {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.SealTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, r := range e.Replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := extentCall(m, ctx, r.Addr, func(c clogspb.ExtentServiceClient) (*clogspb.SealResponse, error) {
				return c.Seal(ctx, &clogspb.SealRequest{ExtentId: e.Id, Length: length})
			})
			if err != nil {
				m.lg.Warn("replica missed the seal; its heartbeat will tell it", zap.Uint64("extent", e.Id), zap.String("replica", r.Addr), zap.Error(err))
			}
		}()
	}
	wg.Wait()
}

// allocExtent places a new extent on three nodes and creates it there,
// trying other nodes when one fails.
// Every attempt takes a fresh ID: nodes that took a failed attempt keep an
// empty extent with that attempt's replica set (an orphan for GC), and
// would refuse the same ID with another set.
func (m *Manager) allocExtent(ctx context.Context, streamID uint64) (*clogspb.ExtentMeta, error) {
	exclude := map[uint64]bool{}
	var lastErr error
	for range allocAttempts {
		chosen, err := m.place(exclude)
		if err != nil {
			return nil, errors.Join(err, lastErr)
		}
		id, err := m.newID()
		if err != nil {
			return nil, err
		}
		e := &clogspb.ExtentMeta{Id: id, StreamId: streamID, CreatedUnixNano: time.Now().UnixNano()}
		for _, c := range chosen {
			e.Replicas = append(e.Replicas, &clogspb.Replica{NodeId: c.NodeID, Addr: c.Addr})
		}
		failed, err := m.allocOnNodes(ctx, e)
		if err == nil {
			return e, nil
		}
		lastErr = err
		for _, f := range failed {
			exclude[f] = true
		}
	}
	return nil, fmt.Errorf("%w: %w", ErrAllocFailed, lastErr)
}

// newID reserves one ID as leader.
func (m *Manager) newID() (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, err := m.leaderLocked()
	if err != nil {
		return 0, err
	}
	return m.reserveIDsLocked(t, 1)
}

// allocOnNodes runs AllocExtent on every replica in parallel; it returns
// the node IDs that failed.
func (m *Manager) allocOnNodes(ctx context.Context, e *clogspb.ExtentMeta) ([]uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.SealTimeout)
	defer cancel()
	errs := make([]error, len(e.Replicas))
	var wg sync.WaitGroup
	for i, r := range e.Replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = extentCall(m, ctx, r.Addr, func(c clogspb.ExtentServiceClient) (*clogspb.AllocExtentResponse, error) {
				return c.AllocExtent(ctx, &clogspb.AllocExtentRequest{ExtentId: e.Id, Replicas: e.Replicas, SelfIndex: uint32(i)})
			})
		}()
	}
	wg.Wait()
	var failed []uint64
	for i, err := range errs {
		if err != nil {
			failed = append(failed, e.Replicas[i].NodeId)
			errs[i] = fmt.Errorf("node %d (%s): %w", e.Replicas[i].NodeId, e.Replicas[i].Addr, err)
		}
	}
	return failed, errors.Join(errs...)
}

// extentCall calls an extent-node through the pool, mapping its errors.
func extentCall[T any](m *Manager, ctx context.Context, addr string, call func(clogspb.ExtentServiceClient) (T, error)) (T, error) {
	var zero T
	cc, err := m.pool.Get(ctx, addr)
	if err != nil {
		return zero, err
	}
	resp, err := call(clogspb.NewExtentServiceClient(cc))
	return resp, node.FromStatus(err)
}
