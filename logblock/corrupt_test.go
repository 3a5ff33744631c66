package logblock

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/golang/snappy"
)

// rawBody lays out one record body without checks.
func rawBody(receivedNanos int64, fields ...[]byte) []byte {
	body := binary.BigEndian.AppendUint64(nil, uint64(receivedNanos))
	for _, f := range fields {
		body = binary.AppendUvarint(body, uint64(len(f)))
		body = append(body, f...)
	}
	return body
}

// rawRecord prefixes a body with its length.
func rawRecord(body []byte) []byte {
	return append(binary.AppendUvarint(nil, uint64(len(body))), body...)
}

// rawHeader lays out a version-1 header without checks.
func rawHeader(codec Codec, count, recordsLen int, first, last int64) []byte {
	h := Header{Version: Version, Codec: codec, RecordCount: count, RecordsLen: recordsLen,
		FirstNanos: first, LastNanos: last, WriterID: goldenWriterID, BatchSeq: 1}
	return appendHeader(nil, &h)
}

// rawBlock wraps record bytes in a header that agrees with them, given the
// count and times they hold.
func rawBlock(records []byte, count int, first, last int64) (payload, userData []byte) {
	return records, rawHeader(CodecNone, count, len(records), first, last)
}

// badSnappyCopy returns a snappy block of the length userData's header
// says, long enough to pass the expansion bound, whose first copy reaches
// before the start of the output.
func badSnappyCopy(userData []byte) []byte {
	h, _ := DecodeHeader(userData)
	const literalLen = 60
	b := binary.AppendUvarint(nil, uint64(h.RecordsLen))
	b = append(b, (literalLen-1)<<2) // literal tag, length in the tag
	b = append(b, make([]byte, literalLen)...)
	return append(b, 0x01|7<<5, 0xff) // copy, 1-byte offset form: offset 2047
}

func patched(b []byte, at int, v ...byte) []byte {
	out := bytes.Clone(b)
	copy(out[at:], v)
	return out
}

type corruptCase struct {
	name              string
	payload, userData []byte
	want              error // the sentinel errors.Is must find
	check             error // for ErrCorrupt, the check that failed
	record            int   // for ErrCorrupt, the record at fault or -1
}

