package node_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"

	"github.com/clogs-io/clogs/conn"
	"github.com/clogs-io/clogs/extent"
	"github.com/clogs-io/clogs/internal/testcluster"
	"github.com/clogs-io/clogs/node"
	clogspb "github.com/clogs-io/clogs/proto"
	"github.com/clogs-io/clogs/streammanager"
)

// These tests run a real stream manager (embedded etcd) and real nodes
// that register and heartbeat by themselves.

// startManager starts a one-member stream manager that declares nodes dead
// after 1s, and waits until it leads.
func startManager(t *testing.T) *streammanager.Manager {
	t.Helper()
	cfg := testcluster.ManagerConfig(t)
	cfg.NodeDeadAfter = time.Second
	cfg.SealTimeout = time.Second
	m := testcluster.StartManager(t, cfg)
	waitFor(t, 15*time.Second, "a leader", m.IsLeader)
	return m
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// clients dials managers and nodes for a test.
type clients struct {
	t    *testing.T
	pool *conn.Pool
}

func newClients(t *testing.T) *clients {
	t.Helper()
	pool, err := conn.NewPool(conn.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Close() })
	return &clients{t: t, pool: pool}
}

func (c *clients) get(addr string) grpc.ClientConnInterface {
	c.t.Helper()
	cc, err := c.pool.Get(context.Background(), addr)
	if err != nil {
		c.t.Fatal(err)
	}
	return cc
}

func (c *clients) sm(addr string) clogspb.StreamManagerClient {
	return clogspb.NewStreamManagerClient(c.get(addr))
}

func (c *clients) node(addr string) clogspb.ExtentServiceClient {
	return clogspb.NewExtentServiceClient(c.get(addr))
}

func nodeConfig(dirs []string, managers ...string) node.Config {
	cfg := testcluster.NodeConfig(dirs, managers...)
	cfg.Conn.DialTimeout = 500 * time.Millisecond
	return cfg
}

// startNodes starts n nodes that register with the manager at smAddr;
// dirs[i] is node i's disk.
func startNodes(t *testing.T, n int, smAddr string) ([]*node.Node, []string) {
	t.Helper()
	return testcluster.StartNodes(t, n, nodeConfig(nil, smAddr))
}

// waitAlive waits until the manager lists exactly the nodes given, alive,
// at their current addresses and under the IDs they were given.
func waitAlive(t *testing.T, sm clogspb.StreamManagerClient, nodes ...*node.Node) *clogspb.NodesInfoResponse {
	t.Helper()
	var last *clogspb.NodesInfoResponse
	waitFor(t, 10*time.Second, fmt.Sprintf("%d alive registered nodes", len(nodes)), func() bool {
		resp, err := sm.NodesInfo(ctxFor(t), &clogspb.NodesInfoRequest{})
		if err != nil {
			return false
		}
		last = resp
		byID := map[uint64]*clogspb.NodeStatus{}
		for _, st := range resp.Nodes {
			byID[st.Node.Id] = st
		}
		for _, nd := range nodes {
			st := byID[nd.NodeID()]
			if nd.NodeID() == 0 || st == nil || !st.Alive || st.Node.Addr != nd.Addr() || st.Node.Uuid != nd.UUID() || len(st.Disks) != 1 {
				return false
			}
		}
		return true
	})
	return last
}

// nodeAt returns the node listening on addr.
func nodeAt(t *testing.T, nodes []*node.Node, addr string) int {
	t.Helper()
	for i, nd := range nodes {
		if nd != nil && nd.Addr() == addr {
			return i
		}
	}
	t.Fatalf("no node at %s", addr)
	return -1
}

func appendTo(t *testing.T, cl clogspb.ExtentServiceClient, id uint64, payload string) *clogspb.AppendBlocksResponse {
	t.Helper()
	resp, err := cl.AppendBlocks(ctxFor(t), &clogspb.AppendBlocksRequest{ExtentId: id, Blocks: []*clogspb.Block{{Payload: []byte(payload)}}})
	if err != nil {
		t.Fatalf("append to extent %d: %v", id, err)
	}
	return resp
}

