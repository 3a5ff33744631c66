package streammanager

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	clogspb "github.com/clogs-io/clogs/proto"
)

const gib = 1 << 30

// deterministicPolicy breaks ties by node ID, so that tables can name the
// expected order.
var deterministicPolicy = PlacementPolicy{HighWater: DefaultHighWater}

func disk(totalGiB, freeGiB uint64) *clogspb.DiskUsage {
	return &clogspb.DiskUsage{TotalBytes: totalGiB * gib, FreeBytes: freeGiB * gib}
}

func failedDisk(totalGiB, freeGiB uint64) *clogspb.DiskUsage {
	d := disk(totalGiB, freeGiB)
	d.Failed = true
	d.Failure = "input/output error"
	return d
}

func live(id uint64, disks ...*clogspb.DiskUsage) Candidate {
	return Candidate{NodeID: id, Addr: fmt.Sprintf("10.0.0.%d:3501", id), Alive: true, Disks: disks}
}

func deadNode(id uint64, disks ...*clogspb.DiskUsage) Candidate {
	c := live(id, disks...)
	c.Alive = false
	return c
}

func nodeIDs(cs []Candidate) []uint64 {
	ids := make([]uint64, len(cs))
	for i, c := range cs {
		ids[i] = c.NodeID
	}
	return ids
}

func TestPlacementPicks(t *testing.T) {
	tests := []struct {
		name       string
		policy     PlacementPolicy
		candidates []Candidate
		n          int
		exclude    map[uint64]bool
		want       []uint64
	}{
		{
			name: "the three freest live nodes, freest first",
			candidates: []Candidate{
				live(1, disk(100, 10)), live(2, disk(100, 50)), live(3, disk(100, 30)),
				live(4, disk(100, 40)), live(5, disk(100, 20)),
			},
			n: 3, want: []uint64{2, 4, 3},
		},
		{
			name: "dead nodes never chosen, however free",
			candidates: []Candidate{
				deadNode(1, disk(100, 90)), live(2, disk(100, 10)), live(3, disk(100, 20)),
				live(4, disk(100, 30)), deadNode(5, disk(100, 80)),
			},
			n: 3, want: []uint64{4, 3, 2},
		},
		{
			name: "only disk above high-water skipped, second disk at 50% taken",
			candidates: []Candidate{
				live(1, disk(10000, 400)), // 96% used, though the most free bytes
				live(2, disk(100, 4), disk(100, 50)),
				live(3, disk(100, 30)), live(4, disk(100, 20)),
			},
			n: 3, want: []uint64{2, 3, 4},
		},
		{
			name: "a disk exactly at the high-water mark still takes extents",
			candidates: []Candidate{
				live(1, disk(100, 5)), live(2, disk(100, 4)), live(3, disk(100, 10)), live(4, disk(100, 20)),
			},
			n: 3, want: []uint64{4, 3, 1},
		},
		{
			name:   "a custom high-water mark",
			policy: PlacementPolicy{HighWater: 0.5},
			candidates: []Candidate{
				live(1, disk(100, 49)), live(2, disk(100, 50)), live(3, disk(100, 70)), live(4, disk(100, 60)),
			},
			n: 3, want: []uint64{3, 4, 2},
		},
		{
			name: "a disk the node itself reports full is skipped, however free",
			candidates: []Candidate{
				live(1, &clogspb.DiskUsage{TotalBytes: 1000, FreeBytes: 900, Full: true}), live(2, disk(100, 20)),
				live(3, disk(100, 30)), live(4, disk(100, 10)),
			},
			n: 3, want: []uint64{3, 2, 4},
		},
		{
			name: "failed disks ignored, however free",
			candidates: []Candidate{
				live(1, failedDisk(1000, 900), disk(100, 10)), live(2, disk(100, 20)),
				live(3, disk(100, 30)), live(4, failedDisk(1000, 1000)),
			},
			n: 3, want: []uint64{3, 2, 1},
		},
		{
			name: "excluded IDs skipped",
			candidates: []Candidate{
				live(1, disk(100, 10)), live(2, disk(100, 50)), live(3, disk(100, 30)),
				live(4, disk(100, 40)), live(5, disk(100, 20)),
			},
			n: 3, exclude: map[uint64]bool{2: true, 4: true}, want: []uint64{3, 5, 1},
		},
		{
			name: "a node listed twice is chosen once",
			candidates: []Candidate{
				live(1, disk(100, 90)), live(1, disk(100, 90)), live(1, disk(100, 90)),
				live(2, disk(100, 10)), live(3, disk(100, 20)),
			},
			n: 3, want: []uint64{1, 3, 2},
		},
		{
			name: "nodes without disk reports skipped",
			candidates: []Candidate{
				live(1), live(2, &clogspb.DiskUsage{FreeBytes: 999 * gib}), live(3, nil),
				live(4, disk(100, 10)), live(5, disk(100, 20)), live(6, disk(100, 30)),
			},
			n: 3, want: []uint64{6, 5, 4},
		},
		{
			name: "within 1% is a tie, broken by node ID; beyond 1% is not",
			candidates: []Candidate{
				live(9, disk(1000, 500)), live(3, disk(1000, 498)), live(5, disk(1000, 495)),
				live(2, disk(1000, 494)), live(1, disk(1000, 400)),
			},
			n: 5, want: []uint64{3, 5, 9, 2, 1},
		},
		{
			name:       "fewer than three when asked for fewer",
			candidates: []Candidate{live(1, disk(100, 10)), live(2, disk(100, 20))},
			n:          1, want: []uint64{2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			policy := tt.policy
			if policy.HighWater == 0 {
				policy = deterministicPolicy
			}
			got, err := policy.Place(tt.candidates, tt.n, tt.exclude)
			if err != nil {
				t.Fatalf("Place: %v", err)
			}
			if ids := nodeIDs(got); !slices.Equal(ids, tt.want) {
				t.Errorf("Place chose %v, want %v", ids, tt.want)
			}
		})
	}
}

