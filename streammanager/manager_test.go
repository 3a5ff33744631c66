package streammanager

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/clogs-io/clogs/extent"
	clogspb "github.com/clogs-io/clogs/proto"
)

// appendTo appends payloads to an extent through its primary and returns
// the acked end.
func appendTo(t *testing.T, e *clogspb.ExtentMeta, payloads ...string) uint64 {
	t.Helper()
	var blocks []*clogspb.Block
	for _, p := range payloads {
		blocks = append(blocks, &clogspb.Block{Payload: []byte(p)})
	}
	resp, err := newNodeClient(t, e.Replicas[0].Addr).AppendBlocks(testCtx(t, 10*time.Second),
		&clogspb.AppendBlocksRequest{ExtentId: e.Id, Blocks: blocks})
	if err != nil {
		t.Fatal(err)
	}
	return resp.End
}

// TestRestartKeepsMetadata closes a manager and starts another on the same
// data dir and ports: streams, extents with their sealed lengths and nodes
// are all there, and IDs handed out afterwards are larger than any before.
func TestRestartKeepsMetadata(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	cfg := managerConfig(t, t.TempDir())
	m1, close1 := openManager(t, cfg)
	waitLeader(t, m1)
	nodes := startNodes(t, 3)
	sm := smClient(t, m1)
	nodeIDs := registerNodes(t, sm, nodes)

	a, err := sm.CreateStream(ctx, &clogspb.CreateStreamRequest{Name: "app/a"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := sm.CreateStream(ctx, &clogspb.CreateStreamRequest{Name: "app/b"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sm.CreateStream(ctx, &clogspb.CreateStreamRequest{Name: "empty"}); err != nil {
		t.Fatal(err)
	}
	// a: a sealed extent with data and an open one; b: one open extent.
	la, err := sm.StreamAllocExtent(ctx, &clogspb.StreamAllocExtentRequest{StreamId: a.Stream.Id})
	if err != nil {
		t.Fatal(err)
	}
	end := appendTo(t, la.Extents[0], "one", "two", strings.Repeat("x", 5000))
	la, err = sm.StreamAllocExtent(ctx, &clogspb.StreamAllocExtentRequest{StreamId: a.Stream.Id, TailExtentId: la.Extents[0].Id})
	if err != nil {
		t.Fatal(err)
	}
	if len(la.Extents) != 2 || !la.Extents[0].Sealed || la.Extents[0].SealedLength != end {
		t.Fatalf("stream a %v, acked end %d", la.Extents, end)
	}
	if _, err := sm.StreamAllocExtent(ctx, &clogspb.StreamAllocExtentRequest{StreamId: b.Stream.Id}); err != nil {
		t.Fatal(err)
	}
	ids, err := sm.AllocID(ctx, &clogspb.AllocIDRequest{Count: 7})
	if err != nil {
		t.Fatal(err)
	}
	before := takeSnapshot(t, sm)
	if len(before.streams) != 3 || len(before.extents) != 3 || len(before.nodes) != 3 {
		t.Fatalf("before restart: %d streams, %d extents, %d nodes", len(before.streams), len(before.extents), len(before.nodes))
	}
	top := max(before.maxID(), ids.First+uint64(ids.Count)-1)

	cfg.Listen = m1.Addr() // the same ports throughout
	close1()
	m2, _ := openManager(t, cfg)
	waitLeader(t, m2)
	sm2 := smClient(t, m2)
	checkSameSnapshot(t, before, takeSnapshot(t, sm2))
	if got := aliveSet(t, sm2); len(got) != 0 {
		t.Errorf("nodes alive %v before any heartbeat to the new manager", got)
	}

	more, err := sm2.AllocID(ctx, &clogspb.AllocIDRequest{Count: 3})
	if err != nil {
		t.Fatal(err)
	}
	if more.First <= top {
		t.Errorf("AllocID after restart gave %d, not above %d", more.First, top)
	}
	c, err := sm2.CreateStream(ctx, &clogspb.CreateStreamRequest{Name: "after-restart"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Stream.Id <= top {
		t.Errorf("stream created after restart has ID %d, not above %d", c.Stream.Id, top)
	}
	// The nodes heartbeat the new manager; a's open tail is sealed and a
	// new extent with a new ID follows it.
	for _, id := range nodeIDs {
		if _, err := sm2.Heartbeat(ctx, &clogspb.HeartbeatRequest{NodeId: id, Disks: []*clogspb.DiskUsage{{TotalBytes: 100 << 30, FreeBytes: 50 << 30}}}); err != nil {
			t.Fatal(err)
		}
	}
	la2, err := sm2.StreamAllocExtent(ctx, &clogspb.StreamAllocExtentRequest{StreamId: a.Stream.Id, TailExtentId: la.Extents[1].Id})
	if err != nil {
		t.Fatal(err)
	}
	if len(la2.Extents) != 3 || !la2.Extents[1].Sealed || la2.Extents[1].SealedLength != extent.ExtentHeaderSize || la2.Extents[2].Id <= top {
		t.Fatalf("stream a after restart and alloc: %v (IDs before went up to %d)", la2.Extents, top)
	}
	if la2.Extents[0].SealedLength != end {
		t.Fatalf("first extent's sealed length %d, want %d", la2.Extents[0].SealedLength, end)
	}
}

// startCluster starts n managers forming one etcd cluster. Each New waits
// for quorum, so they start concurrently. It returns the managers and
// their closers; cleanup closes whatever is still open, all at once (one by
// one, the last members would wait for a quorum that is gone).
func startCluster(t *testing.T, n int) ([]*Manager, []func()) {
	t.Helper()
	cfgs := clusterConfigs(t, t.TempDir(), n)
	ms := make([]*Manager, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range cfgs {
		wg.Go(func() { ms[i], errs[i] = New(cfgs[i]) })
	}
	wg.Wait()
	closers := make([]func(), n)
	for i, m := range ms {
		if m == nil {
			continue
		}
		var once sync.Once
		closers[i] = func() { once.Do(func() { m.Close() }) }
	}
	// Cleanup closes the leader first, then the others together. A
	// follower closed after the cluster has lost quorum takes etcd's
	// request timeout (7s) to close (see the report on Manager.Close).
	t.Cleanup(func() {
		for i, m := range ms {
			if m != nil && closers[i] != nil && m.IsLeader() {
				closers[i]()
			}
		}
		var wg sync.WaitGroup
		for _, c := range closers {
			if c != nil {
				wg.Go(c)
			}
		}
		wg.Wait()
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("sm%d: %v", i+1, err)
		}
	}
	for _, m := range ms {
		if err := m.Start(); err != nil {
			t.Fatal(err)
		}
	}
	return ms, closers
}

// oneLeader waits until exactly one of the managers (that are not closed)
// leads, and fails if it ever sees two.
func oneLeader(t *testing.T, ms []*Manager, closed map[int]bool, timeout time.Duration) int {
	t.Helper()
	leader := -1
	eventually(t, timeout, "no manager leads", func() bool {
		leader = -1
		for i, m := range ms {
			if closed[i] || !m.IsLeader() {
				continue
			}
			if leader >= 0 {
				t.Fatalf("sm%d and sm%d both lead", leader+1, i+1)
			}
			leader = i
		}
		return leader >= 0
	})
	return leader
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(testCtx(t, 5*time.Second), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", url, resp.Status, body)
	}
	return string(body)
}

func getStatus(t *testing.T, m *Manager) Status {
	t.Helper()
	var st Status
	if err := json.Unmarshal([]byte(httpGet(t, "http://"+m.HTTPAddr()+"/status")), &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// hasMetric reports whether the /metrics text has a sample line that
// starts with prefix and ends with value.
func hasMetric(body, prefix, value string) bool {
	for line := range strings.SplitSeq(body, "\n") {
		if strings.HasPrefix(line, prefix) && strings.HasSuffix(line, " "+value) {
			return true
		}
	}
	return false
}

// TestThreeManagers runs three managers as one etcd cluster: one leads,
// followers refuse writes naming the leader, and when the leader closes
// another takes over with the metadata intact.
func TestThreeManagers(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	ms, closers := startCluster(t, 3)
	closed := map[int]bool{}
	leader := oneLeader(t, ms, closed, 20*time.Second)
	clients := make([]clogspb.StreamManagerClient, len(ms))
	for i, m := range ms {
		clients[i] = smClient(t, m)
	}

	nodes := startNodes(t, 3)
	registerNodes(t, clients[leader], nodes)
	s, err := clients[leader].CreateStream(ctx, &clogspb.CreateStreamRequest{Name: "x"})
	if err != nil {
		t.Fatal(err)
	}
	l, err := clients[leader].StreamAllocExtent(ctx, &clogspb.StreamAllocExtentRequest{StreamId: s.Stream.Id})
	if err != nil {
		t.Fatal(err)
	}
	end := appendTo(t, l.Extents[0], "hello")
	if _, err := clients[leader].StreamAllocExtent(ctx, &clogspb.StreamAllocExtentRequest{StreamId: s.Stream.Id, TailExtentId: l.Extents[0].Id}); err != nil {
		t.Fatal(err)
	}

	checkFollowers := func(leader int) {
		t.Helper()
		for i := range ms {
			if i == leader || closed[i] {
				continue
			}
			_, err := clients[i].CreateStream(ctx, &clogspb.CreateStreamRequest{Name: "from-follower"})
			re := wantRemote(t, err, codes.Unavailable, "not-leader")
			if re.Leader != ms[leader].Addr() || !errors.Is(re, ErrNotLeader) {
				t.Errorf("sm%d's not-leader names %q, want sm%d at %s", i+1, re.Leader, leader+1, ms[leader].Addr())
			}
			_, err = clients[i].AllocID(ctx, &clogspb.AllocIDRequest{Count: 1})
			wantRemote(t, err, codes.Unavailable, "not-leader")
			_, err = clients[i].RegisterNode(ctx, &clogspb.RegisterNodeRequest{Uuid: newUUID(), Addr: "127.0.0.1:1"})
			wantRemote(t, err, codes.Unavailable, "not-leader")
			_, err = clients[i].StreamAllocExtent(ctx, &clogspb.StreamAllocExtentRequest{StreamId: s.Stream.Id, TailExtentId: 0})
			wantRemote(t, err, codes.Unavailable, "not-leader")
			if st := getStatus(t, ms[i]); st.IsLeader || st.Leader != ms[leader].Addr() || len(st.Members) != 3 {
				t.Errorf("sm%d's status %+v", i+1, st)
			}
			if !hasMetric(httpGet(t, "http://"+ms[i].HTTPAddr()+"/metrics"), "clogs_sm_is_leader", "0") {
				t.Errorf("sm%d's clogs_sm_is_leader is not 0", i+1)
			}
		}
		_, err := clients[leader].StreamInfo(ctx, byName("from-follower"))
		wantRemote(t, err, codes.NotFound, "not-found")
	}
	checkFollowers(leader)
	before := takeSnapshot(t, clients[leader])

	old := leader
	began := time.Now()
	closers[old]()
	closed[old] = true
	leader = oneLeader(t, ms, closed, 10*time.Second)
	t.Logf("sm%d closed; sm%d leads after %v", old+1, leader+1, time.Since(began))

	after := takeSnapshot(t, clients[leader])
	checkSameSnapshot(t, before, after)
	if got := after.extents[0]; !got.Sealed || got.SealedLength != end {
		t.Errorf("sealed extent after failover %v, want sealed at %d", got, end)
	}
	checkFollowers(leader)
	if _, err := clients[leader].CreateStream(ctx, &clogspb.CreateStreamRequest{Name: "y"}); err != nil {
		t.Fatal(err)
	}
}

// TestDeposedLeaderWriteRefused takes leadership away from a manager
// behind its back (its leader key is deleted, as when its lease ran out
// and another manager won): its next write must be refused by the guard
// and leave etcd unchanged. It then campaigns again, leads, and writes.
func TestDeposedLeaderWriteRefused(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	m := startManager(t, managerConfig(t, t.TempDir()))
	waitLeader(t, m)
	sm := smClient(t, m)
	nodes := startNodes(t, 3)
	nodeIDs := registerNodes(t, sm, nodes)
	startHeartbeats(t, sm, nodeIDs...)
	s, err := sm.CreateStream(ctx, &clogspb.CreateStreamRequest{Name: "before"})
	if err != nil {
		t.Fatal(err)
	}

	depose := func() *term {
		t.Helper()
		m.mu.Lock()
		tm := m.term
		m.mu.Unlock()
		if tm == nil {
			t.Fatal("not leading")
		}
		if _, err := m.etcd.client.Delete(ctx, tm.election.Key()); err != nil {
			t.Fatal(err)
		}
		return tm
	}
	releads := func(old *term) {
		t.Helper()
		eventually(t, 10*time.Second, "the deposed manager does not lead again", func() bool {
			m.mu.Lock()
			defer m.mu.Unlock()
			return m.term != nil && m.term != old
		})
	}

	// A stream create.
	stored := etcdState(t, m)
	old := depose()
	_, err = sm.CreateStream(ctx, &clogspb.CreateStreamRequest{Name: "after-depose"})
	wantRemote(t, err, codes.Unavailable, "not-leader")
	if got := etcdState(t, m); !sameState(stored, got) {
		t.Fatalf("etcd changed by a deposed leader's write:\n before %v\n after  %v", keys(stored), keys(got))
	}
	releads(old)
	c, err := sm.CreateStream(ctx, &clogspb.CreateStreamRequest{Name: "after-depose"})
	if err != nil {
		t.Fatal(err)
	}
	if etcdStream(t, m, c.Stream.Id) == nil || etcdStream(t, m, s.Stream.Id) == nil {
		t.Fatal("streams missing from etcd after the manager leads again")
	}

	// A seal-and-allocate: the nodes are asked, but the metadata must not
	// change.
	stored = etcdState(t, m)
	old = depose()
	_, err = sm.StreamAllocExtent(ctx, &clogspb.StreamAllocExtentRequest{StreamId: s.Stream.Id})
	wantRemote(t, err, codes.Unavailable, "not-leader")
	if got := etcdState(t, m); !sameState(stored, got) {
		t.Fatalf("etcd changed by a deposed leader's alloc:\n before %v\n after  %v", keys(stored), keys(got))
	}
	releads(old)
	l, err := sm.StreamAllocExtent(ctx, &clogspb.StreamAllocExtentRequest{StreamId: s.Stream.Id})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Extents) != 1 || len(etcdStream(t, m, s.Stream.Id).ExtentIds) != 1 {
		t.Fatalf("after leading again: %v", l.Extents)
	}
}

func sameState(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestStatusAndMetrics reads /status and /metrics of a leader.
func TestStatusAndMetrics(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	m := startManager(t, managerConfig(t, t.TempDir()))
	waitLeader(t, m)
	sm := smClient(t, m)
	nodes := startNodes(t, 3)
	registerNodes(t, sm, nodes)
	a, err := sm.CreateStream(ctx, &clogspb.CreateStreamRequest{Name: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sm.CreateStream(ctx, &clogspb.CreateStreamRequest{Name: "b"}); err != nil {
		t.Fatal(err)
	}
	l, err := sm.StreamAllocExtent(ctx, &clogspb.StreamAllocExtentRequest{StreamId: a.Stream.Id})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sm.StreamAllocExtent(ctx, &clogspb.StreamAllocExtentRequest{StreamId: a.Stream.Id, TailExtentId: l.Extents[0].Id}); err != nil {
		t.Fatal(err)
	}

	st := getStatus(t, m)
	if !st.IsLeader || st.Leader != m.Addr() || st.Addr != m.Addr() || st.Name != "sm1" || len(st.Members) != 1 {
		t.Errorf("status %+v", st)
	}
	if st.Streams != 2 || st.Extents != 2 || st.Unsealed != 1 || len(st.Nodes) != 3 || st.Revision == 0 || len(st.NeedRepair) != 0 {
		t.Errorf("status counts %+v", st)
	}
	for _, n := range st.Nodes {
		if !n.Alive {
			t.Errorf("node %v not alive", n.Node)
		}
	}

	body := httpGet(t, "http://"+m.HTTPAddr()+"/metrics")
	for _, want := range []struct{ prefix, value string }{
		{"clogs_sm_is_leader", "1"},
		{"clogs_sm_extents_allocated_total", "2"},
		{"clogs_sm_extents_sealed_total", "1"},
		{`clogs_sm_requests_total{code="OK",method="` + clogspb.StreamManager_CreateStream_FullMethodName + `"}`, "2"},
	} {
		if !hasMetric(body, want.prefix, want.value) {
			t.Errorf("/metrics has no %s %s", want.prefix, want.value)
		}
	}
	if t.Failed() {
		t.Log(body)
	}
}

// competitor takes the leadership of m's cluster the way another manager
// would, through m's etcd client, once m's key is gone.
type competitor struct {
	session  *concurrency.Session
	election *concurrency.Election
}

func campaignAgainst(t *testing.T, m *Manager) (*competitor, <-chan error) {
	t.Helper()
	session, err := concurrency.NewSession(m.etcd.client, concurrency.WithTTL(2))
	if err != nil {
		t.Fatal(err)
	}
	c := &competitor{session: session, election: concurrency.NewElection(session, m.cfg.prefix()+leaderDir)}
	won := make(chan error, 1)
	go func() { won <- c.election.Campaign(testCtx(t, 30*time.Second), "127.0.0.1:1") }()
	return c, won
}

// revokeTerm ends m's leadership session behind its back (as a partition
// longer than the session TTL would).
func revokeTerm(t *testing.T, m *Manager) {
	t.Helper()
	m.mu.Lock()
	tm := m.term
	m.mu.Unlock()
	if tm == nil {
		t.Fatal("not leading")
	}
	if _, err := m.etcd.client.Revoke(testCtx(t, 5*time.Second), tm.session.Lease()); err != nil {
		t.Fatal(err)
	}
}

// allocSetup is a leader with three real nodes and a stall node that is
// the freest, so that placement puts a new extent's primary on it.
func allocSetup(t *testing.T) (*Manager, clogspb.StreamManagerClient, *stallNode, func()) {
	t.Helper()
	cfg := managerConfig(t, t.TempDir())
	cfg.SealTimeout = 20 * time.Second // the stall node answers when told
	m, closeM := openManager(t, cfg)
	waitLeader(t, m)
	sm := smClient(t, m)
	nodes := startNodes(t, 3)
	ids := registerNodes(t, sm, nodes)
	stall := startStallNode(t)
	stallID := registerNodeDisk(t, sm, newUUID(), stall.Addr(), 90)
	startHeartbeatsFree(t, sm, map[uint64]uint64{stallID: 90}, append(ids, stallID)...)
	return m, sm, stall, closeM
}

// runAlloc calls streamAllocExtent in the background, turning a panic into
// an error. A panic leaves mu locked (place does not defer its unlock), so
// it is unlocked here for the test to end cleanly.
func runAlloc(m *Manager, streamID, tailID uint64) <-chan error {
	done := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				m.mu.TryLock()
				m.mu.Unlock()
				done <- fmt.Errorf("streamAllocExtent panicked: %v\n%s", p, debug.Stack())
			}
		}()
		_, err := m.streamAllocExtent(context.Background(), streamID, tailID, false)
		done <- err
	}()
	return done
}

// TestLeadershipLostDuringAllocRetry: the leader loses its term while the
// first placement's AllocExtent is failing; the retry must answer "not
// leader", not touch the dropped cache.
func TestLeadershipLostDuringAllocRetry(t *testing.T) {
	m, sm, stall, closeM := allocSetup(t)
	s, err := sm.CreateStream(testCtx(t, 10*time.Second), &clogspb.CreateStreamRequest{Name: "s"})
	if err != nil {
		t.Fatal(err)
	}
	done := runAlloc(m, s.Stream.Id, 0)
	select {
	case <-stall.entered:
	case err := <-done:
		t.Fatalf("alloc ended before reaching the stall node: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the stall node was not asked to allocate")
	}
	comp, won := campaignAgainst(t, m)
	t.Cleanup(func() { closeM(); comp.session.Close() }) // m first: it must not win while closing
	revokeTerm(t, m)
	select {
	case err := <-won:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("competitor did not win")
	}
	eventually(t, 10*time.Second, "the manager still leads after its lease was revoked", func() bool { return !m.IsLeader() })

	stall.letGo()
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("alloc did not end")
	}
	if !errors.Is(err, ErrNotLeader) {
		t.Fatalf("alloc after losing leadership: %v, want not leader", err)
	}
	if got := etcdStream(t, m, s.Stream.Id); len(got.ExtentIds) != 0 {
		t.Fatalf("stream in etcd %v", got)
	}
}

// TestAllocFromOldTermNotPublished: a seal-and-allocate decided in one
// term must not be published in the next when the stream changed in
// between. Here another leader gave the stream an extent while this
// manager was deposed; when this manager leads again, its stalled
// allocation for the empty stream (tail 0) completes. Publishing it would
// put the new extent after an unsealed one.
func TestAllocFromOldTermNotPublished(t *testing.T) {
	m, sm, stall, closeM := allocSetup(t)
	ctx := testCtx(t, 30*time.Second)
	s, err := sm.CreateStream(ctx, &clogspb.CreateStreamRequest{Name: "s"})
	if err != nil {
		t.Fatal(err)
	}
	done := runAlloc(m, s.Stream.Id, 0)
	select {
	case <-stall.entered:
	case err := <-done:
		t.Fatalf("alloc ended before reaching the stall node: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the stall node was not asked to allocate")
	}
	comp, won := campaignAgainst(t, m)
	t.Cleanup(func() { closeM(); comp.session.Close() })
	revokeTerm(t, m)
	if err := <-won; err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the manager still leads after its lease was revoked", func() bool { return !m.IsLeader() })

	// The competitor, leading, reserves an ID and gives the stream an
	// open extent, under its own guard.
	p := m.cfg.prefix()
	idsResp, err := m.etcd.client.Get(ctx, p+idsKey)
	if err != nil || len(idsResp.Kvs) != 1 {
		t.Fatalf("ids key: %v %v", idsResp, err)
	}
	var next uint64
	fmt.Sscan(string(idsResp.Kvs[0].Value), &next)
	stream := etcdStream(t, m, s.Stream.Id)
	stream.ExtentIds = []uint64{next}
	y := &clogspb.ExtentMeta{Id: next, StreamId: s.Stream.Id, Replicas: []*clogspb.Replica{{NodeId: 1, Addr: "127.0.0.1:1"}, {NodeId: 2, Addr: "127.0.0.1:2"}, {NodeId: 3, Addr: "127.0.0.1:3"}}}
	txn, err := m.etcd.client.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(comp.election.Key()), "=", comp.election.Rev())).
		Then(clientv3.OpPut(p+idsKey, fmt.Sprint(next+100)),
			clientv3.OpPut(p+idKey(extentsDir, next), mustMarshal(y)),
			clientv3.OpPut(p+idKey(streamsDir, s.Stream.Id), mustMarshal(stream))).Commit()
	if err != nil || !txn.Succeeded {
		t.Fatalf("competitor's write: %v %v", txn, err)
	}
	if err := comp.election.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	waitLeader(t, m)

	stall.letGo()
	var resp error
	select {
	case resp = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("alloc did not end")
	}
	t.Logf("stalled alloc ended with %v", resp)
	got := etcdStream(t, m, s.Stream.Id)
	for i, id := range got.ExtentIds[:len(got.ExtentIds)-1] {
		v := etcdState(t, m)[idKey(extentsDir, id)]
		e := &clogspb.ExtentMeta{}
		if err := proto.Unmarshal([]byte(v), e); err != nil {
			t.Fatal(err)
		}
		if !e.Sealed {
			t.Errorf("stream %v: extent %d at %d is unsealed but not the tail", got.ExtentIds, id, i)
		}
	}
}

// TestCloseWithoutQuorumIsPrompt: a manager that is campaigning (another
// leads) when its etcd cluster loses quorum must still close promptly, as
// a leader does. Here it is one of three etcd members; the other two are
// bare members this test stops.
func TestCloseWithoutQuorumIsPrompt(t *testing.T) {
	cfgs := clusterConfigs(t, t.TempDir(), 3)
	var m *Manager
	members := make([]*embed.Etcd, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	wg.Go(func() { m, errs[0] = New(cfgs[0]) })
	for i := 1; i < 3; i++ {
		wg.Go(func() { members[i], errs[i] = startEmbedded(cfgs[i], zap.NewNop()) })
	}
	wg.Wait()
	var closeOnce [3]sync.Once
	closeMember := func(i int) {
		closeOnce[i].Do(func() {
			if i == 0 && m != nil {
				m.Close()
			} else if i > 0 && members[i] != nil {
				members[i].Close()
			}
		})
	}
	t.Cleanup(func() {
		var wg sync.WaitGroup
		for i := range 3 {
			wg.Go(func() { closeMember(i) })
		}
		wg.Wait()
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("member %d: %v", i+1, err)
		}
	}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	waitLeader(t, m)

	// Another manager leads; m campaigns behind it.
	comp, won := campaignAgainst(t, m)
	t.Cleanup(func() { closeMember(0); comp.session.Close() })
	revokeTerm(t, m)
	if err := <-won; err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the manager does not campaign again", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := m.etcd.client.Get(ctx, m.cfg.prefix()+leaderDir, clientv3.WithPrefix(), clientv3.WithCountOnly())
		return err == nil && resp.Count == 2 && !m.IsLeader()
	})

	// Quorum lost. The raft leader among the bare members closes last, so
	// that it can hand leadership to a live member quickly.
	order := []int{1, 2}
	if members[1].Server.MemberID() == m.etcd.embedded.Server.Leader() {
		order = []int{2, 1}
	}
	for _, i := range order {
		closeMember(i)
	}
	began := time.Now()
	closeMember(0)
	if took := time.Since(began); took > 3*time.Second {
		t.Errorf("Close of a campaigning manager without quorum took %v", took)
	}
}
