package node

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/clogs-io/clogs/conn"
	"github.com/clogs-io/clogs/extent"
	clogspb "github.com/clogs-io/clogs/proto"
)

// recordingManager is a stream manager that registers every node as node
// 1, records the heartbeats, and answers them with delete orders.
type recordingManager struct {
	clogspb.UnimplementedStreamManagerServer

	mu         sync.Mutex
	heartbeats []*clogspb.HeartbeatRequest // guarded by mu
	deletes    []uint64                    // guarded by mu; sent with every answer
	forget     bool                        // guarded by mu; answer the next heartbeat "not found"
	forgotten  string                      // guarded by mu; the disk of the node answered so
}

func (m *recordingManager) RegisterNode(ctx context.Context, req *clogspb.RegisterNodeRequest) (*clogspb.RegisterNodeResponse, error) {
	return &clogspb.RegisterNodeResponse{NodeId: 1}, nil
}

func (m *recordingManager) Heartbeat(ctx context.Context, req *clogspb.HeartbeatRequest) (*clogspb.HeartbeatResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.forget {
		m.forget, m.forgotten = false, req.Disks[0].Path
		return nil, codeTable.Status(ErrNotFound, &clogspb.ErrorDetail{})
	}
	m.heartbeats = append(m.heartbeats, req)
	return &clogspb.HeartbeatResponse{DeleteExtents: slices.Clone(m.deletes)}, nil
}

func (m *recordingManager) beats() []*clogspb.HeartbeatRequest {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.heartbeats)
}

