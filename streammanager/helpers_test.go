package streammanager

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/clogs-io/clogs/conn"
	"github.com/clogs-io/clogs/node"
	clogspb "github.com/clogs-io/clogs/proto"
)

// Helpers shared by the manager, allocation, ID and input tests. Every
// wait polls a condition under a deadline; nothing sleeps to synchronise.

// testCtx is a context that ends with the test, or after d.
func testCtx(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// openManager starts a manager and returns it with an idempotent close,
// which also runs at cleanup. Use it where a test closes the manager
// itself (restart, failover).
func openManager(t *testing.T, cfg Config) (*Manager, func()) {
	t.Helper()
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(); err != nil {
		m.Close()
		t.Fatal(err)
	}
	var once sync.Once
	closeIt := func() { once.Do(func() { m.Close() }) }
	t.Cleanup(closeIt)
	return m, closeIt
}

// eventually polls cond every 10ms until it holds, failing the test after
// timeout.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// wantRemote checks that err is a stream manager error with the code and
// reason, and returns it.
func wantRemote(t *testing.T, err error, code codes.Code, reason string) *RemoteError {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %s (%s)", reason, code)
	}
	var re *RemoteError
	if !errors.As(FromStatus(err), &re) {
		t.Fatalf("error %v is not a stream manager status", err)
	}
	if re.Code != code || re.Reason != reason {
		t.Fatalf("error %v: got %s (%s), want %s (%s)", err, re.Reason, re.Code, reason, code)
	}
	return re
}

// registerNodeDisk registers one node with a single disk of 100 GiB of
// which freeGiB are free, and returns its ID.
func registerNodeDisk(t *testing.T, sm clogspb.StreamManagerClient, uuidStr, addr string, freeGiB uint64) uint64 {
	t.Helper()
	resp, err := sm.RegisterNode(testCtx(t, 10*time.Second), &clogspb.RegisterNodeRequest{Uuid: uuidStr, Addr: addr,
		Disks: []*clogspb.DiskUsage{{TotalBytes: 100 << 30, FreeBytes: freeGiB << 30}}})
	if err != nil {
		t.Fatal(err)
	}
	return resp.NodeId
}

// heartbeater keeps a changeable set of nodes alive by heartbeating them
// every 50ms, as their own loops would, until the test ends.
type heartbeater struct {
	mu    sync.Mutex
	alive map[uint64]bool
	free  map[uint64]uint64 // GiB free of 100 a node reports; 50 if unset
}

func startHeartbeats(t *testing.T, sm clogspb.StreamManagerClient, ids ...uint64) *heartbeater {
	t.Helper()
	return startHeartbeatsFree(t, sm, nil, ids...)
}

// startHeartbeatsFree is startHeartbeats with the GiB free (of 100) that
// some nodes report, from the first round on.
func startHeartbeatsFree(t *testing.T, sm clogspb.StreamManagerClient, free map[uint64]uint64, ids ...uint64) *heartbeater {
	t.Helper()
	h := &heartbeater{alive: map[uint64]bool{}, free: map[uint64]uint64{}}
	for id, gib := range free {
		h.free[id] = gib
	}
	h.set(ids...)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			h.mu.Lock()
			free := map[uint64]uint64{}
			for id := range h.alive {
				free[id] = cmp.Or(h.free[id], 50)
			}
			h.mu.Unlock()
			for id, gib := range free {
				callCtx, callCancel := context.WithTimeout(ctx, 2*time.Second)
				sm.Heartbeat(callCtx, &clogspb.HeartbeatRequest{NodeId: id,
					Disks: []*clogspb.DiskUsage{{TotalBytes: 100 << 30, FreeBytes: gib << 30}}})
				callCancel()
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return h
}

// set replaces the set of nodes kept alive.
func (h *heartbeater) set(ids ...uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.alive = map[uint64]bool{}
	for _, id := range ids {
		h.alive[id] = true
	}
}

// aliveSet returns the IDs of the nodes the manager considers alive.
func aliveSet(t *testing.T, sm clogspb.StreamManagerClient) map[uint64]bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := sm.NodesInfo(ctx, &clogspb.NodesInfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[uint64]bool{}
	for _, n := range resp.Nodes {
		if n.Alive {
			out[n.Node.Id] = true
		}
	}
	return out
}

// startNodeIn starts a real extent-node on dir, listening on listen.
func startNodeIn(t *testing.T, dir, listen string) *node.Node {
	t.Helper()
	cfg := node.DefaultConfig()
	cfg.Listen, cfg.HTTP = listen, ""
	cfg.Disks = []string{dir}
	cfg.StreamManagers = nil
	nd, err := node.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := nd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nd.Stop)
	return nd
}

