package extent

import (
	"errors"
	"fmt"
)

// BlockAt is a block read back with its offset.
type BlockAt struct {
	Offset uint64
	Block
}

// Read returns the blocks from offset on, as many as fit in buf's length
// (at least one, even when it is larger; then a buffer is allocated for
// it), never past the commit length. It returns the offset after the last
// block returned; at the commit length it returns no blocks and offset
// itself. The blocks' slices alias buf, which the caller owns.
//
// offset must be a block address (one Append or Read returned) or the
// commit length; other offsets fail with ErrBadOffset. A block whose
// checksum fails is a *CorruptionError; blocks before it are returned
// first, and the next Read at its offset reports it.
func (e *Extent) Read(offset uint64, buf []byte) ([]BlockAt, uint64, error) {
	return e.ReadBefore(offset, e.durableEnd.Load(), buf)
}

// ReadBefore is Read that also stops at limit, a block boundary: the
// extent-node passes its acked end, so that readers never see blocks the
// other replicas may lack. A limit past the commit length means the commit
// length.
func (e *Extent) ReadBefore(offset, limit uint64, buf []byte) ([]BlockAt, uint64, error) {
	e.fileMu.RLock()
	defer e.fileMu.RUnlock()
	if e.closed.Load() {
		return nil, offset, ErrClosed
	}
	end := min(limit, e.durableEnd.Load())
	if offset < ExtentHeaderSize || offset%BlockHeaderSize != 0 || offset > end {
		return nil, offset, fmt.Errorf("read extent %d at %d (commit length %d): %w", e.ID(), offset, end, ErrBadOffset)
	}
	if offset == end {
		return nil, offset, nil
	}
	if err := e.checkReadOffset(offset, end); err != nil {
		return nil, offset, err
	}
	chunk := buf[:min(uint64(len(buf)), end-offset)]
	if len(chunk) < BlockHeaderSize {
		chunk = make([]byte, BlockHeaderSize)
	}
	if err := e.readAt(chunk, offset); err != nil {
		return nil, offset, err
	}
	blocks, next, err := e.decodeChunk(chunk, offset, end)
	if err == nil {
		e.boundaries.remember(next)
	}
	return blocks, next, err
}

// checkReadOffset makes sure a block starts at offset, so that bytes inside
// a payload that look like a block are never returned as one. Offsets this
// extent handed out recently are trusted; others are checked by hopping
// over headers from the nearest checkpoint.
func (e *Extent) checkReadOffset(offset, end uint64) error {
	if offset == ExtentHeaderSize || e.boundaries.known(offset) {
		return nil
	}
	ok, err := e.isBoundary(offset, end)
	var corrupt *CorruptionError
	switch {
	case errors.As(err, &corrupt):
		return corrupt
	case err != nil:
		return err
	case !ok:
		return fmt.Errorf("read extent %d at %d: %w", e.ID(), offset, ErrBadOffset)
	}
	e.boundaries.remember(offset)
	return nil
}

// decodeChunk decodes the blocks that lie wholly in chunk, which holds the
// file bytes from offset on.
func (e *Extent) decodeChunk(chunk []byte, offset, end uint64) ([]BlockAt, uint64, error) {
	var blocks []BlockAt
	pos := offset
	for pos < end && pos-offset+BlockHeaderSize <= uint64(len(chunk)) {
		rest := chunk[pos-offset:]
		h, err := parseBlockHeader(rest)
		if err == nil && h.size() > end-pos {
			err = fmt.Errorf("block of %d bytes runs past the commit length %d", h.size(), end)
		}
		if err != nil {
			if len(blocks) > 0 {
				return blocks, pos, nil // report it on the next call
			}
			return nil, offset, e.badBlock(pos, err)
		}
		if h.size() > uint64(len(rest)) {
			if len(blocks) > 0 {
				break
			}
			return e.readLargeBlock(h, pos, end)
		}
		b, size, err := verifyBlock(h, rest[:h.size()])
		if err != nil {
			if len(blocks) > 0 {
				return blocks, pos, nil
			}
			return nil, offset, e.badBlock(pos, err)
		}
		blocks = append(blocks, BlockAt{Offset: pos, Block: b})
		pos += size
	}
	return blocks, pos, nil
}

// readLargeBlock reads a single block bigger than the caller's buffer.
// Its size was checked against MaxPayload and the commit length.
func (e *Extent) readLargeBlock(h blockHeader, pos, end uint64) ([]BlockAt, uint64, error) {
	whole := make([]byte, h.size())
	if err := e.readAt(whole, pos); err != nil {
		return nil, pos, err
	}
	b, size, err := verifyBlock(h, whole)
	if err != nil {
		return nil, pos, e.badBlock(pos, err)
	}
	return []BlockAt{{Offset: pos, Block: b}}, pos + size, nil
}

// badBlock reports a damaged block at pos, a known block boundary.
func (e *Extent) badBlock(pos uint64, cause error) error {
	return &CorruptionError{ExtentID: e.ID(), Offset: pos, Err: cause}
}

func (e *Extent) readAt(p []byte, off uint64) error {
	if _, err := e.f.ReadAt(p, int64(off)); err != nil {
		return fmt.Errorf("read extent %d: %d bytes at %d: %w", e.ID(), len(p), off, err)
	}
	return nil
}
