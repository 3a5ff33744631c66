package erasure

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/bits"
	"strconv"
	"strings"
)

// The constants below are part of the shard file format, version 1. They
// must not change; a change needs a new format version.
const (
	// FormatVersion is written in every shard header.
	FormatVersion = 1

	magicSize     = 8
	extentIDSize  = 8
	versionSize   = 4
	indexSize     = 2
	countSize     = 2 // data shards, parity shards
	chunkSizeSize = 4
	lengthSize    = 8
	stripesSize   = 8
	crcSize       = 4
	headerZero1   = 2
	headerZero2   = 12

	// ShardHeaderSize is the size of the header at the start of a shard
	// file.
	ShardHeaderSize = magicSize + extentIDSize + versionSize + indexSize + 2*countSize + headerZero1 +
		chunkSizeSize + lengthSize + stripesSize + headerZero2 + crcSize
	// ChunkCRCSize is the checksum that follows each chunk's data.
	ChunkCRCSize = crcSize

	// MinChunkSize and MaxChunkSize bound the chunk size, a power of two.
	MinChunkSize = 512
	MaxChunkSize = 4 << 20
	// MaxDataShards, MaxParityShards and MaxShards bound d, p and d+p.
	MaxDataShards   = 32
	MaxParityShards = 16
	MaxShards       = 32
	// MaxSealedLength bounds the length of the extent a shard codes: 1 TiB.
	MaxSealedLength = 1 << 40
)

// DefaultChunkSize is the chunk size DefaultParams uses. It is not part of
// the format (every shard records its own): 64 KiB keeps the per-chunk
// checksum cost at 0.006 %, lets the Reed–Solomon SIMD kernels run at full
// speed, bounds the memory of a stripe at (d+p) × 64 KiB, and limits the
// read amplification of a degraded small read to d chunks.
const DefaultChunkSize = 64 << 10

// Field offsets inside the shard header.
const (
	hdrOffMagic     = 0
	hdrOffExtentID  = hdrOffMagic + magicSize
	hdrOffVersion   = hdrOffExtentID + extentIDSize
	hdrOffIndex     = hdrOffVersion + versionSize
	hdrOffData      = hdrOffIndex + indexSize
	hdrOffParity    = hdrOffData + countSize
	hdrOffZero1     = hdrOffParity + countSize
	hdrOffChunkSize = hdrOffZero1 + headerZero1
	hdrOffLength    = hdrOffChunkSize + chunkSizeSize
	hdrOffStripes   = hdrOffLength + lengthSize
	hdrOffZero2     = hdrOffStripes + stripesSize
	hdrOffCRC       = ShardHeaderSize - crcSize
)

// Compile-time checks that the derived sizes are the documented ones.
var (
	_ = [1]struct{}{}[ShardHeaderSize-64]
	_ = [1]struct{}{}[hdrOffZero2+headerZero2-hdrOffCRC]
)

// shardMagic opens every shard file.
var shardMagic = [magicSize]byte{'C', 'L', 'O', 'G', 'S', 'S', 'H', 'D'}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Params are a coding's shape: d data shards, p parity shards, and the
// chunk size.
type Params struct {
	DataShards   int
	ParityShards int
	ChunkSize    int
}

// DefaultParams returns 4+2 with DefaultChunkSize chunks.
func DefaultParams() Params {
	return Params{DataShards: 4, ParityShards: 2, ChunkSize: DefaultChunkSize}
}

// ParseParams parses "d+p" (such as "4+2") with the default chunk size.
func ParseParams(s string) (Params, error) {
	dStr, pStr, ok := strings.Cut(s, "+")
	d, errD := strconv.Atoi(dStr)
	p, errP := strconv.Atoi(pStr)
	if !ok || errD != nil || errP != nil {
		return Params{}, fmt.Errorf("%w: %q is not d+p", ErrBadParams, s)
	}
	params := Params{DataShards: d, ParityShards: p, ChunkSize: DefaultChunkSize}
	return params, params.Validate()
}

// String returns "d+p".
func (p Params) String() string { return fmt.Sprintf("%d+%d", p.DataShards, p.ParityShards) }