// replicaNodes returns the node IDs of an extent's replicas.
func replicaNodes(e *clogspb.ExtentMeta) []uint64 {
	var ids []uint64
	for _, r := range e.Replicas {
		ids = append(ids, r.NodeId)
	}
	return ids
}

// checkDistinct fails unless the extent has three replicas on distinct
// nodes.
func checkDistinct(t *testing.T, e *clogspb.ExtentMeta) {
	t.Helper()
	ids := replicaNodes(e)
	slices.Sort(ids)
	if len(slices.Compact(ids)) != 3 || len(e.Replicas) != 3 {
		t.Fatalf("extent %d replicas %v: want three distinct nodes", e.Id, replicaNodes(e))
	}
}

func extentIDs(l *clogspb.StreamResponse) []uint64 {
	var ids []uint64
	for _, e := range l.Extents {
		ids = append(ids, e.Id)
	}
	return ids
}

// etcdState reads every metadata key of m's cluster straight from etcd
// (not from the cache), leaving out the election keys.
func etcdState(t *testing.T, m *Manager) map[string]string {
	t.Helper()
	resp, err := m.etcd.client.Get(testCtx(t, 5*time.Second), m.cfg.prefix(), clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, kv := range resp.Kvs {
		key := strings.TrimPrefix(string(kv.Key), m.cfg.prefix())
		if strings.HasPrefix(key, leaderDir) {
			continue
		}
		out[key] = string(kv.Value)
	}
	return out
}

// etcdStream reads a stream's metadata straight from etcd; nil if absent.
func etcdStream(t *testing.T, m *Manager, id uint64) *clogspb.StreamMeta {
	t.Helper()
	v, ok := etcdState(t, m)[idKey(streamsDir, id)]
	if !ok {
		return nil
	}
	s := &clogspb.StreamMeta{}
	if err := proto.Unmarshal([]byte(v), s); err != nil {
		t.Fatal(err)
	}
	return s
}

// snapshot is everything a client can read from the leader, with the
// revisions left out, so that two snapshots compare equal when the
// metadata is the same.
type snapshot struct {
	streams []*clogspb.StreamResponse
	extents []*clogspb.ExtentMeta
	nodes   []*clogspb.NodeMeta
}

func takeSnapshot(t *testing.T, sm clogspb.StreamManagerClient) snapshot {
	t.Helper()
	ctx := testCtx(t, 10*time.Second)
	var s snapshot
	list, err := sm.ListStreams(ctx, &clogspb.ListStreamsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range list.Streams {
		l, err := sm.StreamInfo(ctx, byID(st.Id))
		if err != nil {
			t.Fatal(err)
		}
		byName, err := sm.StreamInfo(ctx, byName(st.Name))
		if err != nil {
			t.Fatal(err)
		}
		l.Revision, byName.Revision = 0, 0
		if !proto.Equal(l, byName) {
			t.Fatalf("stream %d by ID %v, by name %v", st.Id, l, byName)
		}
		s.streams = append(s.streams, l)
		for _, e := range l.Extents {
			info, err := sm.ExtentInfo(ctx, &clogspb.ExtentInfoRequest{ExtentId: e.Id})
			if err != nil {
				t.Fatal(err)
			}
			s.extents = append(s.extents, info.Extent)
		}
	}
	nodes, err := sm.NodesInfo(ctx, &clogspb.NodesInfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes.Nodes {
		s.nodes = append(s.nodes, n.Node)
	}
	return s
}

// maxID is the largest ID of any stream, extent or node in the snapshot.
func (s snapshot) maxID() uint64 {
	var top uint64
	for _, l := range s.streams {
		top = max(top, l.Stream.Id)
	}
	for _, e := range s.extents {
		top = max(top, e.Id)
	}
	for _, n := range s.nodes {
		top = max(top, n.Id)
	}
	return top
}

func checkSameSnapshot(t *testing.T, before, after snapshot) {
	t.Helper()
	if len(before.streams) != len(after.streams) || len(before.extents) != len(after.extents) || len(before.nodes) != len(after.nodes) {
		t.Fatalf("counts changed: streams %d -> %d, extents %d -> %d, nodes %d -> %d",
			len(before.streams), len(after.streams), len(before.extents), len(after.extents), len(before.nodes), len(after.nodes))
	}
	for i := range before.streams {
		if !proto.Equal(before.streams[i], after.streams[i]) {
			t.Errorf("stream changed:\n before %v\n after  %v", before.streams[i], after.streams[i])
		}
	}
	for i := range before.extents {
		if !proto.Equal(before.extents[i], after.extents[i]) {
			t.Errorf("extent changed:\n before %v\n after  %v", before.extents[i], after.extents[i])
		}
	}
	for i := range before.nodes {
		if !proto.Equal(before.nodes[i], after.nodes[i]) {
			t.Errorf("node changed:\n before %v\n after  %v", before.nodes[i], after.nodes[i])
		}
	}
}

// clusterConfigs returns n manager configs forming one embedded etcd
// cluster, sm1..smn, each with its own data dir under root.
func clusterConfigs(t *testing.T, root string, n int) []Config {
	t.Helper()
	ports := freePorts(t, 2*n)
	var members []string
	var cfgs []Config
	for i := range n {
		cfg := managerConfig(t, filepath.Join(root, fmt.Sprintf("sm%d", i+1)))
		cfg.Name = fmt.Sprintf("sm%d", i+1)
		cfg.EtcdClientURL = fmt.Sprintf("http://127.0.0.1:%d", ports[2*i])
		cfg.EtcdPeerURL = fmt.Sprintf("http://127.0.0.1:%d", ports[2*i+1])
		members = append(members, cfg.Name+"="+cfg.EtcdPeerURL)
		cfgs = append(cfgs, cfg)
	}
	for i := range cfgs {
		cfgs[i].InitialCluster = strings.Join(members, ",")
	}
	return cfgs
}

// idRange is one AllocID answer.
type idRange struct{ first, count uint64 }

// checkDisjoint fails if two ranges share an ID or a range holds ID 0.
func checkDisjoint(t *testing.T, ranges []idRange) {
	t.Helper()
	sorted := slices.Clone(ranges)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].first < sorted[j].first })
	for i, r := range sorted {
		if r.first == 0 || r.count == 0 {
			t.Fatalf("range %+v", r)
		}
		if i > 0 && sorted[i-1].first+sorted[i-1].count > r.first {
			t.Fatalf("IDs handed out twice: [%d, +%d) and [%d, +%d)", sorted[i-1].first, sorted[i-1].count, r.first, r.count)
		}
	}
}

