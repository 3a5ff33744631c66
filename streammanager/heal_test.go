package streammanager_test

// Self-healing with a real manager and real extent-nodes in this process:
// the reconciliation loop repairs a lost replica in place, moves the
// replicas of a dead node, and has nodes delete the files of truncated
// extents and of retention.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/clogs-io/clogs/conn"
	"github.com/clogs-io/clogs/extent"
	"github.com/clogs-io/clogs/extent/vfs"
	"github.com/clogs-io/clogs/internal/testcluster"
	"github.com/clogs-io/clogs/node"
	clogspb "github.com/clogs-io/clogs/proto"
	"github.com/clogs-io/clogs/streamclient"
	"github.com/clogs-io/clogs/streammanager"
)

type healCluster struct {
	t     *testing.T
	sm    *streammanager.Manager
	nodes []*node.Node
	dirs  []string
	cl    *streamclient.Client
	pool  *conn.Pool
}

func startHealCluster(t *testing.T, nodes int) *healCluster {
	t.Helper()
	return startHealClusterWith(t, nodes, func(cfg *streammanager.Config) {
		cfg.ReplicaDeadAfter = 2 * time.Second
		cfg.GCGrace = time.Second
	}, func(*node.Config) {})
}

// startHealClusterWith starts a manager that reconciles every 100 ms and
// calls a node dead after a second, changed by editSM, and nodes that send
// a full report every other heartbeat, changed by editNode.
func startHealClusterWith(t *testing.T, nodes int, editSM func(*streammanager.Config), editNode func(*node.Config)) *healCluster {
	t.Helper()
	cfg := testcluster.ManagerConfig(t)
	cfg.ReconcileInterval = 100 * time.Millisecond
	cfg.NodeDeadAfter = time.Second
	editSM(&cfg)
	c := &healCluster{t: t, sm: testcluster.StartManager(t, cfg)}
	ncfg := testcluster.NodeConfig(nil, c.sm.Addr())
	ncfg.FullReportEvery = 2
	editNode(&ncfg)
	c.nodes, c.dirs = testcluster.StartNodes(t, nodes, ncfg)
	testcluster.WaitAlive(t, c.sm.Addr(), nodes)
	c.connect(t, c.sm.Addr())
	return c
}

// scrubbing makes a node scrub its sealed extents and shards fast.
func scrubbing(n *node.Config) {
	n.ScrubRate = 64 << 20
	n.ScrubInterval = 50 * time.Millisecond
}

// connect makes the cluster's client and connection pool.
func (c *healCluster) connect(t *testing.T, smAddr string) {
	t.Helper()
	ccfg := streamclient.DefaultConfig()
	ccfg.Managers = []string{smAddr}
	ccfg.MaxExtentSize = extent.ExtentHeaderSize + 8*extent.BlockSize(3000) // rolls over every 8 blocks
	ccfg.CallTimeout = 3 * time.Second
	ccfg.Conn.DialTimeout = time.Second
	cl, err := streamclient.New(ccfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	c.cl = cl
	pool, err := conn.NewPool(ccfg.Conn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Close() })
	c.pool = pool
}

// write appends n blocks of 3000 bytes to name and returns the layout.
func (c *healCluster) write(name string, n int) *clogspb.StreamResponse {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w, err := c.cl.OpenWriter(ctx, name)
	if err != nil {
		c.t.Fatal(err)
	}
	for i := range n {
		if _, err := w.Append(ctx, extent.Block{Payload: bytes.Repeat([]byte{byte(i)}, 3000)}); err != nil {
			c.t.Fatal(err)
		}
	}
	layout, err := c.cl.StreamInfo(ctx, name)
	if err != nil {
		c.t.Fatal(err)
	}
	return layout
}

func (c *healCluster) layout(name string) *clogspb.StreamResponse {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	layout, err := c.cl.StreamInfo(ctx, name)
	if err != nil {
		c.t.Fatal(err)
	}
	return layout
}

// nodeAt returns the index of the node at addr.
func (c *healCluster) nodeAt(addr string) int {
	for i, nd := range c.nodes {
		if nd.Addr() == addr {
			return i
		}
	}
	c.t.Fatalf("no node at %s", addr)
	return -1
}

func (c *healCluster) hasFile(i int, id uint64) bool {
	_, err := os.Stat(filepath.Join(c.dirs[i], extent.FileName(id)))
	return err == nil
}

