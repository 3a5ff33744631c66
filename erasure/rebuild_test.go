package erasure

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestRebuild: every shard rebuilt from the others, with up to p-1 more
// missing, is byte-identical to the one Encode wrote.
func TestRebuild(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for _, params := range testCodings {
		for _, length := range []int{1, int(params.StripeSize()), 3*int(params.StripeSize()) + 99} {
			src := randomBytes(rng, length)
			raw := encodeBytes(t, src, 21, params)
			shards := openShards(t, raw)
			for index := range params.Shards() {
				subsets(params.Shards(), params.ParityShards-1, func(missing []int) {
					if slices.Contains(missing, index) {
						return
					}
					var out bytes.Buffer
					rep, err := Rebuild(without(shards, missing...), index, &out)
					if err != nil || !bytes.Equal(out.Bytes(), raw[index]) {
						t.Fatalf("%s %d bytes: rebuild %d without %v: %v (equal %v)", params, length, index, missing, err, bytes.Equal(out.Bytes(), raw[index]))
					}
					if !slices.Equal(rep.Missing, missing) || len(rep.Bad) != 0 || uint64(rep.Reconstructed) != params.Stripes(uint64(length)) {
						t.Fatalf("%s: rebuild %d without %v: report %+v", params, index, missing, rep)
					}
				})
			}
		}
	}
}

// TestRebuildIgnoresTheOldShard: the shard being replaced is never read,
// so a corrupt one does not matter; corruption elsewhere is reported and
// read around.
func TestRebuildIgnoresTheOldShard(t *testing.T) {
	params := Params{DataShards: 4, ParityShards: 2, ChunkSize: 512}
	src := randomBytes(rand.New(rand.NewPCG(15, 16)), 5*int(params.StripeSize()))
	raw := encodeBytes(t, src, 22, params)
	damaged := cloneRaw(raw)
	for stripe := range params.Stripes(uint64(len(src))) {
		corruptAt(damaged[2], params, stripe, 100)
	}
	corruptAt(damaged[0], params, 3, 7)
	var out bytes.Buffer
	rep, err := Rebuild(openShards(t, damaged), 2, &out)
	if err != nil || !bytes.Equal(out.Bytes(), raw[2]) {
		t.Fatalf("rebuild: %v", err)
	}
	checkOneCorruption(t, rep, 0, 3)
}

// TestRebuildTooFew: with fewer than d good shards the rebuild fails with
// an *UnrecoverableError, and what it wrote is refused as a shard.
func TestRebuildTooFew(t *testing.T) {
	params := Params{DataShards: 3, ParityShards: 2, ChunkSize: 512}
	src := randomBytes(rand.New(rand.NewPCG(17, 18)), 4*int(params.StripeSize()))
	raw := encodeBytes(t, src, 23, params)
	damaged := cloneRaw(raw)
	corruptAt(damaged[4], params, 2, 0)
	var out bytes.Buffer
	_, err := Rebuild(without(openShards(t, damaged), 1), 0, &out)
	var unrec *UnrecoverableError
	if !errors.As(err, &unrec) || unrec.Stripe != 2 {
		t.Fatalf("rebuild: %v, want unrecoverable at stripe 2", err)
	}
	if _, err := OpenShard(bytes.NewReader(out.Bytes()), int64(out.Len())); !errors.Is(err, ErrTruncated) {
		t.Fatalf("the partial shard opens: %v", err)
	}
	for _, index := range []int{-1, 5} {
		if _, err := Rebuild(openShards(t, raw), index, &out); !errors.Is(err, ErrBadParams) {
			t.Errorf("rebuild %d: %v", index, err)
		}
	}
}

// TestRebuildWriteError: a failing writer fails the rebuild.
func TestRebuildWriteError(t *testing.T) {
	params := Params{DataShards: 2, ParityShards: 1, ChunkSize: 512}
	raw := encodeBytes(t, make([]byte, 5000), 24, params)
	for failAt := range 3 {
		w := &failingWriter{failAt: failAt}
		if _, err := Rebuild(openShards(t, raw), 1, w); !errors.Is(err, errWrite) {
			t.Errorf("write %d fails: rebuild = %v", failAt, err)
		}
	}
}

var errWrite = errors.New("test: write failed")

// failingWriter fails its write number failAt.
type failingWriter struct {
	failAt, writes int
}

func (w *failingWriter) Write(p []byte) (int, error) {
	w.writes++
	if w.writes-1 == w.failAt {
		return 0, errWrite
	}
	return len(p), nil
}

func ExampleRebuild() {
	params := Params{DataShards: 2, ParityShards: 1, ChunkSize: 512}
	src := bytes.Repeat([]byte("sealed extent bytes "), 100)
	var s0, s1, s2 bytes.Buffer
	if err := Encode(bytes.NewReader(src), 1, uint64(len(src)), params, []io.Writer{&s0, &s1, &s2}); err != nil {
		panic(err)
	}
	// Shard 0 is lost; rebuild it from shards 1 and 2.
	one, _ := OpenShard(bytes.NewReader(s1.Bytes()), int64(s1.Len()))
	two, _ := OpenShard(bytes.NewReader(s2.Bytes()), int64(s2.Len()))
	var rebuilt bytes.Buffer
	rep, err := Rebuild([]*Shard{nil, one, two}, 0, &rebuilt)
	fmt.Println(err, rep.Missing, bytes.Equal(rebuilt.Bytes(), s0.Bytes()))
	// Output: <nil> [] true
}
