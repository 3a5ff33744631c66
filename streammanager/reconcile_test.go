package streammanager

import (
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	clogspb "github.com/clogs-io/clogs/proto"
)

// planner is a leader's state built by hand, for the reconciliation
// policy: four nodes, a sealed extent 10 on nodes 1, 2, 3.
type planner struct {
	m   *Manager
	now time.Time
}

func newPlanner(t *testing.T) *planner {
	t.Helper()
	now := time.Now()
	m := &Manager{cfg: DefaultConfig(), lg: zap.NewNop(), live: map[uint64]*nodeLive{}, needRepair: map[uint64]uint64{},
		streamLocks: map[uint64]*sync.Mutex{}, reports: map[uint64]*nodeReport{}, orphans: map[nodeExtent]time.Time{}, repairing: map[uint64]bool{},
		repairFailures: map[nodeExtent]int{}, shardReports: map[uint64]*shardReport{}, shardOrphans: map[nodeShard]time.Time{}}
	m.metrics = newMetrics(m)
	m.cache = newMetaCache()
	m.term = &term{began: now.Add(-time.Hour)}
	p := &planner{m: m, now: now}
	for id := uint64(1); id <= 4; id++ {
		m.cache.putNode(&clogspb.NodeMeta{Id: id, Uuid: string(rune('a' + id)), Addr: "127.0.0.1:400" + string(rune('0'+id))})
		p.heartbeat(id, 0)
	}
	m.cache.extents[10] = &clogspb.ExtentMeta{Id: 10, StreamId: 5, Sealed: true, SealedLength: 8192,
		CreatedUnixNano: now.Add(-time.Hour).UnixNano(), Replicas: []*clogspb.Replica{{NodeId: 1}, {NodeId: 2}, {NodeId: 3}}}
	m.cache.putStream(&clogspb.StreamMeta{Id: 5, Name: "s", ExtentIds: []uint64{10}})
	for id := uint64(1); id <= 3; id++ {
		p.report(id, &clogspb.ReplicaReport{ExtentId: 10, CommitLength: 8192, Sealed: true})
	}
	p.report(4)
	return p
}

// heartbeat makes node id's last heartbeat ago.
func (p *planner) heartbeat(id uint64, ago time.Duration) {
	p.m.live[id] = &nodeLive{lastHeartbeat: p.now.Add(-ago), disks: []*clogspb.DiskUsage{{TotalBytes: 100 << 30, FreeBytes: 50 << 30}}}
}

// report replaces node id's full report.
func (p *planner) report(id uint64, replicas ...*clogspb.ReplicaReport) {
	p.m.mu.Lock()
	defer p.m.mu.Unlock()
	p.m.noteReportLocked(id, replicas)
}

func (p *planner) plan() []repairTask { return p.m.planRepairs(p.now) }

func replicaIDs(rs []*clogspb.Replica) []uint64 {
	var out []uint64
	for _, r := range rs {
		out = append(out, r.NodeId)
	}
	return out
}

func TestPlanRepairs(t *testing.T) {
	cases := []struct {
		name      string
		setup     func(p *planner)
		kind      repairKind
		index     int
		target    uint64
		sources   []uint64
		noTask    bool
		underRepl int
	}{
		{name: "all whole", setup: func(*planner) {}, noTask: true},
		{name: "missing on a live node", setup: func(p *planner) { p.report(2) },
			kind: repairInPlace, index: 1, target: 2, sources: []uint64{1, 3}, underRepl: 1},
		{name: "short replica", setup: func(p *planner) {
			p.report(1, &clogspb.ReplicaReport{ExtentId: 10, CommitLength: 4096, Sealed: true})
		}, kind: repairInPlace, index: 0, target: 1, sources: []uint64{2, 3}, underRepl: 1},
		{name: "damaged replica", setup: func(p *planner) {
			p.report(3, &clogspb.ReplicaReport{ExtentId: 10, CommitLength: 8192, Sealed: true, Damaged: true})
		}, kind: repairReplace, index: 2, target: 3, sources: []uint64{1, 2}, underRepl: 1},
		{name: "dead for less than the grace: wait", setup: func(p *planner) { p.heartbeat(3, time.Minute) },
			noTask: true, underRepl: 1},
		{name: "dead past the grace: move to the free node", setup: func(p *planner) { p.heartbeat(3, 11*time.Minute) },
			kind: repairMove, index: 2, target: 4, sources: []uint64{1, 2}, underRepl: 1},
		{name: "unsealed but long enough: the seal order does it", setup: func(p *planner) {
			p.report(2, &clogspb.ReplicaReport{ExtentId: 10, CommitLength: 8192})
		}, noTask: true, underRepl: 1},
		{name: "no source: nothing to copy from", setup: func(p *planner) {
			p.report(1)
			p.heartbeat(2, time.Minute)
			p.heartbeat(3, time.Minute)
		}, noTask: true, underRepl: 1},
		{name: "a report older than the extent says nothing", setup: func(p *planner) {
			p.m.cache.extents[10].CreatedUnixNano = p.now.UnixNano()
			p.report(2)
		}, noTask: true, underRepl: 1},
		{name: "in-place repairs that keep failing: move instead", setup: func(p *planner) {
			p.report(2)
			p.m.repairFailures[nodeExtent{node: 2, extent: 10}] = maxInPlaceFailures
		}, kind: repairMove, index: 1, target: 4, sources: []uint64{1, 3}, underRepl: 1},
		{name: "a repair already running", setup: func(p *planner) {
			p.report(2)
			p.m.repairing[10] = true
		}, noTask: true, underRepl: 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := newPlanner(t)
			c.setup(p)
			tasks := p.plan()
			if got := p.m.underReplicated; got != c.underRepl {
				t.Errorf("under-replicated %d, want %d", got, c.underRepl)
			}
			if c.noTask {
				if len(tasks) != 0 {
					t.Fatalf("planned %+v, want nothing", tasks)
				}
				return
			}
			if len(tasks) != 1 {
				t.Fatalf("planned %d tasks, want 1: %+v", len(tasks), tasks)
			}
			task := tasks[0]
			if task.kind != c.kind || task.index != c.index || task.target.NodeId != c.target || !slices.Equal(replicaIDs(task.sources), c.sources) {
				t.Fatalf("planned %v of replica %d on node %d from %v; want %v of %d on %d from %v",
					task.kind, task.index, task.target.NodeId, replicaIDs(task.sources), c.kind, c.index, c.target, c.sources)
			}
		})
	}
}

