package extent

// checkpointSpacing is how far apart the remembered block boundaries are.
// With 16 MiB, a 2 GiB extent keeps at most 128 of them, and checking that
// an offset is a block boundary reads at most 16 MiB worth of headers.
const checkpointSpacing = 16 << 20

// boundaryIndex remembers a few known block offsets, one per
// checkpointSpacing, so that "is this offset a block boundary?" (seal
// lengths, bad read offsets) can be answered by hopping from the nearest
// checkpoint instead of from the start of the file.
type boundaryIndex struct {
	checkpoints []uint64 // ascending block offsets
}

// note records a block offset if it starts a new spacing window.
func (b *boundaryIndex) note(off uint64) {
	if n := len(b.checkpoints); n == 0 || off/checkpointSpacing > b.checkpoints[n-1]/checkpointSpacing {
		b.checkpoints = append(b.checkpoints, off)
	}
}

// from returns the nearest known boundary at or below off.
func (b *boundaryIndex) from(off uint64) uint64 {
	best := uint64(ExtentHeaderSize)
	for _, c := range b.checkpoints {
		if c > off {
			break
		}
		best = c
	}
	return best
}

// truncate forgets checkpoints at or beyond end.
func (b *boundaryIndex) truncate(end uint64) {
	for len(b.checkpoints) > 0 && b.checkpoints[len(b.checkpoints)-1] >= end {
		b.checkpoints = b.checkpoints[:len(b.checkpoints)-1]
	}
}

// isBoundary reports whether a block starts (or the durable data ends) at
// off, hopping over block headers from the nearest checkpoint. Only bytes
// below end, which are durable and immutable, are read.
func (e *Extent) isBoundary(off, end uint64) (bool, error) {
	if off < ExtentHeaderSize || off > end || off%BlockHeaderSize != 0 {
		return false, nil
	}
	e.mu.Lock()
	pos := e.boundaries.from(off)
	e.mu.Unlock()
	hdr := make([]byte, BlockHeaderSize)
	for pos < off {
		if _, err := e.f.ReadAt(hdr, int64(pos)); err != nil {
			return false, err
		}
		h, err := parseBlockHeader(hdr)
		if err != nil {
			return false, &CorruptionError{ExtentID: e.ID(), Offset: pos, Err: err}
		}
		pos += h.size()
	}
	return pos == off, nil
}
