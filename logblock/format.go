package logblock

import (
	"encoding/binary"
	"fmt"
	"strconv"
)

// The constants below are part of the log block format, version 1. They
// must not change; a change needs a new version.
const (
	// Version is the log block format version this package reads and
	// writes.
	Version = 1

	magicSize       = 8
	versionSize     = 1
	codecSize       = 1
	reservedSize    = 2
	countSize       = 4
	recordsLenSize  = 4
	timeSize        = 8
	writerIDSize    = 16
	batchSeqSize    = 8
	minUvarintSize  = 1
	recordFieldsLen = 5 // source, sys_id, msg_type, file_name, message

	// HeaderSize is the size of a version-1 header, all of the user data of
	// a log block.
	HeaderSize = magicSize + versionSize + codecSize + reservedSize + countSize +
		recordsLenSize + 2*timeSize + writerIDSize + batchSeqSize

	// MaxNameLen is the longest source, sys_id, msg_type or file_name.
	MaxNameLen = 255
	// MaxMessage is the longest message.
	MaxMessage = 1 << 20
	// MaxRecordsLen is the most bytes of records in one block before
	// compression: the largest extent payload, so a block that does not
	// compress can still be stored raw.
	MaxRecordsLen = 32 << 20

	// minRecordBody is the body of a record whose fields are all empty.
	minRecordBody = timeSize + recordFieldsLen*minUvarintSize
	// minRecordSize is the smallest record: a one-byte length and the
	// smallest body.
	minRecordSize = minUvarintSize + minRecordBody
	// maxRecordBody is the body of a record whose fields are all as long
	// as they may be.
	maxRecordBody = timeSize + 4*(uvarintLenOf255+MaxNameLen) + uvarintLenOfMaxMessage + MaxMessage
	// maxSnappyExpansion bounds how many bytes snappy can decode from one
	// byte of input (a 3-byte copy writes at most 64), so a decoded length
	// beyond it is corrupt, whatever the snappy header says.
	maxSnappyExpansion = 22

	uvarintLenOf255        = 2
	uvarintLenOfMaxMessage = 3
)

// Header field offsets.
const (
	offMagic      = 0
	offVersion    = offMagic + magicSize
	offCodec      = offVersion + versionSize
	offReserved   = offCodec + codecSize
	offCount      = offReserved + reservedSize
	offRecordsLen = offCount + countSize
	offFirstTime  = offRecordsLen + recordsLenSize
	offLastTime   = offFirstTime + timeSize
	offWriterID   = offLastTime + timeSize
	offBatchSeq   = offWriterID + writerIDSize
)

// magic opens the user data of every log block.
var magic = [magicSize]byte{'C', 'L', 'O', 'G', 'S', 'L', 'O', 'G'}

// Compile-time checks that the derived sizes are the documented ones.
var (
	_ = [1]struct{}{}[HeaderSize-60]
	_ = [1]struct{}{}[offBatchSeq+batchSeqSize-HeaderSize]
	_ = [1]struct{}{}[minRecordBody-13]
	_ = [1]struct{}{}[maxRecordBody-1_049_615]
)

// Codec is how a block's payload holds its records.
type Codec uint8

// The codecs, as written in the header. Zero is not a codec.
const (
	CodecNone   Codec = 1 // the records as they are
	CodecSnappy Codec = 2 // the records as one snappy block
)

func (c Codec) String() string {
	switch c {
	case CodecNone:
		return "none"
	case CodecSnappy:
		return "snappy"
	}
	return "codec(" + strconv.Itoa(int(c)) + ")"
}

func (c Codec) valid() bool { return c == CodecNone || c == CodecSnappy }

// Header is the decoded user data of a log block.
type Header struct {
	Version     uint8
	Codec       Codec
	RecordCount int
	// RecordsLen is the size of the records before compression.
	RecordsLen int
	// FirstNanos and LastNanos are the earliest and the latest receive
	// time of the block's records, Unix nanoseconds.
	FirstNanos int64
	LastNanos  int64
	WriterID   [writerIDSize]byte
	BatchSeq   uint64
}

