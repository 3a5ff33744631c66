package extent

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"strconv"
)

// The constants below are part of the on-disk format, version 1. They must
// not change; a change needs a new format version.
const (
	// FormatVersion is written in every extent header.
	FormatVersion = 1

	magicSize        = 8
	extentIDSize     = 8
	versionSize      = 4
	createdSize      = 8
	crcSize          = 4
	payloadLenSize   = 4
	userDataLenSize  = 2
	blockReserved    = 6
	extentHeaderZero = 480

	// ExtentHeaderSize is the size of the extent header at offset 0.
	ExtentHeaderSize = magicSize + extentIDSize + versionSize + createdSize + extentHeaderZero + crcSize
	// MaxUserData is the most user data a block header carries.
	MaxUserData = 496
	// BlockHeaderSize is the size of a block header.
	BlockHeaderSize = crcSize + payloadLenSize + userDataLenSize + blockReserved + MaxUserData
	// PayloadAlign is the multiple a payload is zero-padded to.
	PayloadAlign = 4096
	// MaxPayload is the largest payload of one block.
	MaxPayload = 32 << 20

	// SealedXattr holds a sealed extent's sealed length, in decimal.
	SealedXattr = "user.clogs.sealed"
)

// Field offsets inside the extent header.
const (
	extOffMagic   = 0
	extOffID      = extOffMagic + magicSize
	extOffVersion = extOffID + extentIDSize
	extOffCreated = extOffVersion + versionSize
	extOffCRC     = ExtentHeaderSize - crcSize
)

// Field offsets inside a block header.
const (
	blkOffCRC         = 0
	blkOffPayloadLen  = blkOffCRC + crcSize
	blkOffUserDataLen = blkOffPayloadLen + payloadLenSize
	blkOffUserData    = blkOffUserDataLen + userDataLenSize + blockReserved
)

// magic opens every extent file.
var magic = [magicSize]byte{'C', 'L', 'O', 'G', 'S', 'E', 'X', 'T'}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// zeroPad is shared, read-only padding for vectored writes.
var zeroPad [PayloadAlign]byte

// Compile-time checks that the derived sizes are the documented ones.
var (
	_ = [1]struct{}{}[ExtentHeaderSize-512]
	_ = [1]struct{}{}[BlockHeaderSize-512]
)

// Header is the decoded extent header.
type Header struct {
	ExtentID     uint64
	Version      uint32
	CreatedNanos int64
}

// BlockSize returns the bytes a block with a payload of payloadLen bytes
// occupies on disk: header plus the payload padded to PayloadAlign.
func BlockSize(payloadLen int) uint64 {
	return BlockHeaderSize + uint64(paddedLen(payloadLen))
}

func paddedLen(n int) int {
	return (n + PayloadAlign - 1) / PayloadAlign * PayloadAlign
}

// FileName is the name of extent id's file inside a disk directory.
func FileName(id uint64) string { return fmt.Sprintf("%016x.extent", id) }

// ParseFileName returns the extent ID of a FileName, or false.
func ParseFileName(name string) (uint64, bool) {
	const suffix = ".extent"
	if len(name) != 16+len(suffix) || name[16:] != suffix {
		return 0, false
	}
	id, err := strconv.ParseUint(name[:16], 16, 64)
	return id, err == nil
}

func encodeExtentHeader(h Header) []byte {
	buf := make([]byte, ExtentHeaderSize)
	copy(buf[extOffMagic:], magic[:])
	binary.LittleEndian.PutUint64(buf[extOffID:], h.ExtentID)
	binary.LittleEndian.PutUint32(buf[extOffVersion:], h.Version)
	binary.LittleEndian.PutUint64(buf[extOffCreated:], uint64(h.CreatedNanos))
	binary.LittleEndian.PutUint32(buf[extOffCRC:], crc32.Checksum(buf[:extOffCRC], castagnoli))
	return buf
}

// decodeExtentHeader checks and decodes the first ExtentHeaderSize bytes of
// an extent file.
func decodeExtentHeader(buf []byte) (Header, error) {
	if len(buf) < ExtentHeaderSize {
		return Header{}, fmt.Errorf("extent header: %d bytes, want %d", len(buf), ExtentHeaderSize)
	}
	buf = buf[:ExtentHeaderSize]
	if want, got := crc32.Checksum(buf[:extOffCRC], castagnoli), binary.LittleEndian.Uint32(buf[extOffCRC:]); want != got {
		return Header{}, fmt.Errorf("extent header: checksum %08x, want %08x", got, want)
	}
	if string(buf[extOffMagic:extOffMagic+magicSize]) != string(magic[:]) {
		return Header{}, fmt.Errorf("extent header: bad magic %q", buf[:magicSize])
	}
	h := Header{
		ExtentID:     binary.LittleEndian.Uint64(buf[extOffID:]),
		Version:      binary.LittleEndian.Uint32(buf[extOffVersion:]),
		CreatedNanos: int64(binary.LittleEndian.Uint64(buf[extOffCreated:])),
	}
	if h.Version != FormatVersion {
		return Header{}, fmt.Errorf("extent header: version %d, this build reads %d", h.Version, FormatVersion)
	}
	for _, b := range buf[extOffCreated+createdSize : extOffCRC] {
		if b != 0 {
			return Header{}, fmt.Errorf("extent header: reserved bytes not zero")
		}
	}
	return h, nil
}

// Block is one unit of append: an opaque payload and up to MaxUserData
// bytes of user data, both returned as given.
type Block struct {
	Payload  []byte
	UserData []byte
}

