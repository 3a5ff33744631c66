package logblock

import (
	"encoding/json"
	"errors"
	"runtime/metrics"
	"testing"
)

// allocatedDuring returns the bytes fn allocated: the least of three
// runs, since the counter is process-wide and the fuzzing engine's own
// goroutines allocate too.
func allocatedDuring(fn func()) uint64 {
	sample := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	least := ^uint64(0)
	for range 3 {
		metrics.Read(sample)
		before := sample[0].Value.Uint64()
		fn()
		metrics.Read(sample)
		least = min(least, sample[0].Value.Uint64()-before)
	}
	return least
}

// decodeAllocLimit bounds what decoding a block may allocate: the
// decompressed records (at most maxSnappyExpansion times the payload) and
// a Record for every minRecordSize bytes of them, doubled for append's
// growth, plus a little.
func decodeAllocLimit(payloadLen int) uint64 {
	const recordBytes = 128 // unsafe.Sizeof(Record{})
	expanded := uint64(maxSnappyExpansion * payloadLen)
	return 64<<10 + expanded + 2*expanded/minRecordSize*recordBytes
}

// FuzzDecode: Decode never panics, allocates in proportion to its input,
// fails only with the package's errors, agrees with Iterator, and what it
// decodes builds into a block that decodes to the same records.
func FuzzDecode(f *testing.F) {
	for _, g := range goldenBlocks {
		payload, userData := build(f, g.records(), goldenWriterID, g.seq)
		f.Add(payload, userData)
	}
	for _, c := range corruptCases(f) {
		f.Add(c.payload, c.userData)
	}
	f.Fuzz(func(t *testing.T, payload, userData []byte) {
		var (
			records []Record
			h       Header
			err     error
		)
		if n := allocatedDuring(func() { records, h, err = Decode(payload, userData) }); n > decodeAllocLimit(len(payload)) {
			t.Fatalf("decoding %d bytes allocated %d", len(payload), n)
		}
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrNotLogBlock) && !errors.Is(err, ErrVersion) {
				t.Fatalf("Decode failed with an error of no kind: %v", err)
			}
			assertIteratorFails(t, payload, userData)
			return
		}
		assertIterates(t, new(Iterator), payload, userData, records)
		again, againUD := build(t, records, h.WriterID, h.BatchSeq)
		reRecords, reHeader, err := Decode(again, againUD)
		if err != nil {
			t.Fatalf("decoded records do not build a valid block: %v", err)
		}
		assertSameRecords(t, reRecords, records)
		reHeader.Codec = h.Codec // the builder chooses its own
		if reHeader != h {
			t.Fatalf("header %+v became %+v", h, reHeader)
		}
		for _, r := range records {
			if line := r.AppendJSON(nil); !json.Valid(line) {
				t.Fatalf("invalid JSON %q", line)
			}
			assertOneSafeLine(t, r.AppendText(nil))
		}
	})
}

// assertIteratorFails checks that the iterator, too, ends in an error.
func assertIteratorFails(t *testing.T, payload, userData []byte) {
	t.Helper()
	var it Iterator
	if it.Reset(payload, userData) != nil {
		return
	}
	for it.Next() {
	}
	if it.Err() == nil {
		t.Fatal("Decode failed, the iterator read the block to the end")
	}
}

// FuzzJSONString: the JSON form of any bytes is what encoding/json makes
// of them.
func FuzzJSONString(f *testing.F) {
	for _, s := range renderSamples {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s []byte) {
		if got, want := appendJSONString(nil, s), jsonString(t, s); string(got) != string(want) {
			t.Fatalf("%q:\n got %s\nwant %s", s, got, want)
		}
		assertOneSafeLine(t, appendPrintable(nil, s))
	})
}