// readAll reads extent id from its first block to its readable end, and
// returns how many blocks it read and the last message.
func readAll(t *testing.T, cl clogspb.ExtentServiceClient, id uint64) (int, *clogspb.ReadBlocksResponse) {
	t.Helper()
	rs, err := cl.ReadBlocks(ctxFor(t), &clogspb.ReadBlocksRequest{ExtentId: id, Offset: extent.ExtentHeaderSize})
	if err != nil {
		t.Fatal(err)
	}
	var blocks int
	var last *clogspb.ReadBlocksResponse
	for {
		msg, err := rs.Recv()
		if err == io.EOF {
			if last == nil {
				t.Fatalf("read extent %d: no message", id)
			}
			return blocks, last
		}
		if err != nil {
			t.Fatalf("read extent %d: %v", id, err)
		}
		blocks += len(msg.Blocks)
		last = msg
	}
}

func TestNodesRegisterThemselves(t *testing.T) {
	m := startManager(t)
	nodes, _ := startNodes(t, 3, m.Addr())
	cl := newClients(t)
	sm := cl.sm(m.Addr())
	info := waitAlive(t, sm, nodes...)
	if len(info.Nodes) != 3 {
		t.Fatalf("manager lists %d nodes, want 3: %v", len(info.Nodes), info.Nodes)
	}

	ctx := ctxFor(t)
	s, err := sm.CreateStream(ctx, &clogspb.CreateStreamRequest{Name: "self/registered"})
	if err != nil {
		t.Fatal(err)
	}
	layout, err := sm.StreamAllocExtent(ctx, &clogspb.StreamAllocExtentRequest{StreamId: s.Stream.Id})
	if err != nil {
		t.Fatal(err)
	}
	e := layout.Extents[0]
	for _, r := range e.Replicas {
		if nodes[nodeAt(t, nodes, r.Addr)].NodeID() != r.NodeId {
			t.Fatalf("replica %v: node ID does not match the node's own", r)
		}
	}
	resp := appendTo(t, cl.node(e.Replicas[0].Addr), e.Id, "hello")
	layout, err = sm.StreamAllocExtent(ctx, &clogspb.StreamAllocExtentRequest{StreamId: s.Stream.Id, TailExtentId: e.Id})
	if err != nil {
		t.Fatal(err)
	}
	if !layout.Extents[0].Sealed || layout.Extents[0].SealedLength != resp.End {
		t.Fatalf("sealed tail %v, want sealed at %d", layout.Extents[0], resp.End)
	}
}

func TestRestartedNodeKeepsItsID(t *testing.T) {
	m := startManager(t)
	nodes, dirs := startNodes(t, 1, m.Addr())
	cl := newClients(t)
	sm := cl.sm(m.Addr())
	waitAlive(t, sm, nodes[0])
	id, oldUUID, oldAddr := nodes[0].NodeID(), nodes[0].UUID(), nodes[0].Addr()

	nodes[0].Stop()
	again := testcluster.StartNode(t, nodeConfig(dirs, m.Addr()))
	if again.UUID() != oldUUID {
		t.Fatalf("UUID %s after the restart, was %s", again.UUID(), oldUUID)
	}
	if again.Addr() == oldAddr {
		t.Fatalf("restarted node kept the address %s; the test wants a new one", oldAddr)
	}
	info := waitAlive(t, sm, again)
	if again.NodeID() != id || len(info.Nodes) != 1 {
		t.Fatalf("after the restart: node ID %d (was %d), manager lists %v", again.NodeID(), id, info.Nodes)
	}
}

