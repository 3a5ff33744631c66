package logblock

import (
	"github.com/golang/snappy"
)

// maxPreallocRecords caps the records Decode allocates room for before it
// has decoded any.
const maxPreallocRecords = 4096

// Iterator reads the records of log blocks one at a time, without
// allocating per record. The zero Iterator is ready for Reset; reuse one
// across blocks to reuse its decompression buffer.
//
//	var it logblock.Iterator
//	if err := it.Reset(payload, userData); err != nil { ... }
//	for it.Next() {
//		r := it.Record()
//		...
//	}
//	if err := it.Err(); err != nil { ... }
//
// Checks that need the whole block (the record count, the first and last
// receive times) run when the records run out, so Err can fail after
// Next has returned records: a reader that must not show any record of a
// corrupt block uses Decode instead.
type Iterator struct {
	header  Header
	reader  recordReader
	record  Record
	err     error
	done    bool
	first   int64 // earliest receive time read so far
	last    int64 // latest receive time read so far
	scratch []byte
}

// Reset checks the header in userData and prepares to iterate over the
// records in payload, decompressing them if needed. Records of an
// uncompressed block point into payload; keep it unchanged while they are
// in use.
func (it *Iterator) Reset(payload, userData []byte) error {
	*it = Iterator{scratch: it.scratch, done: true}
	h, err := DecodeHeader(userData)
	if err != nil {
		it.err = err
		return err
	}
	records, err := it.uncompress(&h, payload)
	if err != nil {
		it.err = err
		return err
	}
	it.header = h
	it.reader = recordReader{buf: records}
	it.done = false
	return nil
}

// uncompress returns the records of payload, checked to be as long as the
// header says before anything is allocated.
func (it *Iterator) uncompress(h *Header, payload []byte) ([]byte, error) {
	switch h.Codec {
	case CodecNone:
		if len(payload) != h.RecordsLen {
			return nil, headerCorrupt(errPayloadLength, "%d bytes, the header says %d", len(payload), h.RecordsLen)
		}
		return payload, nil
	case CodecSnappy:
		return it.unsnappy(h, payload)
	}
	return nil, headerCorrupt(errHeaderField, "codec %d", h.Codec) // DecodeHeader has refused it already
}

func (it *Iterator) unsnappy(h *Header, payload []byte) ([]byte, error) {
	decodedLen, err := snappy.DecodedLen(payload)
	if err != nil {
		return nil, headerCorrupt(errSnappy, "%v", err)
	}
	if decodedLen != h.RecordsLen {
		return nil, headerCorrupt(errPayloadLength, "snappy block of %d bytes, the header says %d", decodedLen, h.RecordsLen)
	}
	if decodedLen > maxSnappyExpansion*len(payload) {
		return nil, headerCorrupt(errPayloadLength, "%d bytes of snappy cannot expand to %d", len(payload), decodedLen)
	}
	if cap(it.scratch) < decodedLen {
		it.scratch = make([]byte, decodedLen)
	}
	records, err := snappy.Decode(it.scratch[:cap(it.scratch)], payload)
	if err != nil {
		return nil, headerCorrupt(errSnappy, "%v", err)
	}
	return records, nil
}

// Header returns the header of the current block.
func (it *Iterator) Header() Header { return it.header }

// Next decodes the next record and reports whether there is one. It
// returns false at the end of the block and after an error; Err says
// which.
func (it *Iterator) Next() bool {
	if it.done {
		return false
	}
	rr := &it.reader
	if rr.off == len(rr.buf) {
		it.finish()
		return false
	}
	if rr.index == it.header.RecordCount {
		it.fail(recordCorrupt(rr.index, rr.off, errCount, "more records than the header's %d", it.header.RecordCount))
		return false
	}
	if err := rr.next(&it.record); err != nil {
		it.fail(err)
		return false
	}
	it.noteTime(it.record.ReceivedNanos)
	return true
}

// noteTime tracks the earliest and latest receive time read so far.
func (it *Iterator) noteTime(t int64) {
	if it.reader.index == 1 || t < it.first {
		it.first = t
	}
	if it.reader.index == 1 || t > it.last {
		it.last = t
	}
}

// finish runs the checks that need every record.
func (it *Iterator) finish() {
	it.done = true
	h := &it.header
	if it.reader.index != h.RecordCount {
		it.err = recordCorrupt(it.reader.index, it.reader.off, errCount, "%d records, the header says %d", it.reader.index, h.RecordCount)
		return
	}
	if it.first != h.FirstNanos || it.last != h.LastNanos {
		it.err = headerCorrupt(errTimes, "records span %d to %d, the header says %d to %d", it.first, it.last, h.FirstNanos, h.LastNanos)
	}
}

func (it *Iterator) fail(err error) {
	it.err = err
	it.done = true
	it.record = Record{}
}

// Record returns the record Next decoded. Its slices point into the block
// (or the iterator's decompression buffer) and are valid until Reset.
func (it *Iterator) Record() Record { return it.record }

// Err returns the error that ended the iteration, or nil once every record
// was read and the block checked out.
func (it *Iterator) Err() error { return it.err }

// Decode checks a whole log block and returns its header and records. The
// records' slices point into payload, or for a compressed block into one
// buffer holding the decompressed records. On any error it returns no
// records.
func Decode(payload, userData []byte) ([]Record, Header, error) {
	var it Iterator
	if err := it.Reset(payload, userData); err != nil {
		return nil, Header{}, err
	}
	// The count is checked against the records' size, but a corrupt block
	// could still claim many tiny records; grow only as records decode.
	records := make([]Record, 0, min(it.header.RecordCount, maxPreallocRecords))
	for it.Next() {
		records = append(records, it.Record())
	}
	if err := it.Err(); err != nil {
		return nil, Header{}, err
	}
	return records, it.header, nil
}