// TestOrphansAreDeletedAfterTheGrace: an extent file no stream references
// on a node is deleted only after GCGrace; a referenced one never is, and
// a file that comes back into use is forgiven.
func TestOrphansAreDeletedAfterTheGrace(t *testing.T) {
	p := newPlanner(t)
	m := p.m
	whole := &clogspb.ReplicaReport{ExtentId: 10, CommitLength: 8192, Sealed: true}
	orphan := &clogspb.ReplicaReport{ExtentId: 99, CommitLength: 512}
	report := func(id uint64, rs ...*clogspb.ReplicaReport) []uint64 {
		m.mu.Lock()
		defer m.mu.Unlock()
		return m.noteReportLocked(id, rs)
	}
	if del := report(1, whole, orphan); len(del) != 0 {
		t.Fatalf("first sight of an orphan deleted %v", del)
	}
	// Node 4 holds a copy of extent 10 it is not a replica of.
	if del := report(4, whole); len(del) != 0 {
		t.Fatalf("first sight deleted %v", del)
	}
	m.orphans[nodeExtent{1, 99}] = time.Now().Add(-m.cfg.GCGrace - time.Second)
	m.orphans[nodeExtent{4, 10}] = time.Now().Add(-m.cfg.GCGrace - time.Second)
	if del := report(1, whole, orphan); !slices.Equal(del, []uint64{99}) {
		t.Fatalf("after the grace node 1 deletes %v, want [99]", del)
	}
	// Extent 10 becomes node 4's: referenced again, not deleted.
	m.cache.extents[10].Replicas[2] = &clogspb.Replica{NodeId: 4}
	if del := report(4, whole); len(del) != 0 {
		t.Fatalf("a referenced replica was deleted: %v", del)
	}
	if _, tracked := m.orphans[nodeExtent{4, 10}]; tracked {
		t.Fatal("a referenced replica is still counted as an orphan")
	}
}

func TestRetention(t *testing.T) {
	now := time.Now()
	sealed := func(id uint64, ago time.Duration, length uint64) *clogspb.ExtentMeta {
		return &clogspb.ExtentMeta{Id: id, Sealed: true, SealedLength: length, SealedUnixNano: now.Add(-ago).UnixNano()}
	}
	cases := []struct {
		name   string
		policy *clogspb.StreamPolicy
		want   int
	}{
		{"no policy", &clogspb.StreamPolicy{}, 0},
		{"older than an hour", &clogspb.StreamPolicy{MaxAgeSeconds: 3600}, 2},
		{"a day keeps all", &clogspb.StreamPolicy{MaxAgeSeconds: 86400 * 2}, 0},
		{"at most 3000 sealed bytes", &clogspb.StreamPolicy{MaxBytes: 3000}, 1},
		{"never the tail, even at 1 byte", &clogspb.StreamPolicy{MaxBytes: 1}, 4},
	}
	for _, c := range cases {
		p := newPlanner(t)
		m := p.m
		for _, e := range []*clogspb.ExtentMeta{sealed(21, 3*time.Hour, 1000), sealed(22, 2*time.Hour, 1000), sealed(23, time.Minute, 1000), sealed(24, time.Second, 1000)} {
			m.cache.extents[e.Id] = e
		}
		m.cache.extents[25] = &clogspb.ExtentMeta{Id: 25}
		s := &clogspb.StreamMeta{Id: 7, Name: "r", ExtentIds: []uint64{21, 22, 23, 24, 25}, Policy: c.policy}
		m.cache.putStream(s)
		if got := m.retiredLocked(s, c.policy, now); got != c.want {
			t.Errorf("%s: drops %d extents, want %d", c.name, got, c.want)
		}
	}
}
