package logblock

import (
	"encoding/binary"
	"fmt"
)

// Record is one received log line. A decoded Record's byte slices point
// into the decoded block; copy what must outlive it.
type Record struct {
	// ReceivedNanos is when the collector received the line, Unix
	// nanoseconds.
	ReceivedNanos int64
	Source        []byte // the sender's address, "127.0.0.1:5555"
	SysID         []byte // subsystem ID
	MsgType       []byte // message type
	FileName      []byte // file name
	Message       []byte // the message, masked
}

// EncodedSize returns the bytes r takes in a block's records, before
// compression.
func (r Record) EncodedSize() int {
	body := r.bodySize()
	return uvarintLen(uint64(body)) + body
}

func (r Record) bodySize() int {
	return timeSize + fieldSize(r.Source) + fieldSize(r.SysID) + fieldSize(r.MsgType) +
		fieldSize(r.FileName) + fieldSize(r.Message)
}

func fieldSize(f []byte) int { return uvarintLen(uint64(len(f))) + len(f) }

// uvarintLen returns the size of v as a uvarint.
func uvarintLen(v uint64) int {
	n := 1
	for ; v >= 0x80; v >>= 7 {
		n++
	}
	return n
}

// check returns an ErrFieldTooLong error if a field of r is over its
// limit.
func (r Record) check() error {
	for _, f := range [...]struct {
		name  string
		value []byte
		limit int
	}{{"source", r.Source, MaxNameLen}, {"sys_id", r.SysID, MaxNameLen}, {"msg_type", r.MsgType, MaxNameLen},
		{"file_name", r.FileName, MaxNameLen}, {"message", r.Message, MaxMessage}} {
		if len(f.value) > f.limit {
			return fmt.Errorf("%w: %s of %d bytes, at most %d", ErrFieldTooLong, f.name, len(f.value), f.limit)
		}
	}
	return nil
}

// appendRecord appends the encoding of r, which the caller has checked.
func appendRecord(dst []byte, r *Record) []byte {
	dst = binary.AppendUvarint(dst, uint64(r.bodySize()))
	dst = binary.BigEndian.AppendUint64(dst, uint64(r.ReceivedNanos))
	for _, f := range [...][]byte{r.Source, r.SysID, r.MsgType, r.FileName, r.Message} {
		dst = binary.AppendUvarint(dst, uint64(len(f)))
		dst = append(dst, f...)
	}
	return dst
}

// recordReader decodes the records of one block, front to back.
type recordReader struct {
	buf   []byte // the uncompressed records
	off   int    // where the next record starts
	index int    // the next record's index
}

// next decodes the record at the reader's offset into r. It checks every
// length against its limit and against what remains; r's slices point
// into buf, capped at their length.
func (rr *recordReader) next(r *Record) error {
	start := rr.off
	bodyLen, n, err := rr.uvarint(rr.buf[start:], maxRecordBody, "record length")
	if err != nil {
		return err
	}
	if bodyLen < minRecordBody {
		return recordCorrupt(rr.index, start, errFieldLength, "body of %d bytes, at least %d", bodyLen, minRecordBody)
	}
	if bodyLen > len(rr.buf)-start-n {
		return recordCorrupt(rr.index, start, errTruncated, "body of %d bytes, %d remain", bodyLen, len(rr.buf)-start-n)
	}
	body := rr.buf[start+n : start+n+bodyLen]
	if err := rr.decodeBody(body, r); err != nil {
		return err
	}
	rr.off = start + n + bodyLen
	rr.index++
	return nil
}

// decodeBody decodes the fields of one record body, which they must fill
// exactly.
func (rr *recordReader) decodeBody(body []byte, r *Record) error {
	r.ReceivedNanos = int64(binary.BigEndian.Uint64(body))
	rest := body[timeSize:]
	var err error
	for _, f := range [...]struct {
		dst   *[]byte
		limit int
		name  string
	}{{&r.Source, MaxNameLen, "source"}, {&r.SysID, MaxNameLen, "sys_id"}, {&r.MsgType, MaxNameLen, "msg_type"},
		{&r.FileName, MaxNameLen, "file_name"}, {&r.Message, MaxMessage, "message"}} {
		if *f.dst, rest, err = rr.field(rest, f.limit, f.name); err != nil {
			return err
		}
	}
	if len(rest) != 0 {
		return recordCorrupt(rr.index, rr.off, errBodyLeft, "%d bytes after the message", len(rest))
	}
	return nil
}

// field decodes one length-prefixed field from the front of b and returns
// it and what follows it.
func (rr *recordReader) field(b []byte, limit int, name string) (value, rest []byte, err error) {
	length, n, err := rr.uvarint(b, limit, name)
	if err != nil {
		return nil, nil, err
	}
	if length > len(b)-n {
		return nil, nil, recordCorrupt(rr.index, rr.off, errTruncated, "%s of %d bytes, %d remain in the record", name, length, len(b)-n)
	}
	return b[n : n+length : n+length], b[n+length:], nil
}

// uvarint decodes a length at the front of b: a uvarint in its shortest
// form, at most limit.
func (rr *recordReader) uvarint(b []byte, limit int, name string) (value, size int, err error) {
	v, n := binary.Uvarint(b)
	switch {
	case n == 0:
		return 0, 0, recordCorrupt(rr.index, rr.off, errTruncated, "%s: %d bytes of a uvarint", name, len(b))
	case n < 0 || n != uvarintLen(v):
		return 0, 0, recordCorrupt(rr.index, rr.off, errVarint, "%s", name)
	case v > uint64(limit):
		return 0, 0, recordCorrupt(rr.index, rr.off, errFieldLength, "%s of %d bytes, at most %d", name, v, limit)
	}
	return int(v), n, nil
}
