package erasure

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"
)

// testCodings are the codings the read tests run, with small chunks so
// that extents of a few KiB span many stripes.
var testCodings = []Params{
	{DataShards: 2, ParityShards: 1, ChunkSize: 512},
	{DataShards: 3, ParityShards: 2, ChunkSize: 1024},
	{DataShards: 4, ParityShards: 2, ChunkSize: 512},
	{DataShards: 1, ParityShards: 1, ChunkSize: 512},
	{DataShards: 6, ParityShards: 3, ChunkSize: 4096},
}

// lengthsFor returns extent lengths around the edges of params' chunks
// and stripes, a tiny one, and a few random ones.
func lengthsFor(rng *rand.Rand, params Params) []int {
	chunk, stripe := params.ChunkSize, int(params.StripeSize())
	out := []int{1, 7, chunk - 1, chunk, chunk + 1, stripe - 1, stripe, stripe + 1, 3*stripe + 17, 5 * stripe}
	for range 3 {
		out = append(out, 1+rng.IntN(8*stripe))
	}
	return out
}

// TestRoundTrip: encode then read back, whole and in random pieces, byte
// for byte, for many extent lengths and codings.
func TestRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, params := range testCodings {
		for _, length := range lengthsFor(rng, params) {
			t.Run(fmt.Sprintf("%s/%d/%d", params, params.ChunkSize, length), func(t *testing.T) {
				src := randomBytes(rng, length)
				shards := openShards(t, encodeBytes(t, src, 77, params))
				got, rep, err := readAll(t, shards, uint64(length))
				if err != nil || !bytes.Equal(got, src) || rep.Degraded() {
					t.Fatalf("read all: %v, equal %v, report %+v", err, bytes.Equal(got, src), rep)
				}
				r, err := NewReader(shards)
				if err != nil {
					t.Fatal(err)
				}
				for range 20 {
					off := rng.IntN(length)
					n := rng.IntN(length - off + 1)
					p := make([]byte, n)
					if _, err := r.ReadRange(p, uint64(off)); err != nil || !bytes.Equal(p, src[off:off+n]) {
						t.Fatalf("read %d at %d: %v", n, off, err)
					}
				}
			})
		}
	}
}

// TestTinyExtent: an extent of one byte makes one stripe of padding.
func TestTinyExtent(t *testing.T) {
	params := DefaultParams()
	raw := encodeBytes(t, []byte{0x5a}, 1, params)
	if len(raw[0]) != ShardHeaderSize+DefaultChunkSize+ChunkCRCSize {
		t.Fatalf("shard of %d bytes", len(raw[0]))
	}
	shards := openShards(t, raw)
	got, _, err := ReadRange(without(shards, 0, 1), 0, 1)
	if err != nil || !bytes.Equal(got, []byte{0x5a}) {
		t.Fatalf("read = %x, %v", got, err)
	}
}

// TestMissingShards: every combination of up to p missing shards reads
// everything back.
func TestMissingShards(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, params := range testCodings {
		length := 4*int(params.StripeSize()) + 123
		src := randomBytes(rng, length)
		shards := openShards(t, encodeBytes(t, src, 5, params))
		subsets(params.Shards(), params.ParityShards, func(missing []int) {
			got, rep, err := readAll(t, without(shards, missing...), uint64(length))
			if err != nil || !bytes.Equal(got, src) {
				t.Fatalf("%s missing %v: %v (equal %v)", params, missing, err, bytes.Equal(got, src))
			}
			if !slices.Equal(rep.Missing, missing) || len(rep.Bad) != 0 {
				t.Fatalf("%s missing %v: report %+v", params, missing, rep)
			}
			lostData := slices.ContainsFunc(missing, func(i int) bool { return i < params.DataShards })
			if lostData != (rep.Reconstructed > 0) {
				t.Fatalf("%s missing %v: %d chunks reconstructed", params, missing, rep.Reconstructed)
			}
		})
	}
}

// corruptAt flips one byte of stripe's chunk record in a shard file:
// at pos inside the record (data or checksum).
func corruptAt(raw []byte, params Params, stripe uint64, pos int) {
	raw[params.ChunkOffset(stripe)+uint64(pos)] ^= 0x40
}