func (m *recordingManager) serve(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(conn.ServerOptions()...)
	clogspb.RegisterStreamManagerServer(srv, m)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

// heartbeatsTo makes node i heartbeat often to the manager at addr, with
// a full report every third heartbeat.
func heartbeatsTo(addr string) func(int, *Config) {
	return func(_ int, cfg *Config) {
		cfg.StreamManagers = []string{addr}
		cfg.HeartbeatInterval = 10 * time.Millisecond
		cfg.FullReportEvery = 3
	}
}

// TestFullReports: the first heartbeat after registering is a full
// report, then every third; a report lists every replica with its length,
// seal and damage, and an extent file that failed to open as damaged.
// Registering again starts over with a full report.
func TestFullReports(t *testing.T) {
	m := &recordingManager{}
	c := startClusterWith(t, 3, heartbeatsTo(m.serve(t)))
	sealed := c.writeSealed(1, 5000)
	c.alloc(2, 0, 1, 2)
	open := mustAppend(t, c.client(0), 2, testPayload("open", 100))
	c.nodes[1].markDamaged(c.localReplica(1, 1), &extent.CorruptionError{ExtentID: 1, Offset: extent.ExtentHeaderSize})
	c.nodes[1].mu.Lock()
	c.nodes[1].damaged[3] = damagedExtent{disk: c.nodes[1].disks[0], err: errors.New("bad header")}
	c.nodes[1].mu.Unlock()

	m.mu.Lock()
	m.heartbeats = nil // from here on every replica exists
	m.forget = true    // and the nodes register again
	m.mu.Unlock()
	// Every node is node 1 to this manager; tell them apart by disk.
	var perNode map[string][]*clogspb.HeartbeatRequest
	waitFor(t, 10*time.Second, "7 heartbeats of each node", func() bool {
		perNode = map[string][]*clogspb.HeartbeatRequest{}
		for _, hb := range m.beats() {
			perNode[hb.Disks[0].Path] = append(perNode[hb.Disks[0].Path], hb)
		}
		for _, dir := range c.dirs {
			if len(perNode[dir]) < 7 {
				return false
			}
		}
		return true
	})
	m.mu.Lock()
	forgotten := m.forgotten
	m.mu.Unlock()
	if beats := perNode[forgotten]; forgotten == "" || !beats[0].FullReport {
		t.Fatalf("the node registered again at %q did not send a full report first", forgotten)
	}
	for i, dir := range c.dirs {
		beats := perNode[dir]
		first := slices.IndexFunc(beats, func(hb *clogspb.HeartbeatRequest) bool { return hb.FullReport })
		if first < 0 {
			t.Fatalf("node %d sent no full report", i)
		}
		for k, hb := range beats[first:] {
			if want := k%3 == 0; hb.FullReport != want || (len(hb.Replicas) > 0) != want {
				t.Fatalf("node %d heartbeat %d after the first full one: full %v with %d replicas", i, k, hb.FullReport, len(hb.Replicas))
			}
		}
		got := beats[first].Replicas
		want := []*clogspb.ReplicaReport{
			{ExtentId: 1, CommitLength: sealed.length, Sealed: true, Damaged: i == 1},
			{ExtentId: 2, CommitLength: open.End},
		}
		if i == 1 {
			want = append(want, &clogspb.ReplicaReport{ExtentId: 3, Damaged: true})
		}
		if !slices.EqualFunc(got, want, sameReport) {
			t.Fatalf("node %d full report %v, want %v", i, got, want)
		}
	}
}

func (c *testCluster) localReplicaOf(nd *Node, id uint64) *replica {
	c.t.Helper()
	r, err := nd.replica(id)
	if err != nil {
		c.t.Fatal(err)
	}
	return r
}

func sameReport(a, b *clogspb.ReplicaReport) bool {
	return a.ExtentId == b.ExtentId && a.CommitLength == b.CommitLength && a.Sealed == b.Sealed && a.Damaged == b.Damaged
}

// TestFailedDiskLeavesTheReports: an extent on a disk that returned EIO is
// not in full reports (so the manager copies it elsewhere), and its disk
// is reported failed; the node's other disk goes on.
func TestFailedDiskLeavesTheReports(t *testing.T) {
	root := t.TempDir()
	cfg := testConfig(root + "/a")
	cfg.Disks = append(cfg.Disks, root+"/b")
	c := &testCluster{t: t}
	nd := c.startNode(cfg)
	defer nd.Stop()
	set := []*clogspb.Replica{{NodeId: 1, Addr: nd.Addr()}, {NodeId: 2, Addr: "127.0.0.1:1"}, {NodeId: 3, Addr: "127.0.0.1:2"}}
	if err := nd.alloc(1, set, 1); err != nil {
		t.Fatal(err)
	}
	bad := c.localReplicaOf(nd, 1).disk
	bad.noteError(&fs.PathError{Op: "pwritev", Path: bad.path, Err: syscall.EIO})
	if err := nd.alloc(2, set, 1); err != nil {
		t.Fatal(err)
	}
	reports := nd.replicaReports()
	if len(reports) != 1 || reports[0].ExtentId != 2 {
		t.Fatalf("full report with a failed disk: %v", reports)
	}
	for _, u := range nd.diskUsage() {
		if (u.Path == bad.path) != u.Failed {
			t.Fatalf("disk usage %v", u)
		}
	}
}

// TestDeleteOrders: extents the manager orders deleted are deleted like
// DeleteExtent does and counted, except one the node is primary of with
// an append in flight; orders for extents already gone are ignored.
func TestDeleteOrders(t *testing.T) {
	m := &recordingManager{}
	c := startClusterWith(t, 1, heartbeatsTo(m.serve(t)))
	nd := c.nodes[0]
	set := []*clogspb.Replica{{NodeId: 1, Addr: nd.Addr()}, {NodeId: 2, Addr: "127.0.0.1:1"}, {NodeId: 3, Addr: "127.0.0.1:2"}}
	for id := uint64(1); id <= 3; id++ {
		if err := nd.alloc(id, set, 0); err != nil {
			t.Fatal(err)
		}
	}
	// An append to extent 2 held for its turn: in flight until cancelled.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	held := make(chan error, 1)
	go func() {
		_, err := c.client(0).AppendBlocks(ctx, &clogspb.AppendBlocksRequest{ExtentId: 2, Blocks: blocksOf([]byte("later")), ExpectedOffset: ptr(uint64(1 << 20))})
		held <- err
	}()
	waitFor(t, 10*time.Second, "the append to be held", func() bool { return c.heldAppends(0, 2) == 1 })

	m.mu.Lock()
	m.deletes = []uint64{1, 2, 99}
	m.mu.Unlock()
	waitFor(t, 10*time.Second, "extent 1 deleted", func() bool {
		_, err := os.Stat(c.extentPath(0, 1))
		return os.IsNotExist(err)
	})
	before := len(m.beats())
	waitFor(t, 10*time.Second, "more heartbeats", func() bool { return len(m.beats()) > before+3 })
	if _, err := nd.replica(2); err != nil {
		t.Fatalf("extent 2, with an append in flight, was deleted: %v", err)
	}
	if got := counterValue(nd.metrics.orphansDeleted); got != 1 {
		t.Fatalf("orphans deleted: %v", got)
	}
	cancel()
	<-held
	waitFor(t, 10*time.Second, "extent 2 deleted once idle", func() bool {
		_, err := nd.replica(2)
		return errors.Is(err, ErrNotFound)
	})
	if _, err := nd.replica(3); err != nil {
		t.Fatalf("extent 3 was never ordered deleted: %v", err)
	}
}
