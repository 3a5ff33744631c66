package streammanager

// Placement chooses the nodes of a new extent (DESIGN.md, "Sealing and
// allocating", step 3). It is pure policy: it knows only what the leader's
// heartbeats told it, and nothing of gRPC or etcd, so it is tested alone.

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	clogspb "github.com/clogs-io/clogs/proto"
)

// DefaultHighWater is the used fraction of a disk above which it takes no
// new extents: the last few percent are left for the extents already open
// on it, which keep growing until they are sealed.
const DefaultHighWater = 0.95

// nearlyEqualDivisor sets how close two nodes' free space must be to count
// as a tie: within 1/nearlyEqualDivisor (1%) of the freer one. Heartbeats
// are seconds old and open extents keep growing, so differences this small
// are noise, and ordering strictly by them would send every new extent's
// primary, and so its write and replication load, to the same node.
const nearlyEqualDivisor = 100

// ErrNotEnoughNodes is returned, wrapped in a *NotEnoughNodesError, when
// fewer nodes qualify than an extent needs. Retrying does not help until a
// node comes back or frees space.
var ErrNotEnoughNodes = errors.New("streammanager: not enough live nodes with room")

// Candidate is what placement knows of a node.
type Candidate struct {
	NodeID uint64
	Addr   string
	Alive  bool
	// Disks come from the node's last heartbeat.
	Disks []*clogspb.DiskUsage
}

// PlacementPolicy chooses distinct live nodes with room for a new extent,
// the freest first.
type PlacementPolicy struct {
	// HighWater is the used fraction of a disk above which it takes no new
	// extents; default DefaultHighWater.
	HighWater float64
	// Rand, when set, orders nodes whose free space is nearly equal at
	// random, so that primaries spread over them; nil orders them by node
	// ID, deterministically. A *rand.Rand is not safe for concurrent use
	// unless its Source is: share one between goroutines calling Place only
	// if it is, as the default one is.
	Rand *rand.Rand
}

// DefaultPlacementPolicy returns the default policy: a 95% high-water mark
// and ties broken at random (by a Rand safe for concurrent use), so that
// primaries spread.
func DefaultPlacementPolicy() PlacementPolicy {
	return PlacementPolicy{HighWater: DefaultHighWater, Rand: rand.New(runtimeSource{})}
}

// runtimeSource draws from math/rand/v2's global generator, which is
// randomly seeded and safe for concurrent use.
type runtimeSource struct{}

func (runtimeSource) Uint64() uint64 { return rand.Uint64() }

// Validate checks the policy.
func (p PlacementPolicy) Validate() error {
	if math.IsNaN(p.HighWater) || p.HighWater <= 0 || p.HighWater > 1 {
		return fmt.Errorf("placement high-water mark %v: want 0 < mark <= 1", p.HighWater)
	}
	return nil
}

// Place picks n distinct nodes for a new extent, first the primary. It never
// picks a node in exclude, a dead node, or a node without a usable disk: one
// that is not failed, reports its size, and is at most HighWater used. Nodes
// rank by the free bytes of their best usable disk, as a node places an
// extent on its disk with most free space; nodes within 1% of each other
// tie, and ties are broken by Rand or else by node ID. A node listed twice
// counts once, as its first entry.
//
// When fewer than n qualify, Place fails at once with a *NotEnoughNodesError
// that wraps ErrNotEnoughNodes and says why the others did not qualify.
// The returned Candidates share their Disks with the given ones.
func (p PlacementPolicy) Place(candidates []Candidate, n int, exclude map[uint64]bool) ([]Candidate, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if n <= 0 {
		return nil, fmt.Errorf("streammanager: place on %d nodes: want at least one", n)
	}
	ranked, report := p.qualify(candidates, exclude)
	if len(ranked) < n {
		report.Need = n
		return nil, report
	}
	p.order(ranked)
	chosen := make([]Candidate, n)
	for i := range chosen {
		chosen[i] = ranked[i].candidate
	}
	return chosen, nil
}

// NotEnoughNodesError says why placement found fewer nodes than it needed.
// Every distinct candidate is counted once: as qualified or under the first
// reason that applies, in the order of the fields below.
type NotEnoughNodesError struct {
	Need       int // nodes asked for
	Qualified  int // nodes that could take the extent
	Candidates int // distinct nodes considered
	Alive      int // of those, how many are alive (qualified or not)
	Duplicates int // entries ignored because their node was listed before

	Excluded     int // in the caller's exclude set
	Dead         int // missed heartbeats
	NoDiskReport int // no disk with a known size: room unknown
	DisksFailed  int // every disk failed
	Full         int // every in-service disk above the high-water mark or out of space

	HighWater float64 // the mark Full refers to
}

