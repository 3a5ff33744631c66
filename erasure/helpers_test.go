package erasure

import (
	"bytes"
	"io"
	"math/rand/v2"
	"slices"
	"testing"
)

// encodeBytes codes src as extent id and returns the shard files' bytes.
func encodeBytes(t testing.TB, src []byte, id uint64, params Params) [][]byte {
	t.Helper()
	bufs := make([]*bytes.Buffer, params.Shards())
	writers := make([]io.Writer, params.Shards())
	for i := range bufs {
		bufs[i] = new(bytes.Buffer)
		writers[i] = bufs[i]
	}
	if err := Encode(bytes.NewReader(src), id, uint64(len(src)), params, writers); err != nil {
		t.Fatalf("encode %d bytes %s/%d: %v", len(src), params, params.ChunkSize, err)
	}
	raw := make([][]byte, len(bufs))
	for i, b := range bufs {
		raw[i] = b.Bytes()
		if want := params.ShardSize(uint64(len(src))); uint64(len(raw[i])) != want {
			t.Fatalf("shard %d is %d bytes, ShardSize says %d", i, len(raw[i]), want)
		}
	}
	return raw
}

// openShards opens shard files held in memory; a nil file gives a nil
// (missing) shard.
func openShards(t testing.TB, raw [][]byte) []*Shard {
	t.Helper()
	shards := make([]*Shard, len(raw))
	for i, b := range raw {
		if b == nil {
			continue
		}
		s, err := OpenShard(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatalf("open shard %d: %v", i, err)
		}
		shards[i] = s
	}
	return shards
}

// without returns shards with the given indexes set to nil.
func without(shards []*Shard, missing ...int) []*Shard {
	out := slices.Clone(shards)
	for _, i := range missing {
		out[i] = nil
	}
	return out
}

// cloneRaw deep-copies shard files, so a test can damage its copy.
func cloneRaw(raw [][]byte) [][]byte {
	out := make([][]byte, len(raw))
	for i, b := range raw {
		out[i] = bytes.Clone(b)
	}
	return out
}

func randomBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// subsets calls fn with every subset of {0..n-1} of at most k elements.
func subsets(n, k int, fn func([]int)) {
	var rec func(start int, cur []int)
	rec = func(start int, cur []int) {
		fn(cur)
		if len(cur) == k {
			return
		}
		for i := start; i < n; i++ {
			rec(i+1, append(cur, i))
		}
	}
	rec(0, nil)
}

// readAll reads the whole coded extent.
func readAll(t testing.TB, shards []*Shard, length uint64) ([]byte, Report, error) {
	t.Helper()
	return ReadRange(shards, 0, length)
}