// TestCorruptDataChunk: a flipped byte anywhere in a data chunk's record
// is found, the read still returns the right bytes, and the report names
// the shard and stripe.
func TestCorruptDataChunk(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, params := range testCodings {
		length := 3*int(params.StripeSize()) - 5
		src := randomBytes(rng, length)
		raw := encodeBytes(t, src, 6, params)
		for shard := range params.DataShards {
			for stripe := range params.Stripes(uint64(length)) {
				for _, pos := range []int{0, rng.IntN(params.ChunkSize), params.ChunkSize - 1, params.ChunkSize + rng.IntN(ChunkCRCSize)} {
					damaged := cloneRaw(raw)
					corruptAt(damaged[shard], params, stripe, pos)
					got, rep, err := readAll(t, openShards(t, damaged), uint64(length))
					if err != nil || !bytes.Equal(got, src) {
						t.Fatalf("%s shard %d stripe %d byte %d: %v", params, shard, stripe, pos, err)
					}
					checkOneCorruption(t, rep, shard, stripe)
				}
			}
		}
	}
}

func checkOneCorruption(t *testing.T, rep Report, shard int, stripe uint64) {
	t.Helper()
	wantBad := append(slices.Clone(rep.Missing), shard)
	slices.Sort(wantBad)
	var corrupt *CorruptionError
	if len(rep.Bad) != 1 || !errors.As(rep.Bad[0].Err, &corrupt) || corrupt.Shard != shard || corrupt.Stripe != stripe ||
		rep.Bad[0].Shard != shard || rep.Bad[0].Stripe != stripe || !rep.Corrupt() || !slices.Equal(rep.BadShards(), wantBad) {
		t.Fatalf("report %+v, want one corrupt chunk: shard %d stripe %d", rep, shard, stripe)
	}
}

// TestCorruptParityChunk: parity is read only to reconstruct, so a
// corrupt parity chunk shows when a data shard is missing (the first
// parity shard is read first), and always in Verify.
func TestCorruptParityChunk(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, params := range testCodings {
		length := 2*int(params.StripeSize()) + 1
		src := randomBytes(rng, length)
		raw := encodeBytes(t, src, 8, params)
		for shard := params.DataShards; shard < params.Shards(); shard++ {
			for stripe := range params.Stripes(uint64(length)) {
				damaged := cloneRaw(raw)
				corruptAt(damaged[shard], params, stripe, rng.IntN(params.ChunkSize+ChunkCRCSize))
				shards := openShards(t, damaged)
				err := shards[shard].Verify()
				var corrupt *CorruptionError
				if !errors.As(err, &corrupt) || corrupt.Shard != shard || corrupt.Stripe != stripe || corrupt.Offset != params.ChunkOffset(stripe) {
					t.Fatalf("%s shard %d stripe %d: Verify = %v", params, shard, stripe, err)
				}
				// Missing data shard 0 and the parity shards before this
				// one, as long as that leaves p-1 lost: this chunk is read.
				if shard-params.DataShards+1 > params.ParityShards-1 {
					continue
				}
				missing := []int{0}
				for i := params.DataShards; i < shard; i++ {
					missing = append(missing, i)
				}
				got, rep, err := readAll(t, without(shards, missing...), uint64(length))
				if err != nil || !bytes.Equal(got, src) {
					t.Fatalf("%s shard %d stripe %d: %v", params, shard, stripe, err)
				}
				checkOneCorruption(t, rep, shard, stripe)
			}
		}
	}
}

// TestTooManyBad: with more than p shards bad in a stripe the read fails
// with an *UnrecoverableError and returns no bytes, whether the shards
// are missing, corrupt or both.
func TestTooManyBad(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, params := range testCodings {
		length := 3 * int(params.StripeSize())
		src := randomBytes(rng, length)
		raw := encodeBytes(t, src, 10, params)
		subsets(params.Shards(), params.ParityShards+1, func(bad []int) {
			if len(bad) != params.ParityShards+1 || bad[0] >= params.DataShards {
				return // recoverable, or no data chunk lost
			}
			for split := range len(bad) + 1 {
				if split == params.Shards() {
					continue // no shard at all: nothing says what to read (TestMismatchedShards)
				}
				damaged := cloneRaw(raw)
				for _, i := range bad[split:] {
					corruptAt(damaged[i], params, 1, 3)
				}
				shards := without(openShards(t, damaged), bad[:split]...)
				got, rep, err := readAll(t, shards, uint64(length))
				var unrec *UnrecoverableError
				if !errors.As(err, &unrec) || !errors.Is(err, ErrUnrecoverable) || got != nil {
					t.Fatalf("%s bad %v (missing %v): %v, %d bytes", params, bad, bad[:split], err, len(got))
				}
				wantStripe := uint64(1) // where the corruption is
				if split == len(bad) {
					wantStripe = 0 // all missing: the first stripe fails
				}
				if unrec.Stripe != wantStripe || unrec.Need != params.DataShards || unrec.Good != params.DataShards-1 {
					t.Fatalf("%s bad %v: %+v", params, bad, unrec)
				}
				if !slices.Equal(rep.BadShards(), bad) {
					t.Fatalf("%s bad %v: report names %v", params, bad, rep.BadShards())
				}
				// The stripe before the bad one still reads.
				if wantStripe == 1 {
					part, _, err := ReadRange(shards, 0, params.StripeSize())
					if err != nil || !bytes.Equal(part, src[:params.StripeSize()]) {
						t.Fatalf("%s bad %v: stripe 0: %v", params, bad, err)
					}
				}
			}
		})
	}
}

