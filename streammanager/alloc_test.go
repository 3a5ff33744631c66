package streammanager

import (
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/clogs-io/clogs/extent"
	"github.com/clogs-io/clogs/node"
	clogspb "github.com/clogs-io/clogs/proto"
)

// TestConcurrentAllocSameTail: callers naming the same tail at once get
// exactly one new extent, and all see the same layout.
func TestConcurrentAllocSameTail(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	m := startManager(t, managerConfig(t, t.TempDir()))
	waitLeader(t, m)
	sm := smClient(t, m)
	startHeartbeats(t, sm, registerNodes(t, sm, startNodes(t, 3))...)
	s, err := sm.CreateStream(ctx, &clogspb.CreateStreamRequest{Name: "race"})
	if err != nil {
		t.Fatal(err)
	}

	const callers = 8
	allocAll := func(tail uint64) *clogspb.StreamResponse {
		t.Helper()
		layouts := make([]*clogspb.StreamResponse, callers)
		errs := make([]error, callers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range callers {
			wg.Go(func() {
				<-start
				layouts[i], errs[i] = sm.StreamAllocExtent(ctx, &clogspb.StreamAllocExtentRequest{StreamId: s.Stream.Id, TailExtentId: tail})
			})
		}
		close(start)
		wg.Wait()
		for i := range callers {
			if errs[i] != nil {
				t.Fatalf("caller %d: %v", i, errs[i])
			}
			layouts[i].Revision = 0
			if !proto.Equal(layouts[i], layouts[0]) {
				t.Fatalf("callers saw different layouts:\n %v\n %v", layouts[0], layouts[i])
			}
		}
		return layouts[0]
	}

	// From no extent, then twice from a tail (once with data in it).
	l := allocAll(0)
	if len(l.Extents) != 1 {
		t.Fatalf("after concurrent first allocs: %v", extentIDs(l))
	}
	for round := range 2 {
		var end uint64 = extent.ExtentHeaderSize
		if round == 1 {
			end = appendTo(t, l.Extents[len(l.Extents)-1], "data")
		}
		prev := l
		l = allocAll(prev.Extents[len(prev.Extents)-1].Id)
		if !slices.Equal(extentIDs(l)[:len(prev.Extents)], extentIDs(prev)) || len(l.Extents) != len(prev.Extents)+1 {
			t.Fatalf("round %d: %v after %v", round, extentIDs(l), extentIDs(prev))
		}
		sealed := l.Extents[len(l.Extents)-2]
		if !sealed.Sealed || sealed.SealedLength != end {
			t.Fatalf("round %d: old tail %v, want sealed at %d", round, sealed, end)
		}
	}
	info, err := sm.StreamInfo(ctx, byID(s.Stream.Id))
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Extents) != 3 {
		t.Fatalf("stream has %v", extentIDs(info))
	}
	for i, e := range info.Extents {
		got, err := sm.ExtentInfo(ctx, &clogspb.ExtentInfoRequest{ExtentId: e.Id})
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(got.Extent, e) || got.Extent.Sealed != (i < 2) {
			t.Fatalf("extent %d: %v in the layout, %v by ExtentInfo", e.Id, e, got.Extent)
		}
		checkDistinct(t, e)
	}
	if st := m.status(ctx); st.Extents != 3 || st.Unsealed != 1 {
		t.Fatalf("status %+v", st)
	}
}

