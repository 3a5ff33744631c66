package clogs

import (
	"fmt"
	"testing"
)

// fileNames are n file names like the ones applications log to.
func fileNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("app-%05d.log", i)
	}
	return names
}

// testRing builds the ring of collectors named by names, with weights
// (nil: all 1), of which those with live[i] false are left out (nil: all
// in).
func testRing(names []string, weights []int, live []bool) *ring {
	points := make([][]ringPoint, len(names))
	for i, name := range names {
		w := 1
		if weights != nil {
			w = weights[i]
		}
		points[i] = collectorPoints(name, w, i)
	}
	return buildRing(points, func(i int) bool { return live == nil || live[i] })
}

// assign maps each file to a collector name.
func assign(r *ring, collectors, files []string) map[string]string {
	out := make(map[string]string, len(files))
	for _, f := range files {
		out[f] = collectors[r.lookup(f)]
	}
	return out
}

func countBy(assignment map[string]string) map[string]int {
	counts := map[string]int{}
	for _, c := range assignment {
		counts[c]++
	}
	return counts
}

// TestRingBalance: 10,000 files spread over 4 equal collectors within
// ±10% of a quarter each.
func TestRingBalance(t *testing.T) {
	collectors := []string{"c1", "c2", "c3", "c4"}
	files := fileNames(10000)
	counts := countBy(assign(testRing(collectors, nil, nil), collectors, files))
	want := len(files) / len(collectors)
	for _, c := range collectors {
		if n := counts[c]; n < want*9/10 || n > want*11/10 {
			t.Errorf("collector %s has %d files, want %d ±10%%; all: %v", c, n, want, counts)
		}
	}
}

// TestRingRemoveMovesOnlyItsFiles: when one of 4 collectors leaves, its
// files move and no other file does; when it returns, every file is back
// where it was.
func TestRingRemoveMovesOnlyItsFiles(t *testing.T) {
	collectors := []string{"c1", "c2", "c3", "c4"}
	files := fileNames(10000)
	before := assign(testRing(collectors, nil, nil), collectors, files)
	for gone := range collectors {
		live := []bool{true, true, true, true}
		live[gone] = false
		after := assign(testRing(collectors, nil, live), collectors, files)
		moved := 0
		for _, f := range files {
			switch {
			case after[f] == collectors[gone]:
				t.Fatalf("file %s still on %s, which left", f, collectors[gone])
			case before[f] == collectors[gone]:
				moved++
			case after[f] != before[f]:
				t.Fatalf("file %s moved from %s to %s, though %s left", f, before[f], after[f], collectors[gone])
			}
		}
		if moved == 0 {
			t.Fatalf("%s had no files", collectors[gone])
		}
		back := assign(testRing(collectors, nil, nil), collectors, files)
		for _, f := range files {
			if back[f] != before[f] {
				t.Fatalf("file %s on %s after %s returned, was on %s", f, back[f], collectors[gone], before[f])
			}
		}
	}
}

// TestRingWeights: a collector's share of files follows its weight,
// within ±10% of the weighted share.
func TestRingWeights(t *testing.T) {
	collectors := []string{"small", "medium", "large"}
	weights := []int{1, 2, 3}
	files := fileNames(12000)
	counts := countBy(assign(testRing(collectors, weights, nil), collectors, files))
	for i, c := range collectors {
		want := len(files) * weights[i] / 6
		if n := counts[c]; n < want*9/10 || n > want*11/10 {
			t.Errorf("collector %s (weight %d) has %d files, want %d ±10%%; all: %v", c, weights[i], n, want, counts)
		}
	}
}

// TestRingIgnoresConfigOrder: points hang on names, so listing the
// collectors in another order sends every file to the same one.
func TestRingIgnoresConfigOrder(t *testing.T) {
	files := fileNames(2000)
	a := []string{"c1", "c2", "c3"}
	b := []string{"c3", "c1", "c2"}
	first, second := assign(testRing(a, nil, nil), a, files), assign(testRing(b, nil, nil), b, files)
	for _, f := range files {
		if first[f] != second[f] {
			t.Fatalf("file %s on %s in one order, on %s in another", f, first[f], second[f])
		}
	}
}

func TestEmptyRing(t *testing.T) {
	r := testRing([]string{"c1", "c2"}, nil, []bool{false, false})
	if got := r.lookup("x.log"); got != -1 || r.live != 0 {
		t.Fatalf("lookup on an empty ring = %d (live %d), want -1", got, r.live)
	}
}

func BenchmarkRingLookup(b *testing.B) {
	collectors := []string{"c1", "c2", "c3", "c4"}
	r := testRing(collectors, nil, nil)
	files := fileNames(1024)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		r.lookup(files[i%len(files)])
	}
}