func TestPlacementNotEnoughNodes(t *testing.T) {
	tests := []struct {
		name       string
		candidates []Candidate
		exclude    map[uint64]bool
		want       NotEnoughNodesError
		wantMsg    []string
	}{
		{
			name: "2 of 5 qualify",
			candidates: []Candidate{
				live(1, disk(100, 50)), live(2, disk(100, 40)), deadNode(3, disk(100, 90)),
				live(4, disk(100, 3)), live(5, failedDisk(100, 90)),
			},
			want: NotEnoughNodesError{
				Need: 3, Qualified: 2, Candidates: 5, Alive: 4,
				Dead: 1, Full: 1, DisksFailed: 1, HighWater: DefaultHighWater,
			},
			wantMsg: []string{
				"not enough live nodes with room", "need 3, 2 qualify", "4 of 5 nodes alive",
				"1 dead", "1 full (every in-service disk above 95% used)", "1 with all disks failed",
			},
		},
		{
			name: "excluded and unreported nodes",
			candidates: []Candidate{
				live(1, disk(100, 50)), live(2), live(3, disk(100, 60)), live(4, disk(100, 40)),
			},
			exclude: map[uint64]bool{3: true},
			want: NotEnoughNodesError{
				Need: 3, Qualified: 2, Candidates: 4, Alive: 4,
				Excluded: 1, NoDiskReport: 1, HighWater: DefaultHighWater,
			},
			wantMsg: []string{"need 3, 2 qualify", "1 excluded", "1 without disk reports (room unknown)"},
		},
		{
			name: "an excluded dead node counts as excluded",
			candidates: []Candidate{
				live(1, disk(100, 50)), deadNode(2, disk(100, 60)),
			},
			exclude: map[uint64]bool{2: true},
			want: NotEnoughNodesError{
				Need: 3, Qualified: 1, Candidates: 2, Alive: 1, Excluded: 1, HighWater: DefaultHighWater,
			},
			wantMsg: []string{"need 3, 1 qualify", "1 of 2 nodes alive", "1 excluded"},
		},
		{
			name: "duplicates do not make up the count",
			candidates: []Candidate{
				live(1, disk(100, 50)), live(1, disk(100, 50)), live(2, disk(100, 40)), live(2, disk(100, 40)),
			},
			want: NotEnoughNodesError{
				Need: 3, Qualified: 2, Candidates: 2, Alive: 2, Duplicates: 2, HighWater: DefaultHighWater,
			},
			wantMsg: []string{"need 3, 2 qualify", "2 duplicate entries ignored"},
		},
		{
			name:    "no candidates",
			want:    NotEnoughNodesError{Need: 3, HighWater: DefaultHighWater},
			wantMsg: []string{"need 3, 0 qualify; 0 of 0 nodes alive"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := deterministicPolicy.Place(tt.candidates, 3, tt.exclude)
			if !errors.Is(err, ErrNotEnoughNodes) {
				t.Fatalf("Place = %v, %v; want ErrNotEnoughNodes", nodeIDs(got), err)
			}
			var report *NotEnoughNodesError
			if !errors.As(err, &report) {
				t.Fatalf("Place error %T is not a *NotEnoughNodesError", err)
			}
			if *report != tt.want {
				t.Errorf("report %+v, want %+v", *report, tt.want)
			}
			for _, part := range tt.wantMsg {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("error %q does not say %q", err, part)
				}
			}
		})
	}
}