// agreeingReplicas reads extent e from each of its replicas and returns
// its blocks, or an error when a replica is on avoid ("" for none), cannot
// be read, or differs from the first.
func (c *healCluster) agreeingReplicas(e *clogspb.ExtentMeta, avoid string) ([][]byte, error) {
	var first [][]byte
	for i, r := range e.Replicas {
		if r.Addr == avoid {
			return nil, fmt.Errorf("extent %d still has a replica on %s", e.Id, avoid)
		}
		got, err := c.readReplica(r.Addr, e.Id)
		if err != nil {
			return nil, fmt.Errorf("extent %d on %s: %w", e.Id, r.Addr, err)
		}
		if i == 0 {
			first = got
		} else if !slices.EqualFunc(got, first, bytes.Equal) {
			return nil, fmt.Errorf("extent %d: replica on %s differs", e.Id, r.Addr)
		}
	}
	return first, nil
}

// readReplica reads a sealed extent whole from one node.
func (c *healCluster) readReplica(addr string, id uint64) ([][]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cc, err := c.pool.Get(ctx, addr)
	if err != nil {
		return nil, err
	}
	stream, err := clogspb.NewExtentServiceClient(cc).ReadBlocks(ctx, &clogspb.ReadBlocksRequest{ExtentId: id, Offset: extent.ExtentHeaderSize, MaxBytes: 64 << 20})
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for {
		msg, err := stream.Recv()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		for _, b := range msg.Blocks {
			out = append(out, b.Payload)
		}
	}
}