// Validate checks p against the format's limits.
func (p Params) Validate() error {
	switch {
	case p.DataShards < 1 || p.DataShards > MaxDataShards:
		return fmt.Errorf("%w: %d data shards, want 1 to %d", ErrBadParams, p.DataShards, MaxDataShards)
	case p.ParityShards < 1 || p.ParityShards > MaxParityShards:
		return fmt.Errorf("%w: %d parity shards, want 1 to %d", ErrBadParams, p.ParityShards, MaxParityShards)
	case p.Shards() > MaxShards:
		return fmt.Errorf("%w: %d shards in all, at most %d", ErrBadParams, p.Shards(), MaxShards)
	case p.ChunkSize < MinChunkSize || p.ChunkSize > MaxChunkSize || bits.OnesCount(uint(p.ChunkSize)) != 1:
		return fmt.Errorf("%w: chunk size %d is not a power of two from %d to %d", ErrBadParams, p.ChunkSize, MinChunkSize, MaxChunkSize)
	}
	return nil
}

// Shards returns d+p.
func (p Params) Shards() int { return p.DataShards + p.ParityShards }

// StripeSize returns the extent bytes one stripe codes: d chunks.
func (p Params) StripeSize() uint64 { return uint64(p.DataShards) * uint64(p.ChunkSize) }

// Stripes returns the stripes that code sealedLength bytes.
func (p Params) Stripes(sealedLength uint64) uint64 {
	return (sealedLength + p.StripeSize() - 1) / p.StripeSize()
}

// ShardSize returns the size of each shard file of an extent of
// sealedLength bytes.
func (p Params) ShardSize(sealedLength uint64) uint64 {
	return ShardHeaderSize + p.Stripes(sealedLength)*p.chunkRecordSize()
}

// chunkRecordSize is the bytes a chunk occupies in a shard file.
func (p Params) chunkRecordSize() uint64 { return uint64(p.ChunkSize) + ChunkCRCSize }

// ChunkOffset returns where stripe's chunk starts in a shard file.
func (p Params) ChunkOffset(stripe uint64) uint64 {
	return ShardHeaderSize + stripe*p.chunkRecordSize()
}

// ShardHeader is the decoded header of a shard file.
type ShardHeader struct {
	ExtentID     uint64
	Version      uint32
	Index        int // this shard's place: 0 to d-1 data, d to d+p-1 parity
	Params       Params
	SealedLength uint64 // bytes of the extent the shards code
	Stripes      uint64
}

// ShardSize returns the size the shard file must have.
func (h ShardHeader) ShardSize() uint64 { return h.Params.ShardSize(h.SealedLength) }

// sameCoding reports whether h and o are shards of one encoding.
func (h ShardHeader) sameCoding(o ShardHeader) bool {
	return h.ExtentID == o.ExtentID && h.Params == o.Params && h.SealedLength == o.SealedLength
}

// EncodeShardHeader returns the ShardHeaderSize bytes of h, checksum
// included. Version is always FormatVersion and Stripes is derived.
func EncodeShardHeader(h ShardHeader) []byte {
	buf := make([]byte, ShardHeaderSize)
	copy(buf[hdrOffMagic:], shardMagic[:])
	binary.LittleEndian.PutUint64(buf[hdrOffExtentID:], h.ExtentID)
	binary.LittleEndian.PutUint32(buf[hdrOffVersion:], FormatVersion)
	binary.LittleEndian.PutUint16(buf[hdrOffIndex:], uint16(h.Index))
	binary.LittleEndian.PutUint16(buf[hdrOffData:], uint16(h.Params.DataShards))
	binary.LittleEndian.PutUint16(buf[hdrOffParity:], uint16(h.Params.ParityShards))
	binary.LittleEndian.PutUint32(buf[hdrOffChunkSize:], uint32(h.Params.ChunkSize))
	binary.LittleEndian.PutUint64(buf[hdrOffLength:], h.SealedLength)
	binary.LittleEndian.PutUint64(buf[hdrOffStripes:], h.Params.Stripes(h.SealedLength))
	binary.LittleEndian.PutUint32(buf[hdrOffCRC:], crc32.Checksum(buf[:hdrOffCRC], castagnoli))
	return buf
}