func TestPlacementRejectsBadCount(t *testing.T) {
	candidates := []Candidate{live(1, disk(100, 50)), live(2, disk(100, 50)), live(3, disk(100, 50))}
	for _, n := range []int{0, -1} {
		got, err := deterministicPolicy.Place(candidates, n, nil)
		if err == nil || errors.Is(err, ErrNotEnoughNodes) {
			t.Errorf("Place(n=%d) = %v, %v; want a count error", n, nodeIDs(got), err)
		}
	}
}

func TestPlacementPolicyValidate(t *testing.T) {
	tests := []struct {
		highWater float64
		ok        bool
	}{
		{DefaultHighWater, true}, {1, true}, {0.5, true}, {0.001, true},
		{0, false}, {-0.1, false}, {1.01, false}, {math.NaN(), false}, {math.Inf(1), false},
	}
	candidates := []Candidate{live(1, disk(100, 50)), live(2, disk(100, 50)), live(3, disk(100, 50))}
	for _, tt := range tests {
		p := PlacementPolicy{HighWater: tt.highWater}
		if err := p.Validate(); (err == nil) != tt.ok {
			t.Errorf("Validate(HighWater %v) = %v, want ok %v", tt.highWater, err, tt.ok)
		}
		if _, err := p.Place(candidates, 3, nil); !tt.ok && (err == nil || errors.Is(err, ErrNotEnoughNodes)) {
			t.Errorf("Place(HighWater %v) = %v, want a policy error", tt.highWater, err)
		}
	}
	if err := DefaultPlacementPolicy().Validate(); err != nil {
		t.Errorf("default policy: %v", err)
	}
}

func equalNodes(count int) []Candidate {
	candidates := make([]Candidate, count)
	for i := range candidates {
		candidates[i] = live(uint64(i+1), disk(1000, 500))
	}
	return candidates
}

// With Rand set, ties are broken at random, so primaries spread over nodes
// with equal room. A fixed seed keeps the test deterministic.
func TestPlacementSpreadsPrimaries(t *testing.T) {
	policy := PlacementPolicy{HighWater: DefaultHighWater, Rand: rand.New(rand.NewPCG(1, 2))}
	candidates := equalNodes(6)
	primaries := map[uint64]int{}
	for range 300 {
		chosen, err := policy.Place(candidates, 3, nil)
		if err != nil {
			t.Fatalf("Place: %v", err)
		}
		if ids := nodeIDs(chosen); len(ids) != 3 || ids[0] == ids[1] || ids[0] == ids[2] || ids[1] == ids[2] {
			t.Fatalf("Place chose %v, want 3 distinct nodes", ids)
		}
		primaries[chosen[0].NodeID]++
	}
	for _, c := range candidates {
		if primaries[c.NodeID] == 0 {
			t.Errorf("node %d was never primary in 300 placements: %v", c.NodeID, primaries)
		}
	}
}