func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestLostReplicaIsRepairedInPlace: a node loses its copy of a sealed
// extent (deleted behind the manager's back); the next full report shows
// it missing and the node copies it back from a healthy replica.
func TestLostReplicaIsRepairedInPlace(t *testing.T) {
	c := startHealCluster(t, 3)
	first := c.write("heal/in-place", 10).Extents[0]
	if !first.Sealed {
		t.Fatal("the first extent is not sealed after a rollover")
	}
	want, err := c.readReplica(first.Replicas[0].Addr, first.Id)
	if err != nil || len(want) != 8 {
		t.Fatalf("read the healthy replica: %d blocks, %v", len(want), err)
	}
	victim := c.nodeAt(first.Replicas[2].Addr)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cc, err := c.pool.Get(ctx, first.Replicas[2].Addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := clogspb.NewExtentServiceClient(cc).DeleteExtent(ctx, &clogspb.DeleteExtentRequest{ExtentId: first.Id}); err != nil {
		t.Fatal(err)
	}
	if c.hasFile(victim, first.Id) {
		t.Fatal("the replica is still there after DeleteExtent")
	}
	eventually(t, 20*time.Second, "the lost replica to be repaired", func() bool {
		got, err := c.readReplica(first.Replicas[2].Addr, first.Id)
		return err == nil && slices.EqualFunc(got, want, bytes.Equal)
	})
}

// TestDeadNodesReplicasMove: a node holding replicas of sealed extents
// dies; after ReplicaDeadAfter each such extent gets a whole copy on the
// spare node, and its metadata names that node instead.
func TestDeadNodesReplicasMove(t *testing.T) {
	c := startHealCluster(t, 4)
	layout := c.write("heal/move", 20)
	sealed := layout.Extents[:len(layout.Extents)-1]
	victimAddr := sealed[0].Replicas[1].Addr
	victim := c.nodeAt(victimAddr)
	c.nodes[victim].Stop()
	eventually(t, 30*time.Second, "every sealed extent to leave the dead node", func() bool {
		for _, e := range c.layout("heal/move").Extents {
			if e.Sealed && slices.ContainsFunc(e.Replicas, func(r *clogspb.Replica) bool { return r.Addr == victimAddr }) {
				return false
			}
		}
		return true
	})
	for _, e := range c.layout("heal/move").Extents {
		if !e.Sealed {
			continue
		}
		blocks, err := c.agreeingReplicas(e, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(blocks) == 0 {
			t.Fatalf("extent %d reads empty", e.Id)
		}
	}
}

// TestTruncatedAndRetiredExtentsAreDeleted: extents dropped by truncation
// and by a retention policy lose their files on every node after
// GCGrace; the kept ones stay.
func TestTruncatedAndRetiredExtentsAreDeleted(t *testing.T) {
	c := startHealCluster(t, 3)
	layout := c.write("heal/gc", 30) // four extents: 8+8+8+6 blocks
	if len(layout.Extents) < 4 {
		t.Fatalf("%d extents, want 4", len(layout.Extents))
	}
	ids := make([]uint64, len(layout.Extents))
	for i, e := range layout.Extents {
		ids[i] = e.Id
	}
	sm := c.smClient()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := sm.TruncateStream(ctx, &clogspb.TruncateStreamRequest{StreamId: layout.Stream.Id, FirstKeptExtentId: ids[1]}); err != nil {
		t.Fatal(err)
	}
	// Keep at most one sealed extent's bytes: retention drops the next.
	one := layout.Extents[1].SealedLength
	if _, err := sm.SetStreamPolicy(ctx, &clogspb.SetStreamPolicyRequest{StreamId: layout.Stream.Id, Policy: &clogspb.StreamPolicy{MaxBytes: one}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the dropped extents' files to be deleted", func() bool {
		for i := range c.nodes {
			if c.hasFile(i, ids[0]) || c.hasFile(i, ids[1]) {
				return false
			}
		}
		return true
	})
	got := c.layout("heal/gc")
	if len(got.Extents) != len(ids)-2 || got.Extents[0].Id != ids[2] {
		t.Fatalf("after truncate and retention the stream has extents %v", got.Extents)
	}
	for i := range c.nodes {
		for _, id := range ids[2:] {
			if !c.hasFile(i, id) {
				t.Fatalf("kept extent %d was deleted from node %d", id, i)
			}
		}
	}
}

func (c *healCluster) smClient() clogspb.StreamManagerClient {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cc, err := c.pool.Get(ctx, c.sm.Addr())
	if err != nil {
		c.t.Fatal(err)
	}
	return clogspb.NewStreamManagerClient(cc)
}

// TestMoveSurvivesManagerRestart: the manager dies while a replica is
// being copied to the spare node (copies are throttled to take seconds);
// the layout it left is still valid, and the manager that takes over on
// the same metadata finishes the move: the extent ends on three live
// nodes with identical replicas.
func TestMoveSurvivesManagerRestart(t *testing.T) {
	cfg := testcluster.ManagerConfig(t)
	cfg.Listen = fmt.Sprintf("127.0.0.1:%d", testcluster.FreePorts(t, 1)[0])
	cfg.ReconcileInterval = 100 * time.Millisecond
	cfg.ReplicaDeadAfter = time.Second
	cfg.GCGrace = time.Minute
	cfg.NodeDeadAfter = time.Second
	sm, err := streammanager.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := sm.Start(); err != nil {
		sm.Close()
		t.Fatal(err)
	}
	c := &healCluster{t: t, sm: sm}
	ncfg := testcluster.NodeConfig(nil, cfg.Listen)
	ncfg.FullReportEvery = 2
	ncfg.RepairRate = 4 << 10 // 4 KiB/s: an extent of 8 blocks of 3000 bytes takes seconds
	c.nodes, c.dirs = testcluster.StartNodes(t, 4, ncfg)
	testcluster.WaitAlive(t, cfg.Listen, 4)
	c.connect(t, cfg.Listen)
	layout := c.write("heal/restart", 20)
	victimAddr := layout.Extents[0].Replicas[0].Addr
	c.nodes[c.nodeAt(victimAddr)].Stop()
	eventually(t, 20*time.Second, "a move to start", func() bool { return len(sm.Repairing()) > 0 })
	sm.Close()
	sm2, err := streammanager.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := sm2.Start(); err != nil {
		sm2.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { sm2.Close() })
	c.sm = sm2
	eventually(t, 60*time.Second, "every sealed extent to leave the dead node and agree", func() bool {
		for _, e := range c.layout("heal/restart").Extents {
			if !e.Sealed {
				continue
			}
			if _, err := c.agreeingReplicas(e, victimAddr); err != nil {
				return false
			}
		}
		return true
	})
}

// TestScrubbedCorruptionIsRepaired: a byte of a sealed replica rots on
// disk; the node's scrubber finds the bad checksum and reports the
// replica damaged, and the manager has it replaced from a good replica.
func TestScrubbedCorruptionIsRepaired(t *testing.T) {
	c := startHealClusterWith(t, 3, func(*streammanager.Config) {}, scrubbing)
	first := c.write("heal/scrub", 10).Extents[0]
	want, err := c.readReplica(first.Replicas[0].Addr, first.Id)
	if err != nil {
		t.Fatal(err)
	}
	victim := c.nodeAt(first.Replicas[1].Addr)
	path := filepath.Join(c.dirs[victim], extent.FileName(first.Id))
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	// A byte in the middle of the third block's payload.
	at := int64(extent.ExtentHeaderSize + 2*extent.BlockSize(3000) + extent.BlockHeaderSize + 1500)
	if _, err := f.WriteAt([]byte{0xFF ^ want[2][1500]}, at); err != nil {
		t.Fatal(err)
	}
	f.Close()
	eventually(t, 30*time.Second, "the rotten replica to be replaced", func() bool {
		got, err := c.readReplica(first.Replicas[1].Addr, first.Id)
		return err == nil && slices.EqualFunc(got, want, bytes.Equal)
	})
}

// TestFailedDisksReplicasAreReplaced: a node's only disk starts failing
// I/O; the node takes it out of service and stops reporting its extents,
// the node cannot repair them in place (no disk left), and after a few
// failed attempts the manager copies them to the spare node instead.
func TestFailedDisksReplicasAreReplaced(t *testing.T) {
	cfg := testcluster.ManagerConfig(t)
	cfg.ReconcileInterval = 100 * time.Millisecond
	cfg.NodeDeadAfter = time.Second
	c := &healCluster{t: t, sm: testcluster.StartManager(t, cfg)}
	ncfg := testcluster.NodeConfig(nil, c.sm.Addr())
	ncfg.FullReportEvery = 2
	scrubbing(&ncfg)
	root := t.TempDir()
	efs := vfs.NewErrorFS(vfs.Default, -1)
	efs.SetErr(syscall.EIO)
	startNode := func(i int) {
		nc := ncfg
		nc.Disks = []string{filepath.Join(root, fmt.Sprintf("node%d", i+1))}
		if i == 0 {
			nc.Extent.FS = efs
		}
		c.nodes = append(c.nodes, testcluster.StartNode(t, nc))
		c.dirs = append(c.dirs, nc.Disks[0])
	}
	// Three nodes, so that every extent has a replica on node 0; the
	// spare joins once the stream is written.
	for i := range 3 {
		startNode(i)
	}
	testcluster.WaitAlive(t, c.sm.Addr(), 3)
	c.connect(t, c.sm.Addr())
	layout := c.write("heal/bad-disk", 20)
	startNode(3)
	testcluster.WaitAlive(t, c.sm.Addr(), 4)
	badAddr := c.nodes[0].Addr()
	var onBad []uint64
	for _, e := range layout.Extents {
		if e.Sealed {
			onBad = append(onBad, e.Id)
		}
	}
	// The disk's next file creation fails with EIO: the node takes the
	// disk out of service.
	var armed atomic.Bool
	armed.Store(true)
	efs.SetBeforeOp(func(op string, index int64) {
		if op == "Create" && armed.CompareAndSwap(true, false) {
			efs.SetFailAt(index)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cc, err := c.pool.Get(ctx, badAddr)
	if err != nil {
		t.Fatal(err)
	}
	set := []*clogspb.Replica{{NodeId: 1 << 40, Addr: badAddr}, {NodeId: 1<<40 + 1, Addr: c.nodes[1].Addr()}, {NodeId: 1<<40 + 2, Addr: c.nodes[2].Addr()}}
	if _, err := clogspb.NewExtentServiceClient(cc).AllocExtent(ctx, &clogspb.AllocExtentRequest{ExtentId: 1 << 40, Replicas: set}); err == nil {
		t.Fatal("an allocation on a disk failing with EIO succeeded")
	}
	eventually(t, 30*time.Second, "the extents of the failed disk to move", func() bool {
		for _, e := range c.layout("heal/bad-disk").Extents {
			if !slices.Contains(onBad, e.Id) {
				continue
			}
			if _, err := c.agreeingReplicas(e, badAddr); err != nil {
				return false
			}
		}
		return true
	})
}

// TestColdExtentsAreCoded: a stream whose policy says 2+1 gets its
// sealed extents erasure-coded: the layout names three shard nodes and no
// replicas, every shard is on its node, the replica files are deleted
// after the grace, and the tail stays replicated. A policy wider than the
// live nodes is refused.
func TestColdExtentsAreCoded(t *testing.T) {
	c := startHealCluster(t, 3)
	sm := c.smClient()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, err := sm.CreateStream(ctx, &clogspb.CreateStreamRequest{Name: "heal/cold", Policy: &clogspb.StreamPolicy{EcData: 4, EcParity: 2}})
	if !errors.Is(streammanager.FromStatus(err), streammanager.ErrBadRequest) {
		t.Fatalf("a 4+2 policy with three live nodes: %v, want bad-request", err)
	}
	created, err := sm.CreateStream(ctx, &clogspb.CreateStreamRequest{Name: "heal/cold", Policy: &clogspb.StreamPolicy{EcData: 2, EcParity: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if p := created.Stream.GetPolicy(); p.GetEcData() != 2 || p.GetEcParity() != 1 {
		t.Fatalf("policy %v", p)
	}
	layout := c.write("heal/cold", 20)
	var sealed []uint64
	for _, e := range layout.Extents {
		if e.Sealed {
			sealed = append(sealed, e.Id)
		}
	}
	eventually(t, 30*time.Second, "the sealed extents to be coded", func() bool {
		for _, e := range c.layout("heal/cold").Extents {
			if slices.Contains(sealed, e.Id) && (e.Erasure == nil || len(e.Replicas) != 0) {
				return false
			}
		}
		return true
	})
	got := c.layout("heal/cold")
	if tail := got.Extents[len(got.Extents)-1]; tail.Erasure != nil || len(tail.Replicas) != 3 {
		t.Fatalf("the tail was coded: %v", tail)
	}
	for _, e := range got.Extents[:len(got.Extents)-1] {
		l := e.Erasure
		if l.DataShards != 2 || l.ParityShards != 1 || len(l.Shards) != 3 {
			t.Fatalf("extent %d layout %v", e.Id, l)
		}
		for i, s := range l.Shards {
			if !c.hasShard(c.nodeAt(s.Addr), e.Id, i) {
				t.Fatalf("extent %d: shard %d is not on node %s", e.Id, i, s.Addr)
			}
		}
	}
	eventually(t, 30*time.Second, "the replica files of coded extents to be deleted", func() bool {
		for i := range c.nodes {
			for _, id := range sealed {
				if c.hasFile(i, id) {
					return false
				}
			}
		}
		return true
	})
}

func (c *healCluster) hasShard(i int, id uint64, index int) bool {
	_, err := os.Stat(filepath.Join(c.dirs[i], fmt.Sprintf("%016x.shard%d", id, index)))
	return err == nil
}

// codedStream writes a stream with policy 2+1 and waits until its sealed
// extents are coded; it returns their layouts.
func (c *healCluster) codedStream(name string) []*clogspb.ExtentMeta {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.smClient().CreateStream(ctx, &clogspb.CreateStreamRequest{Name: name, Policy: &clogspb.StreamPolicy{EcData: 2, EcParity: 1}}); err != nil {
		c.t.Fatal(err)
	}
	c.write(name, 20)
	var coded []*clogspb.ExtentMeta
	eventually(c.t, 30*time.Second, "the sealed extents to be coded", func() bool {
		coded = nil
		for _, e := range c.layout(name).Extents {
			if e.Sealed && e.Erasure == nil {
				return false
			}
			if e.Erasure != nil {
				coded = append(coded, e)
			}
		}
		return len(coded) > 0
	})
	return coded
}

// TestLostShardIsRebuilt: a node loses a shard file; the next full report
// shows it missing and the node rebuilds it from the other shards.
func TestLostShardIsRebuilt(t *testing.T) {
	c := startHealCluster(t, 3)
	e := c.codedStream("heal/lost-shard")[0]
	holder := e.Erasure.Shards[1]
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cc, err := c.pool.Get(ctx, holder.Addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := clogspb.NewExtentServiceClient(cc).DeleteShard(ctx, &clogspb.DeleteShardRequest{ExtentId: e.Id, Index: 1}); err != nil {
		t.Fatal(err)
	}
	i := c.nodeAt(holder.Addr)
	if c.hasShard(i, e.Id, 1) {
		t.Fatal("the shard is still there after DeleteShard")
	}
	eventually(t, 30*time.Second, "the lost shard to be rebuilt", func() bool { return c.hasShard(i, e.Id, 1) })
}

// TestDeadShardNodeIsReplaced: the node of a shard dies; after
// ReplicaDeadAfter the shard is rebuilt on the spare node, which takes its
// place in the layout.
func TestDeadShardNodeIsReplaced(t *testing.T) {
	c := startHealCluster(t, 4)
	e := c.codedStream("heal/dead-shard")[0]
	var victim *clogspb.Replica
	for _, s := range e.Erasure.Shards {
		victim = s // any shard node
	}
	c.nodes[c.nodeAt(victim.Addr)].Stop()
	eventually(t, 30*time.Second, "the shard to move off the dead node", func() bool {
		for _, got := range c.layout("heal/dead-shard").Extents {
			if got.Id != e.Id {
				continue
			}
			for i, s := range got.GetErasure().GetShards() {
				if s.Addr == victim.Addr || !c.hasShard(c.nodeAt(s.Addr), e.Id, i) {
					return false
				}
			}
			return true
		}
		return false
	})
}

// TestCodingCutShortLeavesTheReplicas: a coding whose shards were written
// but whose layout was never recorded (the manager died between the two
// steps) leaves the extent replicated and readable, and the shards, which
// no layout references, are deleted after the grace.
func TestCodingCutShortLeavesTheReplicas(t *testing.T) {
	c := startHealCluster(t, 3)
	e := c.write("heal/cut-short", 10).Extents[0]
	want, err := c.readReplica(e.Replicas[0].Addr, e.Id)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cc, err := c.pool.Get(ctx, e.Replicas[0].Addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := clogspb.NewExtentServiceClient(cc).EncodeShards(ctx, &clogspb.EncodeShardsRequest{
		ExtentId: e.Id, SealedLength: e.SealedLength, DataShards: 2, ParityShards: 1, Targets: e.Replicas}); err != nil {
		t.Fatal(err)
	}
	for i, r := range e.Replicas {
		if !c.hasShard(c.nodeAt(r.Addr), e.Id, i) {
			t.Fatalf("shard %d not written", i)
		}
	}
	eventually(t, 30*time.Second, "the unrecorded shards to be deleted", func() bool {
		for i, r := range e.Replicas {
			if c.hasShard(c.nodeAt(r.Addr), e.Id, i) {
				return false
			}
		}
		return true
	})
	got := c.layout("heal/cut-short").Extents[0]
	if got.Erasure != nil || len(got.Replicas) != 3 {
		t.Fatalf("extent %d changed layout: %v", e.Id, got)
	}
	for _, r := range got.Replicas {
		blocks, err := c.readReplica(r.Addr, e.Id)
		if err != nil || !slices.EqualFunc(blocks, want, bytes.Equal) {
			t.Fatalf("replica on %s after the cut-short coding: %v", r.Addr, err)
		}
	}
}

// TestCodedStreamReadsBack: after the manager codes a stream's sealed
// extents, a reader gets every block back byte for byte through the
// shards, and still does with one shard node stopped (2+1).
func TestCodedStreamReadsBack(t *testing.T) {
	c := startHealCluster(t, 4)
	coded := c.codedStream("heal/read-coded")
	check := func(what string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		r, err := c.cl.OpenReader(ctx, "heal/read-coded", streamclient.Address{}, false)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for {
			blocks, err := r.Next(ctx)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: after %d blocks: %v", what, n, err)
			}
			for _, b := range blocks {
				if !bytes.Equal(b.Payload, bytes.Repeat([]byte{byte(n)}, 3000)) {
					t.Fatalf("%s: block %d at %v differs", what, n, b.Address)
				}
				n++
			}
		}
		if n != 20 {
			t.Fatalf("%s: read %d blocks, wrote 20", what, n)
		}
	}
	check("all shards up")
	// Stop a shard's node that is not the primary of the (replicated,
	// unsealed) tail, which only its primary serves.
	extents := c.layout("heal/read-coded").Extents
	tailPrimary := extents[len(extents)-1].Replicas[0].Addr
	for _, s := range coded[0].Erasure.Shards {
		if s.Addr != tailPrimary {
			c.nodes[c.nodeAt(s.Addr)].Stop()
			break
		}
	}
	check("a shard's node stopped")
}

// TestScrubbedShardIsRebuilt: a byte of a shard rots on disk; the node's
// scrubber finds the bad chunk checksum, the full report says the shard
// is damaged, and the manager has the node rebuild it, byte for byte.
func TestScrubbedShardIsRebuilt(t *testing.T) {
	c := startHealClusterWith(t, 3, func(cfg *streammanager.Config) { cfg.GCGrace = time.Second }, scrubbing)
	e := c.codedStream("heal/rotten-shard")[0]
	holder := c.nodeAt(e.Erasure.Shards[0].Addr)
	path := filepath.Join(c.dirs[holder], fmt.Sprintf("%016x.shard0", e.Id))
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rotten := bytes.Clone(want)
	rotten[100] ^= 0xFF // inside the first chunk's data, past the 64-byte header
	if err := os.WriteFile(path, rotten, 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the rotten shard to be rebuilt", func() bool {
		got, err := os.ReadFile(path)
		return err == nil && bytes.Equal(got, want)
	})
}
