package extent

import "sync"

// checkpointSpacing is how far apart the remembered block boundaries are.
// With 4 MiB, a 2 GiB extent keeps at most 512 of them (4 KiB), and checking
// that an offset is a block boundary walks at most 4 MiB of headers.
const checkpointSpacing = 4 << 20

// recentOffsets is how many recently handed-out offsets are remembered, so
// that sequential and tailing reads skip the boundary check.
const recentOffsets = 64

// hopChunk is how much the boundary check reads at a time.
const hopChunk = 64 << 10

// boundaryIndex remembers some known block offsets: one checkpoint per
// checkpointSpacing, and a ring of offsets recently given to callers. It
// answers "is this offset a block boundary?" (seal lengths, read offsets) by
// hopping over block headers from the nearest checkpoint instead of from the
// start of the file. It has its own lock, so reads need not take the
// extent's.
type boundaryIndex struct {
	mu          sync.Mutex
	checkpoints []uint64              // ascending block offsets; guarded by mu
	recent      [recentOffsets]uint64 // guarded by mu
	next        int                   // next slot of recent; guarded by mu
}

// note records a block offset as a checkpoint if it opens a new window.
func (b *boundaryIndex) note(off uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if n := len(b.checkpoints); n == 0 || off/checkpointSpacing > b.checkpoints[n-1]/checkpointSpacing {
		b.checkpoints = append(b.checkpoints, off)
	}
}

// remember records an offset just handed out to a caller.
func (b *boundaryIndex) remember(off uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.recent[b.next] = off
	b.next = (b.next + 1) % recentOffsets
}

// known reports whether off was handed out recently.
func (b *boundaryIndex) known(off uint64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, r := range b.recent {
		if r == off {
			return true
		}
	}
	return false
}

// from returns the nearest checkpoint at or below off.
func (b *boundaryIndex) from(off uint64) uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	best := uint64(ExtentHeaderSize)
	for _, c := range b.checkpoints {
		if c > off {
			break
		}
		best = c
	}
	return best
}

// truncate forgets every offset at or beyond end.
func (b *boundaryIndex) truncate(end uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for len(b.checkpoints) > 0 && b.checkpoints[len(b.checkpoints)-1] >= end {
		b.checkpoints = b.checkpoints[:len(b.checkpoints)-1]
	}
	for i, r := range b.recent {
		if r >= end {
			b.recent[i] = 0
		}
	}
}

// isBoundary reports whether a block starts (or the data ends) at off,
// hopping over block headers from the nearest checkpoint. Only bytes below
// end, which are durable and do not change, are read.
func (e *Extent) isBoundary(off, end uint64) (bool, error) {
	if off < ExtentHeaderSize || off > end || off%BlockHeaderSize != 0 {
		return false, nil
	}
	pos := e.boundaries.from(off)
	var buf []byte
	var bufOff uint64
	for pos < off {
		if pos < bufOff || pos+BlockHeaderSize > bufOff+uint64(len(buf)) {
			bufOff, buf = pos, make([]byte, min(hopChunk, end-pos))
			if err := e.readAt(buf, pos); err != nil {
				return false, err
			}
		}
		h, err := parseBlockHeader(buf[pos-bufOff:])
		if err != nil {
			return false, &CorruptionError{ExtentID: e.ID(), Offset: pos, Err: err}
		}
		pos += h.size()
	}
	return pos == off, nil
}
