package extent

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/clogs-io/clogs/extent/vfs"
)

// scanChunk is how much a sequential scan reads at a time.
const scanChunk = 1 << 20

// scanner walks the blocks of an extent file from a start offset to a
// limit, reading in large chunks. It is used by recovery, Verify and Dump.
type scanner struct {
	f     vfs.File
	limit uint64 // scan no further than this (the file size)
	off   uint64 // offset of the next block

	buf    []byte
	bufOff uint64 // file offset of buf[0]
}

func newScanner(f vfs.File, start, limit uint64) *scanner {
	return &scanner{f: f, off: start, limit: limit}
}

// window returns the file bytes [off, off+n), reading them if needed. The
// caller has checked that off+n <= s.limit.
func (s *scanner) window(off, n uint64) ([]byte, error) {
	if off >= s.bufOff && off+n <= s.bufOff+uint64(len(s.buf)) {
		return s.buf[off-s.bufOff : off-s.bufOff+n], nil
	}
	want := max(n, scanChunk)
	want = min(want, s.limit-off)
	if uint64(cap(s.buf)) < want {
		s.buf = make([]byte, want)
	}
	s.buf = s.buf[:want]
	if _, err := s.f.ReadAt(s.buf, int64(off)); err != nil {
		s.buf = s.buf[:0]
		return nil, fmt.Errorf("read %d bytes at %d: %w", want, off, err)
	}
	s.bufOff = off
	return s.buf[:n], nil
}

// errIO wraps read errors so callers can tell them from invalid data.
type errIO struct{ err error }

func (e errIO) Error() string { return e.err.Error() }
func (e errIO) Unwrap() error { return e.err }

// next decodes the block at s.off and advances past it. It returns io.EOF
// exactly at the limit, errIO for read failures, and any other error for a
// block that is not valid at s.off (s.off then stays put).
func (s *scanner) next() (Block, uint64, error) {
	off := s.off
	if off == s.limit {
		return Block{}, off, io.EOF
	}
	b, size, err := s.blockAt(off)
	if err != nil {
		return Block{}, off, err
	}
	s.off += size
	return b, off, nil
}

// blockAt decodes the block at off without moving the scanner.
func (s *scanner) blockAt(off uint64) (Block, uint64, error) {
	if s.limit-off < BlockHeaderSize {
		return Block{}, 0, fmt.Errorf("%d bytes left, a block header needs %d", s.limit-off, BlockHeaderSize)
	}
	hdr, err := s.window(off, BlockHeaderSize)
	if err != nil {
		return Block{}, 0, errIO{err}
	}
	h, err := parseBlockHeader(hdr)
	if err != nil {
		return Block{}, 0, err
	}
	if h.size() > s.limit-off {
		return Block{}, 0, fmt.Errorf("block of %d bytes runs past the end (%d bytes left)", h.size(), s.limit-off)
	}
	whole, err := s.window(off, h.size())
	if err != nil {
		return Block{}, 0, errIO{err}
	}
	return verifyBlock(h, whole)
}

// validBlockAfter reports the offset of the first valid block at a
// block-aligned offset in [from, limit), if any. Recovery uses it to tell a
// torn tail (nothing valid follows) from damage inside the extent.
func (s *scanner) validBlockAfter(from uint64) (uint64, bool, error) {
	for off := alignUp(from, BlockHeaderSize); off+BlockHeaderSize <= s.limit; off += BlockHeaderSize {
		_, _, err := s.blockAt(off)
		var ioErr errIO
		if errors.As(err, &ioErr) {
			return 0, false, err
		}
		if err == nil {
			return off, true, nil
		}
	}
	return 0, false, nil
}

// zerosFrom reports whether every byte from off to the limit is zero:
// space past the last block that a zero fill (Config.ZeroAhead) or a
// preallocation left, not a torn write.
func (s *scanner) zerosFrom(off uint64) (bool, error) {
	for off < s.limit {
		n := min(uint64(len(zeros)), s.limit-off)
		b, err := s.window(off, n)
		if err != nil {
			return false, errIO{err}
		}
		if !bytes.Equal(b, zeros[:n]) {
			return false, nil
		}
		off += n
	}
	return true, nil
}

func alignUp(n, to uint64) uint64 { return (n + to - 1) / to * to }
