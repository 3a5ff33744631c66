package logblock

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
)

// randomRecord returns a record whose fields have random lengths within
// their limits (mostly short) and random or textual contents.
func randomRecord(rng *rand.Rand) Record {
	field := func(limit int) []byte {
		n := rng.IntN(20)
		if rng.IntN(50) == 0 {
			n = rng.IntN(limit + 1)
		}
		b := make([]byte, n)
		if rng.IntN(2) == 0 {
			for i := range b {
				b[i] = byte(rng.UintN(256)) // not UTF-8, zero bytes included
			}
			return b
		}
		return bytes.Repeat([]byte("日志x"), n/7+1)[:n] // CJK, possibly cut mid-rune
	}
	return Record{
		ReceivedNanos: rng.Int64() - rng.Int64(),
		Source:        field(MaxNameLen),
		SysID:         field(MaxNameLen),
		MsgType:       field(MaxNameLen),
		FileName:      field(MaxNameLen),
		Message:       field(4096),
	}
}

// TestRoundTripManyBlocks fills 64 KiB blocks the way a batcher does, with
// random and CJK fields, and decodes every one of them.
func TestRoundTripManyBlocks(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var (
		b       Builder
		pending []Record
		it      Iterator
		blocks  = map[Codec]int{}
	)
	flush := func(seq uint64) {
		payload, userData, err := b.Finish(goldenWriterID, seq)
		if err != nil {
			t.Fatal(err)
		}
		got, h, err := Decode(payload, userData)
		if err != nil {
			t.Fatalf("block %d: %v", seq, err)
		}
		assertSameRecords(t, got, pending)
		if h.BatchSeq != seq || h.WriterID != goldenWriterID {
			t.Fatalf("header %+v", h)
		}
		assertIterates(t, &it, payload, userData, pending)
		blocks[h.Codec]++
		pending = pending[:0]
	}
	for seq := uint64(1); seq <= 200; seq++ {
		compressible := seq%2 == 0
		for b.Len() < 64<<10 {
			r := randomRecord(rng)
			if compressible {
				r.Message = fmt.Appendf(nil, "GET /api/v1/orders/%d HTTP/1.1 200 %d 日志", rng.IntN(100), rng.IntN(9999))
			} else {
				r.Message = make([]byte, 100+rng.IntN(400))
				for i := range r.Message {
					r.Message[i] = byte(rng.UintN(256))
				}
			}
			if err := b.Add(r); err != nil {
				t.Fatal(err)
			}
			pending = append(pending, r)
		}
		flush(seq)
	}
	if blocks[CodecNone] == 0 || blocks[CodecSnappy] == 0 {
		t.Fatalf("blocks by codec: %v, want both", blocks)
	}
}

func assertIterates(t *testing.T, it *Iterator, payload, userData []byte, want []Record) {
	t.Helper()
	if err := it.Reset(payload, userData); err != nil {
		t.Fatal(err)
	}
	i := 0
	for it.Next() {
		if i >= len(want) || !sameRecord(it.Record(), want[i]) {
			t.Fatalf("iterator record %d differs", i)
		}
		i++
	}
	if err := it.Err(); err != nil || i != len(want) {
		t.Fatalf("iterated %d of %d records: %v", i, len(want), err)
	}
}

func TestBuilderCodecChoice(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	random := make([]byte, 1000)
	for i := range random {
		random[i] = byte(rng.UintN(256))
	}
	for _, c := range []struct {
		name    string
		message []byte
		want    Codec
	}{
		{"random bytes stay raw", random, CodecNone},
		{"repeated text is compressed", bytes.Repeat([]byte("abc "), 250), CodecSnappy},
	} {
		var b Builder
		if err := b.Add(Record{Message: c.message}); err != nil {
			t.Fatal(err)
		}
		size := b.Len()
		payload, userData, err := b.Finish(goldenWriterID, 1)
		if err != nil {
			t.Fatal(err)
		}
		h, err := DecodeHeader(userData)
		if err != nil {
			t.Fatal(err)
		}
		if h.Codec != c.want || len(payload) > size || h.RecordsLen != size {
			t.Fatalf("%s: codec %v, payload %d bytes of %d", c.name, h.Codec, len(payload), size)
		}
	}
}