func corruptCases(t testing.TB) []corruptCase {
	rawPayload, rawUD := build(t, goldenRawRecords, goldenWriterID, 1)
	snappyPayload, snappyUD := build(t, goldenSnappyRecords(), goldenWriterID, 1)
	one := rawRecord(rawBody(5, []byte("src"), []byte("s"), []byte("t"), []byte("f"), []byte("m")))
	two := append(bytes.Clone(one), one...)
	overlongLen := rawRecord(append(rawBody(5, nil, nil, nil, nil), 0x81, 0x00, 'm')) // message length 1 in two bytes
	hugeVarint := append(bytes.Repeat([]byte{0xff}, 10), 0x01)
	nameTooLong := rawRecord(rawBody(5, bytes.Repeat([]byte{'s'}, MaxNameLen+1), nil, nil, nil, nil))
	fieldPastBody := rawRecord(append(rawBody(5, nil, nil, nil, nil), 9, 'm'))
	bodyLeft := rawRecord(append(rawBody(5, nil, nil, nil, nil, nil), 'x'))
	shortBody := rawRecord(make([]byte, minRecordBody-1))
	messageTooLong := rawRecord(append(rawBody(5, nil, nil, nil, nil), binary.AppendUvarint(nil, MaxMessage+1)...))
	recordTooLong := append(binary.AppendUvarint(nil, maxRecordBody+1), make([]byte, minRecordSize)...)
	fakeSnappy := append(binary.AppendUvarint(nil, 1000), 0, 'x') // claims 1000 bytes from 4
	c := func(name string, payload, userData []byte, want, check error, record int) corruptCase {
		return corruptCase{name, payload, userData, want, check, record}
	}
	block := func(records []byte, count int, first, last int64) (payload, userData []byte) {
		return rawBlock(records, count, first, last)
	}
	p := func(payload, userData []byte) [2][]byte { return [2][]byte{payload, userData} }
	cases := []corruptCase{
		c("no user data", rawPayload, nil, ErrNotLogBlock, nil, 0),
		c("raw block user data", rawPayload, []byte("writer-1/seq-1"), ErrNotLogBlock, nil, 0),
		c("magic only", rawPayload, []byte("CLOGSLOG"), ErrVersion, nil, 0),
		c("version 2", rawPayload, patched(rawUD, offVersion, 2), ErrVersion, nil, 0),
		c("version 0", rawPayload, patched(rawUD, offVersion, 0), ErrVersion, nil, 0),
		c("header one byte short", rawPayload, rawUD[:HeaderSize-1], ErrCorrupt, errHeaderSize, -1),
		c("header one byte long", rawPayload, append(bytes.Clone(rawUD), 0), ErrCorrupt, errHeaderSize, -1),
		c("codec 0", rawPayload, patched(rawUD, offCodec, 0), ErrCorrupt, errHeaderField, -1),
		c("codec 3", rawPayload, patched(rawUD, offCodec, 3), ErrCorrupt, errHeaderField, -1),
		c("reserved byte set", rawPayload, patched(rawUD, offReserved+1, 1), ErrCorrupt, errHeaderField, -1),
		c("zero records", rawPayload, patched(rawUD, offCount+3, 0), ErrCorrupt, errHeaderField, -1),
		c("more records than bytes allow", rawPayload, patched(rawUD, offCount, 0, 0, 1, 0), ErrCorrupt, errHeaderField, -1),
		c("records length 0", nil, rawHeader(CodecNone, 1, 0, 0, 0), ErrCorrupt, errHeaderField, -1),
		c("records length past the limit", nil, rawHeader(CodecSnappy, 1, MaxRecordsLen+1, 0, 0), ErrCorrupt, errHeaderField, -1),
		c("first time after last", rawPayload, rawHeader(CodecNone, 2, len(rawPayload), 2, 1), ErrCorrupt, errHeaderField, -1),
		c("raw payload one byte short", rawPayload[:len(rawPayload)-1], rawUD, ErrCorrupt, errPayloadLength, -1),
		c("raw payload one byte long", append(bytes.Clone(rawPayload), 0), rawUD, ErrCorrupt, errPayloadLength, -1),
		c("empty payload", nil, rawUD, ErrCorrupt, errPayloadLength, -1),
		c("raw bytes said to be snappy", rawPayload, patched(rawUD, offCodec, byte(CodecSnappy)), ErrCorrupt, errPayloadLength, -1),
		c("snappy without a length", []byte{0xff}, snappyUD, ErrCorrupt, errSnappy, -1),
		c("snappy of another length", snappy.Encode(nil, []byte("short")), snappyUD, ErrCorrupt, errPayloadLength, -1),
		c("snappy that cannot expand so far", fakeSnappy, rawHeader(CodecSnappy, 1, 1000, 0, 0), ErrCorrupt, errPayloadLength, -1),
		c("snappy copy from before the start", badSnappyCopy(snappyUD), snappyUD, ErrCorrupt, errSnappy, -1),
		c("snappy cut short", snappyPayload[:len(snappyPayload)-1], snappyUD, ErrCorrupt, errSnappy, -1),
	}
	for _, r := range []struct {
		name   string
		block  [2][]byte
		check  error
		record int
	}{
		{"fewer records than the header", p(block(two, 3, 5, 5)), errCount, 2},
		{"more records than the header", p(block(two, 1, 5, 5)), errCount, 1},
		{"first time differs", p(block(two, 2, 4, 5)), errTimes, -1},
		{"last time differs", p(block(two, 2, 5, 6)), errTimes, -1},
		{"body under the smallest", p(block(append(bytes.Clone(one), shortBody...), 2, 5, 5)), errFieldLength, 1},
		{"record longer than the largest", p(block(recordTooLong, 1, 0, 0)), errFieldLength, 0},
		{"body past the end", p(block(append(bytes.Clone(one), one[:len(one)-1]...), 2, 5, 5)), errTruncated, 1},
		{"length not in shortest form", p(block(overlongLen, 1, 5, 5)), errVarint, 0},
		{"length overflows 64 bits", p(block(append(hugeVarint, make([]byte, 20)...), 1, 5, 5)), errVarint, 0},
		{"length cut at the end", p(block(append(bytes.Clone(two), 0x80), 3, 5, 5)), errTruncated, 2},
		{"source past MaxNameLen", p(block(nameTooLong, 1, 5, 5)), errFieldLength, 0},
		{"message past MaxMessage", p(block(messageTooLong, 1, 5, 5)), errFieldLength, 0},
		{"field past the body", p(block(fieldPastBody, 1, 5, 5)), errTruncated, 0},
		{"bytes after the message", p(block(bodyLeft, 1, 5, 5)), errBodyLeft, 0},
		{"zero bytes", p(block(make([]byte, 64), 2, 0, 0)), errFieldLength, 0},
	} {
		cases = append(cases, c(r.name, r.block[0], r.block[1], ErrCorrupt, r.check, r.record))
	}
	return cases
}

func TestDecodeCorrupt(t *testing.T) {
	for _, c := range corruptCases(t) {
		t.Run(c.name, func(t *testing.T) {
			records, h, err := Decode(c.payload, c.userData)
			if !errors.Is(err, c.want) {
				t.Fatalf("Decode: %v, want %v", err, c.want)
			}
			if records != nil || h != (Header{}) {
				t.Fatalf("a failed Decode returned %d records, header %+v", len(records), h)
			}
			if c.want != ErrCorrupt {
				return
			}
			var ce *CorruptError
			if !errors.As(err, &ce) || !errors.Is(err, c.check) || ce.Record != c.record {
				t.Fatalf("Decode: %v (record %d), want check %q on record %d", err, ce.Record, c.check, c.record)
			}
		})
	}
}

// TestIteratorStopsAtCorruption: the iterator gives the good records
// before the bad one, then stops for good with the error.
func TestIteratorStopsAtCorruption(t *testing.T) {
	one := rawRecord(rawBody(5, []byte("src"), nil, nil, nil, []byte("m")))
	garbage := append([]byte{0x05}, make([]byte, 15)...) // a body of 5 bytes: too short
	payload, userData := rawBlock(append(append(bytes.Clone(one), one...), garbage...), 3, 5, 5)
	var it Iterator
	if err := it.Reset(payload, userData); err != nil {
		t.Fatal(err)
	}
	n := 0
	for it.Next() {
		n++
	}
	var ce *CorruptError
	if n != 2 || !errors.As(it.Err(), &ce) || ce.Record != 2 || ce.Offset != 2*len(one) {
		t.Fatalf("read %d records, then %v", n, it.Err())
	}
	if it.Next() || it.Err() == nil || it.Record().Message != nil {
		t.Fatal("the iterator went on after an error")
	}
	var fresh Iterator
	if fresh.Next() || fresh.Err() != nil {
		t.Fatal("a zero Iterator must yield nothing")
	}
	if err := it.Reset(nil, []byte("raw")); !errors.Is(err, ErrNotLogBlock) || it.Next() || !errors.Is(it.Err(), ErrNotLogBlock) {
		t.Fatalf("Reset on a raw block: %v", err)
	}
}