func TestReplicaThatMissedASealSealsItself(t *testing.T) {
	m := startManager(t)
	// Four nodes, so that the new extent finds three live ones while one
	// is down.
	nodes, dirs := startNodes(t, 4, m.Addr())
	cl := newClients(t)
	sm := cl.sm(m.Addr())
	waitAlive(t, sm, nodes...)
	ctx := ctxFor(t)
	s, err := sm.CreateStream(ctx, &clogspb.CreateStreamRequest{Name: "missed/seal"})
	if err != nil {
		t.Fatal(err)
	}
	layout, err := sm.StreamAllocExtent(ctx, &clogspb.StreamAllocExtentRequest{StreamId: s.Stream.Id})
	if err != nil {
		t.Fatal(err)
	}
	e := layout.Extents[0]
	primary := cl.node(e.Replicas[0].Addr)
	var end uint64
	for i := range 3 {
		end = appendTo(t, primary, e.Id, fmt.Sprintf("block %d", i)).End
	}

	down := nodeAt(t, nodes, e.Replicas[2].Addr)
	downID := nodes[down].NodeID()
	nodes[down].Stop()
	nodes[down] = nil
	// Wait until the manager sees it dead, so that the new extent is
	// placed on the three others.
	waitFor(t, 10*time.Second, "the stopped node to be dead", func() bool {
		info, err := sm.NodesInfo(ctx, &clogspb.NodesInfoRequest{})
		if err != nil {
			return false
		}
		for _, st := range info.Nodes {
			if st.Node.Id == downID {
				return !st.Alive
			}
		}
		return false
	})
	layout, err = sm.StreamAllocExtent(ctx, &clogspb.StreamAllocExtentRequest{StreamId: s.Stream.Id, TailExtentId: e.Id})
	if err != nil {
		t.Fatal(err)
	}
	sealed := layout.Extents[0]
	if !sealed.Sealed || sealed.SealedLength != end {
		t.Fatalf("sealed tail %v, want sealed at %d", sealed, end)
	}

	// The stopped replica missed the seal: its file is still unsealed.
	ext, err := extent.Open(filepath.Join(dirs[down], extent.FileName(e.Id)), extent.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	length, isSealed := ext.Sealed()
	ext.Close()
	if isSealed || length < end {
		t.Fatalf("the stopped replica: length %d, sealed %v; want unsealed with at least %d", length, isSealed, end)
	}

	back := testcluster.StartNode(t, nodeConfig([]string{dirs[down]}, m.Addr()))
	replica := cl.node(back.Addr())
	var got *clogspb.CommitLengthResponse
	waitFor(t, 10*time.Second, "the restarted replica to seal itself", func() bool {
		got, err = replica.CommitLength(ctx, &clogspb.CommitLengthRequest{ExtentId: e.Id})
		return err == nil && got.Sealed
	})
	if got.Length != sealed.SealedLength {
		t.Fatalf("replica sealed at %d, the metadata says %d", got.Length, sealed.SealedLength)
	}
	// Sealed, it serves reads up to the sealed length.
	blocks, last := readAll(t, replica, e.Id)
	if blocks != 3 || !last.Sealed || last.End != end {
		t.Fatalf("read from the resealed replica: %d blocks, sealed %v, end %d", blocks, last.Sealed, last.End)
	}
}

func TestNodeServesWhileManagerIsDown(t *testing.T) {
	m := startManager(t)
	nodes, _ := startNodes(t, 3, m.Addr())
	cl := newClients(t)
	sm := cl.sm(m.Addr())
	waitAlive(t, sm, nodes...)
	ctx := ctxFor(t)
	s, err := sm.CreateStream(ctx, &clogspb.CreateStreamRequest{Name: "no/manager"})
	if err != nil {
		t.Fatal(err)
	}
	layout, err := sm.StreamAllocExtent(ctx, &clogspb.StreamAllocExtentRequest{StreamId: s.Stream.Id})
	if err != nil {
		t.Fatal(err)
	}
	e := layout.Extents[0]
	primary := cl.node(e.Replicas[0].Addr)
	appendTo(t, primary, e.Id, "before")

	m.Close()
	// Appends go on for several heartbeat intervals after the manager
	// went away.
	deadline := time.Now().Add(5 * testcluster.Heartbeat)
	var end uint64
	blocks := 1
	for time.Now().Before(deadline) || blocks < 4 {
		end = appendTo(t, primary, e.Id, fmt.Sprintf("after %d", blocks)).End
		blocks++
	}
	read, last := readAll(t, primary, e.Id)
	if read != blocks || last.End != end {
		t.Fatalf("read %d blocks up to %d; appended %d up to %d", read, last.End, blocks, end)
	}
	// Stopping does not wait for a heartbeat stuck on the dead manager.
	began := time.Now()
	for _, nd := range nodes {
		nd.Stop()
	}
	if took := time.Since(began); took > time.Second {
		t.Fatalf("stopping three nodes took %v", took)
	}
}

func TestDisksDisagreeOnNodeUUID(t *testing.T) {
	root := t.TempDir()
	a, b := filepath.Join(root, "a"), filepath.Join(root, "b")
	for _, dir := range []string{a, b} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "node-uuid"), []byte(uuid.NewString()+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	nd, err := node.New(nodeConfig([]string{a, b}))
	if err == nil {
		nd.Stop()
		t.Fatal("a node started on disks of two different nodes")
	}
	for _, want := range []string{"different nodes", filepath.Join(a, "node-uuid"), filepath.Join(b, "node-uuid")} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestNodeUUIDIsKeptOnEveryDisk(t *testing.T) {
	root := t.TempDir()
	a, b := filepath.Join(root, "a"), filepath.Join(root, "b")
	first, err := node.New(nodeConfig([]string{a}))
	if err != nil {
		t.Fatal(err)
	}
	first.Stop()
	if _, err := uuid.Parse(first.UUID()); err != nil {
		t.Fatalf("node UUID %q: %v", first.UUID(), err)
	}
	// A disk added later takes the node's UUID, and either disk alone
	// still names the node.
	both, err := node.New(nodeConfig([]string{a, b}))
	if err != nil {
		t.Fatal(err)
	}
	both.Stop()
	onlyB, err := node.New(nodeConfig([]string{b}))
	if err != nil {
		t.Fatal(err)
	}
	onlyB.Stop()
	if both.UUID() != first.UUID() || onlyB.UUID() != first.UUID() {
		t.Fatalf("UUIDs %s, %s, %s; want one", first.UUID(), both.UUID(), onlyB.UUID())
	}

	if err := os.WriteFile(filepath.Join(a, "node-uuid"), []byte("not a uuid\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if nd, err := node.New(nodeConfig([]string{a})); err == nil || !strings.Contains(err.Error(), "not a UUID") {
		if nd != nil {
			nd.Stop()
		}
		t.Fatalf("node with a garbled node-uuid: %v", err)
	}

	cfg := nodeConfig([]string{a})
	cfg.HeartbeatInterval = 0
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "heartbeat interval") {
		t.Fatalf("zero heartbeat interval: %v", err)
	}
}

// fakeManager answers RegisterNode and Heartbeat as a follower naming a
// leader, or as that leader.
type fakeManager struct {
	clogspb.UnimplementedStreamManagerServer
	leader     string // non-empty: a follower pointing there
	registered atomic.Int32
	heartbeats atomic.Int32
	forgetOnce atomic.Bool // answer the next heartbeat "not found"
}

func (f *fakeManager) RegisterNode(ctx context.Context, req *clogspb.RegisterNodeRequest) (*clogspb.RegisterNodeResponse, error) {
	if f.leader != "" {
		return nil, streammanager.ToStatus(&streammanager.NotLeaderError{Leader: f.leader})
	}
	f.registered.Add(1)
	return &clogspb.RegisterNodeResponse{NodeId: 7}, nil
}

func (f *fakeManager) Heartbeat(ctx context.Context, req *clogspb.HeartbeatRequest) (*clogspb.HeartbeatResponse, error) {
	if f.leader != "" {
		return nil, streammanager.ToStatus(&streammanager.NotLeaderError{Leader: f.leader})
	}
	if req.NodeId != 7 {
		return nil, streammanager.ToStatus(fmt.Errorf("%w: node %d", streammanager.ErrBadRequest, req.NodeId))
	}
	if f.forgetOnce.CompareAndSwap(true, false) {
		return nil, streammanager.ToStatus(fmt.Errorf("%w: node %d", streammanager.ErrNotFound, req.NodeId))
	}
	f.heartbeats.Add(1)
	return &clogspb.HeartbeatResponse{}, nil
}

func serveFake(t *testing.T, f *fakeManager) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(conn.ServerOptions()...)
	clogspb.RegisterStreamManagerServer(srv, f)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

func TestNodeFollowsTheLeaderAndRegistersAgain(t *testing.T) {
	leader := &fakeManager{}
	leaderAddr := serveFake(t, leader)
	follower := &fakeManager{leader: leaderAddr}
	followerAddr := serveFake(t, follower)
	dead := fmt.Sprintf("127.0.0.1:%d", testcluster.FreePorts(t, 1)[0])

	nd := testcluster.StartNode(t, nodeConfig([]string{t.TempDir()}, dead, followerAddr))
	waitFor(t, 10*time.Second, "registration through the follower", func() bool { return nd.NodeID() == 7 })
	waitFor(t, 10*time.Second, "heartbeats to the leader", func() bool { return leader.heartbeats.Load() >= 2 })

	// A manager that forgot the node gets it registered again.
	leader.forgetOnce.Store(true)
	waitFor(t, 10*time.Second, "registering again", func() bool { return leader.registered.Load() == 2 })
	beats := leader.heartbeats.Load()
	waitFor(t, 10*time.Second, "heartbeats after registering again", func() bool { return leader.heartbeats.Load() > beats })
}
