package logblock

// Dedup tells a reader which log blocks of one stream it has seen already.
// A writer that shares a stream gets at-least-once: after an ambiguous
// failure it appends the same block again, with the same writer ID and
// batch sequence (DESIGN.md, "Exactly-once for a single writer"). A
// writer's batch sequences grow along a stream, so the last one seen per
// writer is all a reader must remember. The zero Dedup is ready to use.
type Dedup struct {
	last map[[writerIDSize]byte]uint64
}

// Repeat reports whether a block with header h was seen already, and
// records it if not.
func (d *Dedup) Repeat(h Header) bool {
	if last, ok := d.last[h.WriterID]; ok && h.BatchSeq <= last {
		return true
	}
	if d.last == nil {
		d.last = map[[writerIDSize]byte]uint64{}
	}
	d.last[h.WriterID] = h.BatchSeq
	return false
}