// validate checks a block against the format's limits.
func (b Block) validate() error {
	if len(b.Payload) == 0 || len(b.Payload) > MaxPayload {
		return fmt.Errorf("%w: payload of %d bytes, want 1 to %d", ErrBlockSize, len(b.Payload), MaxPayload)
	}
	if len(b.UserData) > MaxUserData {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrUserDataSize, len(b.UserData), MaxUserData)
	}
	return nil
}

// encodeBlockHeader returns the 512-byte header of b, checksum included.
func encodeBlockHeader(b Block) []byte {
	hdr := make([]byte, BlockHeaderSize)
	binary.LittleEndian.PutUint32(hdr[blkOffPayloadLen:], uint32(len(b.Payload)))
	binary.LittleEndian.PutUint16(hdr[blkOffUserDataLen:], uint16(len(b.UserData)))
	copy(hdr[blkOffUserData:], b.UserData)
	crc := crc32.Update(0, castagnoli, hdr[blkOffPayloadLen:])
	crc = crc32.Update(crc, castagnoli, b.Payload)
	binary.LittleEndian.PutUint32(hdr[blkOffCRC:], crc)
	return hdr
}

// appendBlockIovecs appends the vectored-write pieces of one block: header,
// payload, zero padding.
func appendBlockIovecs(iov [][]byte, hdr []byte, b Block) [][]byte {
	iov = append(iov, hdr, b.Payload)
	if pad := paddedLen(len(b.Payload)) - len(b.Payload); pad > 0 {
		iov = append(iov, zeroPad[:pad])
	}
	return iov
}

// EncodeBlock returns the on-disk bytes of b (header, payload, padding).
func EncodeBlock(b Block) ([]byte, error) {
	if err := b.validate(); err != nil {
		return nil, err
	}
	out := make([]byte, 0, BlockSize(len(b.Payload)))
	for _, piece := range appendBlockIovecs(nil, encodeBlockHeader(b), b) {
		out = append(out, piece...)
	}
	return out, nil
}

// blockHeader is a decoded, not yet checksum-verified block header.
type blockHeader struct {
	crc         uint32
	payloadLen  uint32
	userDataLen uint16
}

// errNoBlock says that a header's payload length is zero: nothing was
// written here.
var errNoBlock = fmt.Errorf("extent: no block here")

// parseBlockHeader decodes and range-checks a header without the payload.
// It never allocates based on the lengths it reads.
func parseBlockHeader(hdr []byte) (blockHeader, error) {
	h := blockHeader{
		crc:         binary.LittleEndian.Uint32(hdr[blkOffCRC:]),
		payloadLen:  binary.LittleEndian.Uint32(hdr[blkOffPayloadLen:]),
		userDataLen: binary.LittleEndian.Uint16(hdr[blkOffUserDataLen:]),
	}
	switch {
	case h.payloadLen == 0:
		return h, errNoBlock
	case h.payloadLen > MaxPayload:
		return h, fmt.Errorf("payload length %d above the limit %d", h.payloadLen, MaxPayload)
	case h.userDataLen > MaxUserData:
		return h, fmt.Errorf("user-data length %d above the limit %d", h.userDataLen, MaxUserData)
	}
	return h, nil
}

// size is the bytes the block occupies on disk.
func (h blockHeader) size() uint64 { return BlockSize(int(h.payloadLen)) }

// DecodeBlock decodes the block at the start of buf, which must hold the
// whole block (header, payload and padding). It verifies the checksum and
// that reserved bytes and padding are zero. The returned slices alias buf.
// It returns the block and the bytes it occupies.
func DecodeBlock(buf []byte) (Block, uint64, error) {
	if len(buf) < BlockHeaderSize {
		return Block{}, 0, fmt.Errorf("block header: %d bytes, want %d", len(buf), BlockHeaderSize)
	}
	h, err := parseBlockHeader(buf)
	if err != nil {
		return Block{}, 0, err
	}
	if uint64(len(buf)) < h.size() {
		return Block{}, 0, fmt.Errorf("block of %d bytes, only %d available", h.size(), len(buf))
	}
	return verifyBlock(h, buf[:h.size()])
}

// verifyBlock checks a whole block whose header was parsed into h.
func verifyBlock(h blockHeader, buf []byte) (Block, uint64, error) {
	payloadEnd := BlockHeaderSize + int(h.payloadLen)
	crc := crc32.Update(0, castagnoli, buf[blkOffPayloadLen:BlockHeaderSize])
	crc = crc32.Update(crc, castagnoli, buf[BlockHeaderSize:payloadEnd])
	if crc != h.crc {
		return Block{}, 0, fmt.Errorf("block checksum %08x, want %08x", h.crc, crc)
	}
	userEnd := blkOffUserData + int(h.userDataLen)
	if !allZero(buf[blkOffUserDataLen+userDataLenSize:blkOffUserData]) || !allZero(buf[userEnd:BlockHeaderSize]) {
		return Block{}, 0, fmt.Errorf("block header: reserved bytes not zero")
	}
	if !allZero(buf[payloadEnd:]) {
		return Block{}, 0, fmt.Errorf("block padding not zero")
	}
	b := Block{Payload: buf[BlockHeaderSize:payloadEnd:payloadEnd]}
	if h.userDataLen > 0 {
		b.UserData = buf[blkOffUserData:userEnd:userEnd]
	}
	return b, h.size(), nil
}

// allZero reports whether b, at most PayloadAlign bytes, holds only
// zeros. bytes.Equal runs in assembly.
func allZero(b []byte) bool { return bytes.Equal(b, zeroPad[:len(b)]) }
