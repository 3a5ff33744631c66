package logblock

import "testing"

func TestDedupDropsRepeatsPerWriter(t *testing.T) {
	a, b := [16]byte{1}, [16]byte{2}
	var d Dedup
	steps := []struct {
		writer [16]byte
		seq    uint64
		repeat bool
	}{
		{a, 1, false}, {a, 2, false}, {a, 2, true}, // retried after an ambiguous failure
		{b, 1, false}, // another writer's sequence is its own
		{a, 3, false}, {a, 1, true}, {b, 1, true}, {b, 2, false},
	}
	for i, s := range steps {
		if got := d.Repeat(Header{WriterID: s.writer, BatchSeq: s.seq}); got != s.repeat {
			t.Fatalf("step %d (writer %x seq %d): repeat = %v, want %v", i, s.writer[0], s.seq, got, s.repeat)
		}
	}
}