func TestBuilderFinishResetsAndOwnsNothing(t *testing.T) {
	var b Builder
	if _, _, err := b.Finish(goldenWriterID, 1); !errors.Is(err, ErrEmpty) {
		t.Fatalf("Finish of nothing: %v, want ErrEmpty", err)
	}
	for _, r := range goldenRawRecords {
		if err := b.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	if b.Count() != 2 || b.Len() != goldenRawRecords[0].EncodedSize()+goldenRawRecords[1].EncodedSize() {
		t.Fatalf("Count %d, Len %d", b.Count(), b.Len())
	}
	payload, userData, err := b.Finish(goldenWriterID, 1)
	if err != nil {
		t.Fatal(err)
	}
	if b.Count() != 0 || b.Len() != 0 {
		t.Fatalf("after Finish: Count %d, Len %d, want a reset builder", b.Count(), b.Len())
	}
	saved := bytes.Clone(payload)
	if err := b.Add(Record{ReceivedNanos: 1, Message: bytes.Repeat([]byte{'z'}, len(payload))}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(payload, saved) {
		t.Fatal("the next block's records overwrote a finished payload")
	}
	assertDecodes(t, payload, userData, goldenRawRecords, CodecNone, 1)
	b.Reset()
	if b.Count() != 0 || b.Len() != 0 {
		t.Fatal("Reset kept records")
	}
	if err := b.Add(goldenRawRecords[1]); err != nil {
		t.Fatal(err)
	}
	payload, userData, _ = b.Finish(goldenWriterID, 2)
	h, _ := DecodeHeader(userData)
	if h.FirstNanos != goldenRawRecords[1].ReceivedNanos || h.LastNanos != h.FirstNanos {
		t.Fatalf("times of a reset builder leaked into the next block: %+v", h)
	}
	if _, _, err := Decode(payload, userData); err != nil {
		t.Fatal(err)
	}
}

func TestBuilderFieldLimits(t *testing.T) {
	long := func(n int) []byte { return bytes.Repeat([]byte{'x'}, n) }
	for _, c := range []struct {
		name  string
		set   func(r *Record, v []byte)
		limit int
	}{
		{"source", func(r *Record, v []byte) { r.Source = v }, MaxNameLen},
		{"sys_id", func(r *Record, v []byte) { r.SysID = v }, MaxNameLen},
		{"msg_type", func(r *Record, v []byte) { r.MsgType = v }, MaxNameLen},
		{"file_name", func(r *Record, v []byte) { r.FileName = v }, MaxNameLen},
		{"message", func(r *Record, v []byte) { r.Message = v }, MaxMessage},
	} {
		t.Run(c.name, func(t *testing.T) {
			var b Builder
			var r Record
			c.set(&r, long(c.limit))
			if err := b.Add(r); err != nil {
				t.Fatalf("%s at its limit: %v", c.name, err)
			}
			c.set(&r, long(c.limit+1))
			if err := b.Add(r); !errors.Is(err, ErrFieldTooLong) {
				t.Fatalf("%s past its limit: %v, want ErrFieldTooLong", c.name, err)
			}
			if b.Count() != 1 {
				t.Fatalf("a refused record was added")
			}
			payload, userData, err := b.Finish(goldenWriterID, 1)
			if err != nil {
				t.Fatal(err)
			}
			c.set(&r, long(c.limit))
			got, _, err := Decode(payload, userData)
			if err != nil || len(got) != 1 || !sameRecord(got[0], r) {
				t.Fatalf("record at the limit does not round-trip: %v", err)
			}
		})
	}
}

// TestBuilderFull fills a block to MaxRecordsLen with the largest records
// and decodes it: the largest block is valid.
func TestBuilderFull(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 32 MiB block")
	}
	var b Builder
	r := Record{ReceivedNanos: 1, Source: []byte("127.0.0.1:1"), SysID: []byte("s"), Message: bytes.Repeat([]byte("0123456789abcdef"), MaxMessage/16)}
	added := 0
	var err error
	for err == nil {
		if err = b.Add(r); err == nil {
			added++
		}
	}
	if !errors.Is(err, ErrBlockFull) || added != MaxRecordsLen/r.EncodedSize() {
		t.Fatalf("added %d records, then %v; want %d, then ErrBlockFull", added, err, MaxRecordsLen/r.EncodedSize())
	}
	if err := b.Add(Record{}); err != nil {
		t.Fatalf("a small record still fits: %v", err)
	}
	payload, userData, err := b.Finish(goldenWriterID, 1)
	if err != nil {
		t.Fatal(err)
	}
	got, h, err := Decode(payload, userData)
	if err != nil || len(got) != added+1 || h.RecordsLen > MaxRecordsLen {
		t.Fatalf("decoded %d records, header %+v: %v", len(got), h, err)
	}
}

func TestIteratorDoesNotAllocate(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var b Builder
	for range 300 {
		r := randomRecord(rng)
		r.Message = []byte("repeated text that snappy compresses well, repeated text")
		if err := b.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	payload, userData, err := b.Finish(goldenWriterID, 1)
	if err != nil {
		t.Fatal(err)
	}
	var it Iterator
	readAll := func() {
		if err := it.Reset(payload, userData); err != nil {
			t.Fatal(err)
		}
		for it.Next() {
		}
		if it.Err() != nil {
			t.Fatal(it.Err())
		}
	}
	readAll() // warm the decompression buffer
	if h := it.Header(); h.Codec != CodecSnappy {
		t.Fatalf("codec %v, want a compressed block", h.Codec)
	}
	if allocs := testing.AllocsPerRun(20, readAll); allocs != 0 {
		t.Fatalf("iterating a block allocated %v times", allocs)
	}
}

func TestDecodeAliasesPayload(t *testing.T) {
	payload, userData := build(t, goldenRawRecords, goldenWriterID, 1)
	got, _, err := Decode(payload, userData)
	if err != nil {
		t.Fatal(err)
	}
	m := got[0].Message
	if &m[0] != &payload[bytes.Index(payload, goldenRawRecords[0].Message)] || cap(m) != len(m) {
		t.Fatal("a raw block's message was copied, or can be appended into the payload")
	}
}