// DecodeShardHeader checks and decodes the first ShardHeaderSize bytes of
// a shard file. Every field is checked against the format's limits; the
// errors are *HeaderError.
func DecodeShardHeader(buf []byte) (ShardHeader, error) {
	if len(buf) < ShardHeaderSize {
		return ShardHeader{}, headerErr(ErrTruncated, "header of %d bytes, want %d", len(buf), ShardHeaderSize)
	}
	buf = buf[:ShardHeaderSize]
	if string(buf[hdrOffMagic:hdrOffMagic+magicSize]) != string(shardMagic[:]) {
		return ShardHeader{}, headerErr(ErrNotShard, "magic %q", buf[:magicSize])
	}
	if want, got := crc32.Checksum(buf[:hdrOffCRC], castagnoli), binary.LittleEndian.Uint32(buf[hdrOffCRC:]); want != got {
		return ShardHeader{}, headerErr(ErrHeaderChecksum, "checksum %08x, want %08x", got, want)
	}
	h := ShardHeader{
		ExtentID: binary.LittleEndian.Uint64(buf[hdrOffExtentID:]),
		Version:  binary.LittleEndian.Uint32(buf[hdrOffVersion:]),
		Index:    int(binary.LittleEndian.Uint16(buf[hdrOffIndex:])),
		Params: Params{
			DataShards:   int(binary.LittleEndian.Uint16(buf[hdrOffData:])),
			ParityShards: int(binary.LittleEndian.Uint16(buf[hdrOffParity:])),
			ChunkSize:    int(binary.LittleEndian.Uint32(buf[hdrOffChunkSize:])),
		},
		SealedLength: binary.LittleEndian.Uint64(buf[hdrOffLength:]),
		Stripes:      binary.LittleEndian.Uint64(buf[hdrOffStripes:]),
	}
	if h.Version != FormatVersion {
		return ShardHeader{}, headerErr(ErrVersion, "version %d, this build reads %d", h.Version, FormatVersion)
	}
	return h, checkHeaderFields(h, buf)
}

// checkHeaderFields checks a decoded header's fields against the limits
// and against each other.
func checkHeaderFields(h ShardHeader, buf []byte) error {
	if err := h.Params.Validate(); err != nil {
		return headerErr(ErrHeaderField, "%v", err)
	}
	switch {
	case h.Index >= h.Params.Shards():
		return headerErr(ErrHeaderField, "shard index %d of %s", h.Index, h.Params)
	case h.SealedLength == 0 || h.SealedLength > MaxSealedLength:
		return headerErr(ErrHeaderField, "sealed length %d, want 1 to %d", h.SealedLength, uint64(MaxSealedLength))
	case h.Stripes != h.Params.Stripes(h.SealedLength):
		return headerErr(ErrHeaderField, "%d stripes, %d bytes in %s of %d-byte chunks need %d",
			h.Stripes, h.SealedLength, h.Params, h.Params.ChunkSize, h.Params.Stripes(h.SealedLength))
	case !allZero(buf[hdrOffZero1:hdrOffZero1+headerZero1]) || !allZero(buf[hdrOffZero2:hdrOffZero2+headerZero2]):
		return headerErr(ErrHeaderField, "reserved bytes not zero")
	}
	return nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// chunkCRC returns the checksum of stripe's chunk of shard index: CRC32C
// of the chunk's data followed by the stripe number (8 bytes) and the
// shard index (2 bytes), little-endian. The trailer makes a chunk that
// landed at the wrong place fail its check.
func chunkCRC(data []byte, stripe uint64, index int) uint32 {
	var trailer [10]byte
	binary.LittleEndian.PutUint64(trailer[:8], stripe)
	binary.LittleEndian.PutUint16(trailer[8:], uint16(index))
	return crc32.Update(crc32.Checksum(data, castagnoli), castagnoli, trailer[:])
}

// VerifyChunk checks a chunk as stored in a shard file (ChunkSize data
// bytes, then ChunkCRCSize checksum bytes) that is stripe's chunk of
// shard index. It returns the checksum failure, or nil.
func VerifyChunk(record []byte, stripe uint64, index int) error {
	if len(record) < ChunkCRCSize {
		return fmt.Errorf("chunk of %d bytes", len(record))
	}
	data := record[:len(record)-ChunkCRCSize]
	got := binary.LittleEndian.Uint32(record[len(data):])
	if want := chunkCRC(data, stripe, index); got != want {
		return fmt.Errorf("chunk checksum %08x, want %08x", got, want)
	}
	return nil
}

// sealChunk writes the checksum of record's data into its last
// ChunkCRCSize bytes.
func sealChunk(record []byte, stripe uint64, index int) {
	data := record[:len(record)-ChunkCRCSize]
	binary.LittleEndian.PutUint32(record[len(data):], chunkCRC(data, stripe, index))
}