// TestMismatchedShards: shards of another extent, another coding or in
// the wrong place are refused, never mixed.
func TestMismatchedShards(t *testing.T) {
	params := Params{DataShards: 2, ParityShards: 1, ChunkSize: 512}
	src := bytes.Repeat([]byte("abc"), 1000)
	a := openShards(t, encodeBytes(t, src, 1, params))
	other := openShards(t, encodeBytes(t, src, 2, params))
	longer := openShards(t, encodeBytes(t, append(bytes.Clone(src), 'x'), 1, params))
	bigChunks := openShards(t, encodeBytes(t, src, 1, Params{DataShards: 2, ParityShards: 1, ChunkSize: 1024}))
	tests := []struct {
		name   string
		shards []*Shard
	}{
		{"other extent", []*Shard{a[0], other[1], a[2]}},
		{"other length", []*Shard{a[0], a[1], longer[2]}},
		{"other chunk size", []*Shard{bigChunks[0], a[1], nil}},
		{"swapped", []*Shard{a[1], a[0], a[2]}},
		{"too few slots", a[:2]},
		{"too many slots", append(slices.Clone(a), nil)},
		{"none", []*Shard{nil, nil, nil}},
		{"empty", nil},
	}
	for _, tt := range tests {
		if _, _, err := ReadRange(tt.shards, 0, 10); !errors.Is(err, ErrMismatch) {
			t.Errorf("%s: %v, want ErrMismatch", tt.name, err)
		}
		if _, err := Rebuild(append(tt.shards, nil), 0, io.Discard); err == nil {
			t.Errorf("%s: rebuild succeeded", tt.name)
		}
	}
}

func TestReadRangeBounds(t *testing.T) {
	params := Params{DataShards: 2, ParityShards: 1, ChunkSize: 512}
	shards := openShards(t, encodeBytes(t, make([]byte, 1000), 1, params))
	for _, r := range [][2]uint64{{0, 1001}, {1000, 1}, {1001, 0}, {1, ^uint64(0)}, {^uint64(0), 2}} {
		if _, _, err := ReadRange(shards, r[0], r[1]); !errors.Is(err, ErrRange) {
			t.Errorf("read %d at %d: %v, want ErrRange", r[1], r[0], err)
		}
	}
	if got, _, err := ReadRange(shards, 1000, 0); err != nil || len(got) != 0 {
		t.Errorf("empty read at the end: %v", err)
	}
}

// failingReader fails every read after the first fail reads.
type failingReader struct {
	r     io.ReaderAt
	after int64
	reads atomic.Int64
}

var errDisk = errors.New("test: disk gone")

func (f *failingReader) ReadAt(p []byte, off int64) (int, error) {
	if f.reads.Add(1) > f.after {
		return 0, errDisk
	}
	return f.r.ReadAt(p, off)
}

// TestUnreadableShard: a shard whose reads fail is read around, reported
// once, and not read again by the same Reader.
func TestUnreadableShard(t *testing.T) {
	params := Params{DataShards: 3, ParityShards: 2, ChunkSize: 512}
	src := randomBytes(rand.New(rand.NewPCG(11, 12)), 10*int(params.StripeSize()))
	raw := encodeBytes(t, src, 3, params)
	shards := openShards(t, raw)
	bad := &failingReader{r: bytes.NewReader(raw[1]), after: 1} // the header read passes
	var err error
	if shards[1], err = OpenShard(bad, int64(len(raw[1]))); err != nil {
		t.Fatal(err)
	}
	got, rep, err := readAll(t, shards, uint64(len(src)))
	if err != nil || !bytes.Equal(got, src) {
		t.Fatalf("read: %v", err)
	}
	if len(rep.Bad) != 1 || !errors.Is(rep.Bad[0].Err, errDisk) || rep.Corrupt() || rep.Bad[0].Shard != 1 {
		t.Fatalf("report %+v, want one read error on shard 1", rep)
	}
	if n := bad.reads.Load(); n != 2 {
		t.Fatalf("the failed shard was read %d times, want 2 (header, one chunk)", n)
	}
	if rep.Reconstructed != 10 {
		t.Fatalf("%d chunks reconstructed, want 10", rep.Reconstructed)
	}
}