// Without Rand, the same node leads every time: the reason Rand exists.
func TestPlacementWithoutRandIsDeterministic(t *testing.T) {
	candidates := equalNodes(6)
	for range 10 {
		chosen, err := deterministicPolicy.Place(candidates, 3, nil)
		if err != nil {
			t.Fatalf("Place: %v", err)
		}
		if ids := nodeIDs(chosen); !slices.Equal(ids, []uint64{1, 2, 3}) {
			t.Fatalf("Place chose %v, want [1 2 3]", ids)
		}
	}
}

// Jitter only reorders ties: a node with clearly more room still comes first.
func TestPlacementRandKeepsRealDifferences(t *testing.T) {
	policy := PlacementPolicy{HighWater: DefaultHighWater, Rand: rand.New(rand.NewPCG(3, 4))}
	candidates := []Candidate{
		live(1, disk(1000, 100)), live(2, disk(1000, 300)), live(3, disk(1000, 200)), live(4, disk(1000, 50)),
	}
	for range 50 {
		chosen, err := policy.Place(candidates, 3, nil)
		if err != nil {
			t.Fatalf("Place: %v", err)
		}
		if ids := nodeIDs(chosen); !slices.Equal(ids, []uint64{2, 3, 1}) {
			t.Fatalf("Place chose %v, want [2 3 1]", ids)
		}
	}
}

func TestPlacementLeavesCandidatesAlone(t *testing.T) {
	candidates := []Candidate{live(3, disk(100, 10)), live(1, disk(100, 30)), live(2, disk(100, 20))}
	before := nodeIDs(candidates)
	if _, err := deterministicPolicy.Place(candidates, 3, nil); err != nil {
		t.Fatalf("Place: %v", err)
	}
	if after := nodeIDs(candidates); !slices.Equal(after, before) {
		t.Errorf("Place reordered its input: %v, was %v", after, before)
	}
}

// Random clusters: whatever Place returns is distinct, alive, not excluded
// and has a usable disk.
func TestPlacementNeverBreaksItsRules(t *testing.T) {
	gen := rand.New(rand.NewPCG(5, 6))
	policy := PlacementPolicy{HighWater: DefaultHighWater, Rand: rand.New(rand.NewPCG(7, 8))}
	for range 500 {
		candidates, exclude := randomCluster(gen)
		chosen, err := policy.Place(candidates, 3, exclude)
		if errors.Is(err, ErrNotEnoughNodes) {
			continue
		}
		if err != nil {
			t.Fatalf("Place: %v", err)
		}
		seen := map[uint64]bool{}
		for _, c := range chosen {
			if seen[c.NodeID] || exclude[c.NodeID] || !c.Alive || !hasUsableDisk(c) {
				t.Fatalf("Place chose %+v from %+v, excluding %v", c, candidates, exclude)
			}
			seen[c.NodeID] = true
		}
	}
}

func randomCluster(gen *rand.Rand) ([]Candidate, map[uint64]bool) {
	var candidates []Candidate
	exclude := map[uint64]bool{}
	for range gen.IntN(10) {
		id := gen.Uint64N(8) + 1 // small IDs, so duplicates happen
		c := live(id)
		c.Alive = gen.IntN(4) != 0
		for range gen.IntN(3) {
			total := gen.Uint64N(100) + 1
			d := disk(total, gen.Uint64N(total+1))
			d.Failed = gen.IntN(5) == 0
			c.Disks = append(c.Disks, d)
		}
		if gen.IntN(6) == 0 {
			exclude[id] = true
		}
		candidates = append(candidates, c)
	}
	return candidates, exclude
}

func hasUsableDisk(c Candidate) bool {
	for _, d := range c.Disks {
		used := float64(d.TotalBytes-d.FreeBytes) / float64(d.TotalBytes)
		if !d.Failed && d.FreeBytes > 0 && used <= DefaultHighWater {
			return true
		}
	}
	return false
}

// The default policy's Rand is safe to share; run with -race.
func TestPlacementDefaultPolicyIsSafeConcurrently(t *testing.T) {
	policy := DefaultPlacementPolicy()
	candidates := equalNodes(6)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 100 {
				if _, err := policy.Place(candidates, 3, nil); err != nil {
					t.Errorf("Place: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
}