func (e *NotEnoughNodesError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v: need %d, %d qualify; %d of %d nodes alive",
		ErrNotEnoughNodes, e.Need, e.Qualified, e.Alive, e.Candidates)
	reasons := []struct {
		count int
		why   string
	}{
		{e.Excluded, "excluded"},
		{e.Dead, "dead"},
		{e.NoDiskReport, "without disk reports (room unknown)"},
		{e.DisksFailed, "with all disks failed"},
		{e.Full, fmt.Sprintf("full (every in-service disk above %.4g%% used)", e.HighWater*100)},
		{e.Duplicates, "duplicate entries ignored"},
	}
	sep := "; not chosen: "
	for _, r := range reasons {
		if r.count > 0 {
			fmt.Fprintf(&b, "%s%d %s", sep, r.count, r.why)
			sep = ", "
		}
	}
	return b.String()
}

// Unwrap lets errors.Is find ErrNotEnoughNodes.
func (e *NotEnoughNodesError) Unwrap() error { return ErrNotEnoughNodes }

// verdict is why a node or a disk can or cannot take an extent. The disk
// verdicts are ordered from best to worst: a node's verdict is the best of
// its disks'.
type verdict int

const (
	usable verdict = iota
	full
	noDiskReport
	disksFailed
	dead
	excluded
)

type rankedNode struct {
	candidate Candidate
	free      uint64 // free bytes of its best usable disk
}

// qualify returns the nodes that can take an extent, in the given order,
// and a report of the others.
func (p PlacementPolicy) qualify(candidates []Candidate, exclude map[uint64]bool) ([]rankedNode, *NotEnoughNodesError) {
	report := &NotEnoughNodesError{HighWater: p.HighWater}
	seen := make(map[uint64]bool, len(candidates))
	var ranked []rankedNode
	for _, c := range candidates {
		if seen[c.NodeID] {
			report.Duplicates++
			continue
		}
		seen[c.NodeID] = true
		report.Candidates++
		if c.Alive {
			report.Alive++
		}
		free, v := p.assess(c, exclude)
		if v == usable {
			ranked = append(ranked, rankedNode{candidate: c, free: free})
		}
		report.count(v)
	}
	return ranked, report
}

func (e *NotEnoughNodesError) count(v verdict) {
	switch v {
	case usable:
		e.Qualified++
	case full:
		e.Full++
	case noDiskReport:
		e.NoDiskReport++
	case disksFailed:
		e.DisksFailed++
	case dead:
		e.Dead++
	case excluded:
		e.Excluded++
	}
}

// assess returns the free bytes of the node's best usable disk, or why it
// cannot take an extent.
func (p PlacementPolicy) assess(c Candidate, exclude map[uint64]bool) (uint64, verdict) {
	switch {
	case exclude[c.NodeID]:
		return 0, excluded
	case !c.Alive:
		return 0, dead
	case len(c.Disks) == 0:
		return 0, noDiskReport
	}
	var best uint64
	v := disksFailed
	for _, d := range c.Disks {
		free, dv := p.assessDisk(d)
		v = min(v, dv)
		if dv == usable {
			best = max(best, free)
		}
	}
	return best, v
}

// assessDisk returns the disk's free bytes, or why it takes no extent. A
// disk that does not report its size has unknown room.
func (p PlacementPolicy) assessDisk(d *clogspb.DiskUsage) (uint64, verdict) {
	total := d.GetTotalBytes()
	switch {
	case d.GetFailed():
		return 0, disksFailed
	case total == 0:
		return 0, noDiskReport
	}
	free := min(d.GetFreeBytes(), total)
	used := float64(total-free) / float64(total)
	// The node's own high-water mark (its full flag) counts too: it
	// refuses new extents on that disk whatever the manager's mark says.
	if free == 0 || used > p.HighWater || d.GetFull() {
		return 0, full
	}
	return free, usable
}

// order sorts nodes freest first, breaking ties within each band of nearly
// equal free space.
func (p PlacementPolicy) order(nodes []rankedNode) {
	slices.SortFunc(nodes, func(a, b rankedNode) int {
		return cmp.Or(cmp.Compare(b.free, a.free), cmp.Compare(a.candidate.NodeID, b.candidate.NodeID))
	})
	for start := 0; start < len(nodes); {
		end := bandEnd(nodes, start)
		p.breakTies(nodes[start:end])
		start = end
	}
}

// bandEnd returns the end of the band that starts at nodes[start]: the
// nodes after it whose free space is within 1% of its own. Measuring from
// the band's first node, rather than from neighbour to neighbour, keeps a
// long run of slightly smaller nodes from chaining into one band.
func bandEnd(nodes []rankedNode, start int) int {
	leader := nodes[start].free
	tolerance := leader / nearlyEqualDivisor
	end := start + 1
	for end < len(nodes) && leader-nodes[end].free <= tolerance {
		end++
	}
	return end
}

// breakTies orders a band of nearly equally free nodes: at random with Rand,
// else by node ID.
func (p PlacementPolicy) breakTies(band []rankedNode) {
	if p.Rand == nil {
		slices.SortFunc(band, func(a, b rankedNode) int {
			return cmp.Compare(a.candidate.NodeID, b.candidate.NodeID)
		})
		return
	}
	p.Rand.Shuffle(len(band), func(i, j int) { band[i], band[j] = band[j], band[i] })
}