// stallNode is a fake extent-node whose AllocExtent blocks until released
// and then fails: it holds a seal-and-allocate in the middle of placement
// for as long as a test needs.
type stallNode struct {
	clogspb.UnimplementedExtentServiceServer
	srv      *grpc.Server
	lis      net.Listener
	entered  chan struct{}
	enterOne sync.Once
	release  chan struct{}
	relOne   sync.Once
}

func startStallNode(t *testing.T) *stallNode {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &stallNode{lis: lis, entered: make(chan struct{}), release: make(chan struct{})}
	s.srv = grpc.NewServer(conn.ServerOptions()...)
	clogspb.RegisterExtentServiceServer(s.srv, s)
	go s.srv.Serve(lis)
	t.Cleanup(func() { s.letGo(); s.srv.Stop() })
	return s
}

func (s *stallNode) Addr() string { return s.lis.Addr().String() }

func (s *stallNode) letGo() { s.relOne.Do(func() { close(s.release) }) }

func (s *stallNode) AllocExtent(ctx context.Context, req *clogspb.AllocExtentRequest) (*clogspb.AllocExtentResponse, error) {
	s.enterOne.Do(func() { close(s.entered) })
	select {
	case <-s.release:
	case <-ctx.Done():
	}
	return nil, status.Error(codes.Unavailable, "stall node: disk gone")
}

// newUUID is a fresh node UUID.
func newUUID() string { return uuid.NewString() }

func byID(id uint64) *clogspb.StreamInfoRequest {
	return &clogspb.StreamInfoRequest{Stream: &clogspb.StreamInfoRequest_Id{Id: id}}
}

func byName(name string) *clogspb.StreamInfoRequest {
	return &clogspb.StreamInfoRequest{Stream: &clogspb.StreamInfoRequest_Name{Name: name}}
}