// IsLogBlock reports whether a block's user data marks it as a log block:
// whether it starts with the log block magic. A log block of a version
// this package cannot read is still a log block; Decode says why it
// cannot read it.
func IsLogBlock(userData []byte) bool {
	return len(userData) >= magicSize && string(userData[:magicSize]) == string(magic[:])
}

// appendHeader appends the encoding of h, which the caller has checked.
func appendHeader(dst []byte, h *Header) []byte {
	dst = append(dst, magic[:]...)
	dst = append(dst, h.Version, byte(h.Codec), 0, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(h.RecordCount))
	dst = binary.BigEndian.AppendUint32(dst, uint32(h.RecordsLen))
	dst = binary.BigEndian.AppendUint64(dst, uint64(h.FirstNanos))
	dst = binary.BigEndian.AppendUint64(dst, uint64(h.LastNanos))
	dst = append(dst, h.WriterID[:]...)
	return binary.BigEndian.AppendUint64(dst, h.BatchSeq)
}

// DecodeHeader decodes and checks a log block's user data. User data that
// is not a log block's gives ErrNotLogBlock; another version gives
// ErrVersion; a version-1 header that breaks a rule gives a *CorruptError.
func DecodeHeader(userData []byte) (Header, error) {
	if !IsLogBlock(userData) {
		return Header{}, ErrNotLogBlock
	}
	if len(userData) <= offVersion || userData[offVersion] != Version {
		return Header{}, fmt.Errorf("%w: %s, this build reads %d", ErrVersion, versionOf(userData), Version)
	}
	if len(userData) != HeaderSize {
		return Header{}, headerCorrupt(errHeaderSize, "%d bytes, want %d", len(userData), HeaderSize)
	}
	h := Header{
		Version:     userData[offVersion],
		Codec:       Codec(userData[offCodec]),
		RecordCount: int(binary.BigEndian.Uint32(userData[offCount:])),
		RecordsLen:  int(binary.BigEndian.Uint32(userData[offRecordsLen:])),
		FirstNanos:  int64(binary.BigEndian.Uint64(userData[offFirstTime:])),
		LastNanos:   int64(binary.BigEndian.Uint64(userData[offLastTime:])),
		BatchSeq:    binary.BigEndian.Uint64(userData[offBatchSeq:]),
	}
	copy(h.WriterID[:], userData[offWriterID:])
	if err := checkHeader(&h, userData); err != nil {
		return Header{}, err
	}
	return h, nil
}

func versionOf(userData []byte) string {
	if len(userData) <= offVersion {
		return "no version byte"
	}
	return "version " + strconv.Itoa(int(userData[offVersion]))
}

// checkHeader checks the rules of a decoded version-1 header.
func checkHeader(h *Header, userData []byte) error {
	switch {
	case !h.Codec.valid():
		return headerCorrupt(errHeaderField, "codec %d", h.Codec)
	case userData[offReserved] != 0 || userData[offReserved+1] != 0:
		return headerCorrupt(errHeaderField, "reserved bytes %x, want zero", userData[offReserved:offReserved+reservedSize])
	case h.RecordsLen < minRecordSize || h.RecordsLen > MaxRecordsLen:
		return headerCorrupt(errHeaderField, "records length %d, want %d to %d", h.RecordsLen, minRecordSize, MaxRecordsLen)
	case h.RecordCount < 1 || h.RecordCount > h.RecordsLen/minRecordSize:
		return headerCorrupt(errHeaderField, "%d records in %d bytes", h.RecordCount, h.RecordsLen)
	case h.FirstNanos > h.LastNanos:
		return headerCorrupt(errHeaderField, "first receive time %d after the last, %d", h.FirstNanos, h.LastNanos)
	}
	return nil
}
