package erasure

import (
	"errors"
	"fmt"
	"slices"

	"github.com/klauspost/reedsolomon"
)

// Report says what a read or a rebuild found wrong with the shards. A
// read that succeeds with a non-empty report served correct bytes by
// reconstruction; the caller reports the damage so the shards get
// rebuilt.
type Report struct {
	// Missing lists the shard indexes given as nil.
	Missing []int
	// Bad lists the chunks that failed their checksum (Err matches
	// ErrCorrupt) or could not be read (any other Err; the shard is then
	// not read again in the same call).
	Bad []ChunkProblem
	// Reconstructed counts the chunks rebuilt from others.
	Reconstructed int
}

// ChunkProblem is one chunk that could not be used.
type ChunkProblem struct {
	Shard  int
	Stripe uint64
	Err    error
}

// Degraded reports whether any shard was missing or bad.
func (r Report) Degraded() bool { return len(r.Missing) > 0 || len(r.Bad) > 0 }

// BadShards returns the sorted indexes of the shards that were missing or
// had a bad chunk: the ones to rebuild.
func (r Report) BadShards() []int {
	out := slices.Clone(r.Missing)
	for _, p := range r.Bad {
		out = append(out, p.Shard)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Corrupt reports whether a chunk failed its checksum (as opposed to
// missing shards and read errors).
func (r Report) Corrupt() bool {
	for _, p := range r.Bad {
		if errors.Is(p.Err, ErrCorrupt) {
			return true
		}
	}
	return false
}

// chunkState is what a Reader knows of one shard's chunk of the current
// stripe.
type chunkState uint8

const (
	chunkUnread chunkState = iota
	chunkGood
	chunkBad
)

// Reader serves the bytes of a coded extent from its shards. It is not
// safe for concurrent use: it reuses one stripe's buffers.
type Reader struct {
	shards []*Shard // by index; nil for a missing shard
	coding ShardHeader
	coder  reedsolomon.Encoder
	buf    stripeBuffers
	state  []chunkState // of the current stripe, by shard
	failed []error      // a read error that took the shard out for this call, by shard
}

// NewReader checks that shards, indexed by shard index with nil for a
// missing one, are of one encoding and each in its place (ErrMismatch),
// and returns a Reader of them. At least one shard must be given.
func NewReader(shards []*Shard) (*Reader, error) {
	first := slices.IndexFunc(shards, func(s *Shard) bool { return s != nil })
	if first < 0 {
		return nil, fmt.Errorf("%w: no shard given", ErrMismatch)
	}
	coding := shards[first].header
	if len(shards) != coding.Params.Shards() {
		return nil, fmt.Errorf("%w: %d shard slots for extent %d coded %s", ErrMismatch, len(shards), coding.ExtentID, coding.Params)
	}
	for i, s := range shards {
		switch {
		case s == nil:
		case !s.header.sameCoding(coding):
			return nil, fmt.Errorf("%w: shard %d is of extent %d, %s, %d bytes; shard %d of extent %d, %s, %d bytes",
				ErrMismatch, i, s.header.ExtentID, s.header.Params, s.header.SealedLength,
				first, coding.ExtentID, coding.Params, coding.SealedLength)
		case s.header.Index != i:
			return nil, fmt.Errorf("%w: extent %d: shard %d given in place %d", ErrMismatch, coding.ExtentID, s.header.Index, i)
		}
	}
	coder, err := newCoder(coding.Params)
	if err != nil {
		return nil, err
	}
	n := coding.Params.Shards()
	return &Reader{shards: slices.Clone(shards), coding: coding, coder: coder, buf: newStripeBuffers(coding.Params),
		state: make([]chunkState, n), failed: make([]error, n)}, nil
}

// ExtentID returns the coded extent's ID.
func (r *Reader) ExtentID() uint64 { return r.coding.ExtentID }

// SealedLength returns the coded extent's length.
func (r *Reader) SealedLength() uint64 { return r.coding.SealedLength }

// Params returns the coding's parameters.
func (r *Reader) Params() Params { return r.coding.Params }

// ReadRange returns bytes [off, off+n) of the coded extent; see
// Reader.ReadRange.
func ReadRange(shards []*Shard, off, n uint64) ([]byte, Report, error) {
	r, err := NewReader(shards)
	if err != nil {
		return nil, Report{}, err
	}
	if err := r.checkRange(off, n); err != nil {
		return nil, Report{}, err
	}
	p := make([]byte, n)
	rep, err := r.ReadRange(p, off)
	if err != nil {
		return nil, rep, err
	}
	return p, rep, nil
}

func (r *Reader) checkRange(off, n uint64) error {
	if off > r.coding.SealedLength || n > r.coding.SealedLength-off {
		return fmt.Errorf("%w: extent %d: %d bytes at %d, the extent has %d", ErrRange, r.coding.ExtentID, n, off, r.coding.SealedLength)
	}
	return nil
}

// ReadRange fills p with the coded extent's bytes from off, which must lie
// within the sealed length. Each data chunk comes from its shard; a chunk
// that is missing, unreadable or fails its checksum is reconstructed from
// any d good chunks of its stripe, and the damage is in the Report. A
// stripe with fewer than d good chunks fails the read with an
// *UnrecoverableError: p is then not all correct, and is not to be used.
func (r *Reader) ReadRange(p []byte, off uint64) (Report, error) {
	var rep Report
	clear(r.failed) // a shard that failed a read may have come back
	for i, s := range r.shards {
		if s == nil {
			rep.Missing = append(rep.Missing, i)
		}
	}
	if err := r.checkRange(off, uint64(len(p))); err != nil {
		return rep, err
	}
	stripeSize := r.coding.Params.StripeSize()
	for len(p) > 0 {
		stripe, lo := off/stripeSize, off%stripeSize
		n := min(uint64(len(p)), stripeSize-lo)
		if err := r.readStripe(stripe, lo, p[:n], &rep); err != nil {
			return rep, err
		}
		p, off = p[n:], off+n
	}
	return rep, nil
}

// readStripe copies the stripe's data bytes [lo, lo+len(dst)) into dst.
func (r *Reader) readStripe(stripe, lo uint64, dst []byte, rep *Report) error {
	chunk := uint64(r.coding.Params.ChunkSize)
	first, last := int(lo/chunk), int((lo+uint64(len(dst))-1)/chunk)
	clear(r.state)
	var lost []int
	for i := first; i <= last; i++ {
		if !r.load(i, stripe, rep) {
			lost = append(lost, i)
		}
	}
	if len(lost) > 0 {
		if err := r.reconstruct(stripe, lost, rep); err != nil {
			return err
		}
	}
	for i := first; i <= last; i++ {
		start := uint64(i) * chunk
		from, to := max(lo, start)-start, min(lo+uint64(len(dst)), start+chunk)-start
		copy(dst[start+from-lo:], r.buf.data[i][from:to])
	}
	return nil
}

// load reads shard i's chunk of stripe into the stripe buffers and says
// whether it is good; problems go to rep.
func (r *Reader) load(i int, stripe uint64, rep *Report) bool {
	s := r.shards[i]
	if s == nil || r.failed[i] != nil {
		r.state[i] = chunkBad
		return false
	}
	_, err := s.ReadChunk(stripe, r.buf.records[i])
	if err != nil {
		r.state[i] = chunkBad
		rep.Bad = append(rep.Bad, ChunkProblem{Shard: i, Stripe: stripe, Err: err})
		if !errors.Is(err, ErrCorrupt) {
			r.failed[i] = err
		}
		return false
	}
	r.state[i] = chunkGood
	return true
}

// reconstruct rebuilds the chunks of stripe listed in want from d good
// ones, reading more chunks (data first, then parity) as needed.
func (r *Reader) reconstruct(stripe uint64, want []int, rep *Report) error {
	d := r.coding.Params.DataShards
	good := 0
	for _, st := range r.state {
		if st == chunkGood {
			good++
		}
	}
	for i := range r.state {
		if good < d && r.state[i] == chunkUnread && r.load(i, stripe, rep) {
			good++
		}
	}
	if good < d {
		return &UnrecoverableError{ExtentID: r.coding.ExtentID, Stripe: stripe, Good: good, Need: d}
	}
	views := make([][]byte, len(r.state))
	required := make([]bool, len(r.state))
	for i, st := range r.state {
		views[i] = r.buf.data[i][:0] // reconstructed in place
		if st == chunkGood {
			views[i] = r.buf.data[i]
		}
	}
	for _, i := range want {
		required[i] = true
	}
	if err := r.coder.ReconstructSome(views, required); err != nil {
		return fmt.Errorf("extent %d stripe %d: reconstruct: %w", r.coding.ExtentID, stripe, err)
	}
	for _, i := range want {
		if &views[i][0] != &r.buf.data[i][0] {
			copy(r.buf.data[i], views[i]) // the coder allocated
		}
		r.state[i] = chunkGood
	}
	rep.Reconstructed += len(want)
	return nil
}