// TestDeadNodeNeverChosen: a node that stops heartbeating for
// NodeDeadAfter gets no new extents, even when it is the freest; with
// fewer than three live nodes, allocation fails at once with
// not-enough-nodes, and works again when a node comes back.
func TestDeadNodeNeverChosen(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	cfg := managerConfig(t, t.TempDir())
	cfg.NodeDeadAfter = time.Second
	m := startManager(t, cfg)
	waitLeader(t, m)
	sm := smClient(t, m)
	nodes := startNodes(t, 4)
	var ids []uint64
	for i, nd := range nodes {
		free := uint64(50)
		if i == 3 {
			free = 90 // the freest: chosen first while it lives
		}
		ids = append(ids, registerNodeDisk(t, sm, newUUID(), nd.Addr(), free))
	}
	freest := ids[3]
	h := startHeartbeatsFree(t, sm, map[uint64]uint64{freest: 90}, ids...)

	newStream := func(name string) uint64 {
		s, err := sm.CreateStream(ctx, &clogspb.CreateStreamRequest{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		return s.Stream.Id
	}
	alloc := func(stream, tail uint64) (*clogspb.StreamResponse, error) {
		return sm.StreamAllocExtent(ctx, &clogspb.StreamAllocExtentRequest{StreamId: stream, TailExtentId: tail})
	}

	s0 := newStream("s0")
	l, err := alloc(s0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if l.Extents[0].Replicas[0].NodeId != freest {
		t.Fatalf("while alive, the freest node %d is not the primary: %v", freest, replicaNodes(l.Extents[0]))
	}

	h.set(ids[:3]...)
	eventually(t, 5*time.Second, "the silent node is still alive", func() bool {
		alive := aliveSet(t, sm)
		return !alive[freest] && len(alive) == 3
	})
	tail := l.Extents[0].Id
	for i := range 5 {
		l, err := alloc(s0, tail)
		if err != nil {
			t.Fatal(err)
		}
		e := l.Extents[len(l.Extents)-1]
		checkDistinct(t, e)
		if slices.Contains(replicaNodes(e), freest) {
			t.Fatalf("alloc %d placed extent %d on dead node %d: %v", i, e.Id, freest, replicaNodes(e))
		}
		tail = e.Id
	}

	// Two live nodes: not enough, and said so at once.
	h.set(ids[:2]...)
	eventually(t, 5*time.Second, "the third node is still alive", func() bool { return len(aliveSet(t, sm)) == 2 })
	empty := newStream("empty")
	began := time.Now()
	_, err = alloc(empty, 0)
	took := time.Since(began)
	re := wantRemote(t, err, codes.ResourceExhausted, "not-enough-nodes")
	if !errors.Is(re, ErrNotEnoughNodes) {
		t.Errorf("%v does not match ErrNotEnoughNodes", re)
	}
	if took > 500*time.Millisecond {
		t.Errorf("not-enough-nodes took %v", took)
	}
	// The same with an open tail to seal: the layout does not change.
	before, err := sm.StreamInfo(ctx, byID(s0))
	if err != nil {
		t.Fatal(err)
	}
	_, err = alloc(s0, tail)
	wantRemote(t, err, codes.ResourceExhausted, "not-enough-nodes")
	after, err := sm.StreamInfo(ctx, byID(s0))
	if err != nil {
		t.Fatal(err)
	}
	before.Revision, after.Revision = 0, 0
	if !proto.Equal(before, after) {
		t.Fatalf("a failed alloc changed the layout:\n %v\n %v", before, after)
	}

	// A node comes back: the retry seals the tail and allocates.
	h.set(ids[:3]...)
	eventually(t, 5*time.Second, "the third node is not alive again", func() bool { return len(aliveSet(t, sm)) == 3 })
	l, err = alloc(s0, tail)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(l.Extents); !l.Extents[n-2].Sealed || l.Extents[n-2].SealedLength != extent.ExtentHeaderSize || slices.Contains(replicaNodes(l.Extents[n-1]), freest) {
		t.Fatalf("after the node came back: %v", l.Extents)
	}
}

// TestSealWithOneReplicaDown: a secondary stops; the seal takes the length
// the two others agree on, which is the acked end, and the new extent goes
// to live nodes. The stopped replica, heartbeating again, is told to seal
// at the recorded length, or shows as needing repair if it is shorter.
func TestSealWithOneReplicaDown(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	m := startManager(t, managerConfig(t, t.TempDir()))
	waitLeader(t, m)
	sm := smClient(t, m)
	root := t.TempDir()
	var nodes []*node.Node
	var dirs []string
	var ids []uint64
	for i := range 4 {
		dirs = append(dirs, filepath.Join(root, string(rune('a'+i))))
		nodes = append(nodes, startNodeIn(t, dirs[i], "127.0.0.1:0"))
		free := uint64(50)
		if i == 3 {
			free = 30 // the fullest: not chosen while three others live
		}
		ids = append(ids, registerNodeDisk(t, sm, newUUID(), nodes[i].Addr(), free))
	}
	h := startHeartbeatsFree(t, sm, map[uint64]uint64{ids[3]: 30}, ids...)

	s, err := sm.CreateStream(ctx, &clogspb.CreateStreamRequest{Name: "s"})
	if err != nil {
		t.Fatal(err)
	}
	l, err := sm.StreamAllocExtent(ctx, &clogspb.StreamAllocExtentRequest{StreamId: s.Stream.Id})
	if err != nil {
		t.Fatal(err)
	}
	e1 := l.Extents[0]
	if slices.Contains(replicaNodes(e1), ids[3]) {
		t.Fatalf("first extent on the fullest node: %v", replicaNodes(e1))
	}
	appendTo(t, e1, "a", "b")
	end := appendTo(t, e1, "c")

	down := e1.Replicas[2]
	downIdx := slices.IndexFunc(nodes, func(nd *node.Node) bool { return nd.Addr() == down.Addr })
	live := slices.DeleteFunc(slices.Clone(ids), func(id uint64) bool { return id == down.NodeId })
	h.set(live...)
	nodes[downIdx].Stop()

	l, err = sm.StreamAllocExtent(ctx, &clogspb.StreamAllocExtentRequest{StreamId: s.Stream.Id, TailExtentId: e1.Id})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Extents) != 2 || !l.Extents[0].Sealed || l.Extents[0].SealedLength != end {
		t.Fatalf("after sealing with a replica down: %v, acked end %d", l.Extents, end)
	}
	e2 := l.Extents[1]
	checkDistinct(t, e2)
	if slices.Contains(replicaNodes(e2), down.NodeId) {
		t.Fatalf("new extent on the stopped node: %v", replicaNodes(e2))
	}
	for _, r := range e1.Replicas[:2] {
		got, err := newNodeClient(t, r.Addr).CommitLength(ctx, &clogspb.CommitLengthRequest{ExtentId: e1.Id})
		if err != nil {
			t.Fatal(err)
		}
		if !got.Sealed || got.Length != end {
			t.Fatalf("replica on %s: %v, want sealed at %d", r.Addr, got, end)
		}
	}

	// The stopped node comes back from its disk, at its old address.
	back := startNodeIn(t, dirs[downIdx], down.Addr)
	nc := newNodeClient(t, back.Addr())
	got, err := nc.CommitLength(ctx, &clogspb.CommitLengthRequest{ExtentId: e1.Id})
	if err != nil {
		t.Fatal(err)
	}
	if got.Sealed || got.Length < end {
		t.Fatalf("restarted replica %v, want unsealed with at least %d", got, end)
	}
	for _, length := range []uint64{got.Length, got.Length + extent.BlockSize(100)} {
		hb, err := sm.Heartbeat(ctx, &clogspb.HeartbeatRequest{NodeId: down.NodeId,
			Unsealed: []*clogspb.ReplicaReport{{ExtentId: e1.Id, CommitLength: length}}})
		if err != nil {
			t.Fatal(err)
		}
		if len(hb.Seal) != 1 || hb.Seal[0].ExtentId != e1.Id || hb.Seal[0].Length != end || len(hb.UnknownExtents) != 0 {
			t.Fatalf("heartbeat reporting length %d: %v, want a seal order at %d", length, hb, end)
		}
	}
	if _, err := nc.Seal(ctx, &clogspb.SealRequest{ExtentId: e1.Id, Length: end}); err != nil {
		t.Fatal(err)
	}
	if got, err := nc.CommitLength(ctx, &clogspb.CommitLengthRequest{ExtentId: e1.Id}); err != nil || !got.Sealed || got.Length != end {
		t.Fatalf("after the seal order: %v %v", got, err)
	}
	if st := m.status(ctx); len(st.NeedRepair) != 0 {
		t.Fatalf("need repair %v before any short report", st.NeedRepair)
	}

	// A report shorter than the sealed length: no seal order, needs repair.
	hb, err := sm.Heartbeat(ctx, &clogspb.HeartbeatRequest{NodeId: down.NodeId,
		Unsealed: []*clogspb.ReplicaReport{{ExtentId: e1.Id, CommitLength: end - extent.BlockSize(1)}, {ExtentId: 999999, CommitLength: 512}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(hb.Seal) != 0 || !slices.Equal(hb.UnknownExtents, []uint64{999999}) {
		t.Fatalf("heartbeat with a short replica: %v", hb)
	}
	if st := m.status(ctx); !slices.Equal(st.NeedRepair, []uint64{e1.Id}) {
		t.Fatalf("need repair %v, want [%d]", st.NeedRepair, e1.Id)
	}
}
