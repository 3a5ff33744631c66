package logblock

import (
	"bytes"
	"fmt"

	"github.com/golang/snappy"
)

// Builder packs records into one log block. The zero Builder is ready to
// use; it is not safe for concurrent use. Its buffers are kept across
// blocks, so one Builder per batcher allocates little once warm.
type Builder struct {
	records    []byte // the encoded records, uncompressed
	count      int
	firstNanos int64  // earliest receive time so far
	lastNanos  int64  // latest receive time so far
	compressed []byte // scratch for snappy, kept across blocks
}

// Add appends r to the block. It fails with ErrFieldTooLong if a field is
// over its limit, and with ErrBlockFull if r would take the records past
// MaxRecordsLen; the builder is then unchanged.
func (b *Builder) Add(r Record) error {
	if err := r.check(); err != nil {
		return err
	}
	if size := r.EncodedSize(); len(b.records)+size > MaxRecordsLen {
		return fmt.Errorf("%w: %d bytes of records, %d more would pass %d", ErrBlockFull, len(b.records), size, MaxRecordsLen)
	}
	b.records = appendRecord(b.records, &r)
	if b.count == 0 || r.ReceivedNanos < b.firstNanos {
		b.firstNanos = r.ReceivedNanos
	}
	if b.count == 0 || r.ReceivedNanos > b.lastNanos {
		b.lastNanos = r.ReceivedNanos
	}
	b.count++
	return nil
}

// Len returns the size of the records added so far, before compression:
// the most the payload of Finish can be. Batchers compare it with their
// target block size.
func (b *Builder) Len() int { return len(b.records) }

// Count returns how many records were added since the last Reset or
// Finish.
func (b *Builder) Count() int { return b.count }

// Reset drops every record, keeping the buffers.
func (b *Builder) Reset() {
	b.records = b.records[:0]
	b.count = 0
	b.firstNanos, b.lastNanos = 0, 0
}

// Finish returns the block's payload and user data and resets the
// builder. Both are newly allocated and owned by the caller, so the
// builder can take the next block's records while this one is appended.
// The payload is snappy-compressed when that saves at least an eighth of
// its bytes, and stored as it is otherwise. Finish fails with ErrEmpty
// if no record was added.
func (b *Builder) Finish(writerID [16]byte, batchSeq uint64) (payload, userData []byte, err error) {
	if b.count == 0 {
		return nil, nil, ErrEmpty
	}
	h := Header{
		Version:     Version,
		RecordCount: b.count,
		RecordsLen:  len(b.records),
		FirstNanos:  b.firstNanos,
		LastNanos:   b.lastNanos,
		WriterID:    writerID,
		BatchSeq:    batchSeq,
	}
	h.Codec, payload = b.encodePayload()
	userData = appendHeader(make([]byte, 0, HeaderSize), &h)
	b.Reset()
	return payload, userData, nil
}

// encodePayload compresses the records if that pays, and returns a copy
// of what is to be stored.
func (b *Builder) encodePayload() (Codec, []byte) {
	if need := snappy.MaxEncodedLen(len(b.records)); cap(b.compressed) < need {
		b.compressed = make([]byte, need)
	}
	b.compressed = snappy.Encode(b.compressed[:cap(b.compressed)], b.records)
	if len(b.compressed) <= len(b.records)-len(b.records)/8 {
		return CodecSnappy, bytes.Clone(b.compressed)
	}
	return CodecNone, bytes.Clone(b.records)
}
