package erasure

import (
	"fmt"
	"io"
	"slices"
)

// Rebuild writes shard index of the coding that shards (indexed by shard
// index, nil for missing) belong to, byte-identical to the one Encode
// wrote, to w. It reads any d good chunks of each stripe, never the
// chunks of shards[index] itself (the shard being replaced), and reports
// the damage it met in the other shards (Report.Reconstructed counts the
// chunks written). A stripe with fewer than d good
// chunks fails it with an *UnrecoverableError; w then holds a partial
// shard that OpenFile or Verify refuses.
func Rebuild(shards []*Shard, index int, w io.Writer) (Report, error) {
	if index < 0 || index >= len(shards) {
		return Report{}, fmt.Errorf("%w: rebuild shard %d of %d", ErrBadParams, index, len(shards))
	}
	others := slices.Clone(shards)
	others[index] = nil
	r, err := NewReader(others)
	if err != nil {
		return Report{}, err
	}
	var rep Report
	for i, s := range others {
		if s == nil && i != index {
			rep.Missing = append(rep.Missing, i)
		}
	}
	h := r.coding
	h.Index = index
	if _, err := w.Write(EncodeShardHeader(h)); err != nil {
		return rep, fmt.Errorf("rebuild extent %d shard %d: %w", h.ExtentID, index, err)
	}
	for stripe := range h.Stripes {
		clear(r.state)
		if err := r.reconstruct(stripe, []int{index}, &rep); err != nil {
			return rep, fmt.Errorf("rebuild extent %d shard %d: %w", h.ExtentID, index, err)
		}
		record := r.buf.records[index]
		sealChunk(record, stripe, index)
		if _, err := w.Write(record); err != nil {
			return rep, fmt.Errorf("rebuild extent %d shard %d: %w", h.ExtentID, index, err)
		}
	}
	return rep, nil
}
