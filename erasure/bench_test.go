package erasure

import (
	"bytes"
	"io"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/clogs-io/clogs/extent"
	"github.com/clogs-io/clogs/extent/vfs"
)

// The benchmarks code and read a 64 MiB sealed extent of 1 MiB blocks,
// all in memory, so that they measure CPU (coding, checksums, copies),
// not a disk. Run with -cpu 1 for figures per core:
//
//	go test -run '^$' -bench . -benchtime 10x -cpu 1 ./erasure/
//
// Encode reports MB/s of extent coded and the storage ratio (shard bytes
// over extent bytes). The reads report MB/s of extent bytes served:
// Plain reads the blocks with the extent engine (checking each block's
// checksum), Coded the same bytes from all shards (checking each chunk's
// checksum), CodedBlocks also decodes and checks the blocks as a reader
// of a coded extent would, and Degraded reads with p data shards missing.

const (
	benchBlocks    = 63
	benchBlockSize = 1 << 20
)

var benchExtent = sync.OnceValues(func() (*vfs.MemFS, []byte) {
	mem := vfs.NewMem()
	cfg := extent.DefaultConfig()
	cfg.FS = mem
	e, err := extent.Create("bench.extent", 7, cfg)
	if err != nil {
		panic(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	payload := randomBytes(rng, benchBlockSize)
	for range benchBlocks {
		if _, err := e.Append(extent.Block{Payload: payload}); err != nil {
			panic(err)
		}
	}
	length := e.CommitLength()
	if err := e.Seal(length); err != nil {
		panic(err)
	}
	e.Close()
	f, err := mem.OpenReadOnly("bench.extent")
	if err != nil {
		panic(err)
	}
	defer f.Close()
	raw := make([]byte, length)
	if _, err := f.ReadAt(raw, 0); err != nil {
		panic(err)
	}
	return mem, raw
})

var benchCodings = []Params{
	{DataShards: 4, ParityShards: 2, ChunkSize: DefaultChunkSize},
	{DataShards: 2, ParityShards: 1, ChunkSize: DefaultChunkSize},
	{DataShards: 3, ParityShards: 2, ChunkSize: DefaultChunkSize},
}

func BenchmarkEncode(b *testing.B) {
	_, raw := benchExtent()
	for _, params := range benchCodings {
		b.Run(params.String(), func(b *testing.B) {
			writers := make([]io.Writer, params.Shards())
			counters := make([]*countingWriter, params.Shards())
			for i := range writers {
				counters[i] = &countingWriter{}
				writers[i] = counters[i]
			}
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				if err := Encode(bytes.NewReader(raw), 7, uint64(len(raw)), params, writers); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(params.Shards())*float64(params.ShardSize(uint64(len(raw))))/float64(len(raw)), "storage-ratio")
		})
	}
}

type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

func BenchmarkReadPlain(b *testing.B) {
	mem, raw := benchExtent()
	cfg := extent.DefaultConfig()
	cfg.FS = mem
	e, err := extent.Open("bench.extent", cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	buf := make([]byte, 2*benchBlockSize)
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		for off := uint64(extent.ExtentHeaderSize); off < uint64(len(raw)); {
			_, next, err := e.Read(off, buf)
			if err != nil {
				b.Fatal(err)
			}
			off = next
		}
	}
}

func BenchmarkReadCoded(b *testing.B) {
	_, raw := benchExtent()
	for _, params := range benchCodings {
		shards := openShards(b, encodeBytes(b, raw, 7, params))
		b.Run(params.String(), func(b *testing.B) { benchRead(b, shards, len(raw), false) })
	}
}

func BenchmarkReadCodedBlocks(b *testing.B) {
	_, raw := benchExtent()
	params := benchCodings[0]
	shards := openShards(b, encodeBytes(b, raw, 7, params))
	b.Run(params.String(), func(b *testing.B) { benchRead(b, shards, len(raw), true) })
}

func BenchmarkReadDegraded(b *testing.B) {
	_, raw := benchExtent()
	for _, params := range benchCodings {
		shards := openShards(b, encodeBytes(b, raw, 7, params))
		missing := make([]int, params.ParityShards)
		for i := range missing {
			missing[i] = i
		}
		b.Run(params.String(), func(b *testing.B) { benchRead(b, without(shards, missing...), len(raw), false) })
	}
}

// benchRead reads the coded extent from start to end in pieces of 2 MiB,
// optionally decoding its blocks.
func benchRead(b *testing.B, shards []*Shard, length int, blocks bool) {
	r, err := NewReader(shards)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 2*benchBlockSize)
	b.SetBytes(int64(length))
	for b.Loop() {
		for off := 0; off < length; off += len(buf) {
			p := buf[:min(len(buf), length-off)]
			if _, err := r.ReadRange(p, uint64(off)); err != nil {
				b.Fatal(err)
			}
			if blocks {
				decodeBlocks(b, p, off)
			}
		}
	}
}

// decodeBlocks checks the blocks of p, which starts at offset off of the
// benchmark extent, whose block boundaries are known.
func decodeBlocks(b *testing.B, p []byte, off int) {
	const size = extent.BlockHeaderSize + benchBlockSize
	pos := extent.ExtentHeaderSize
	if off > pos {
		pos += (off - pos + size - 1) / size * size
	}
	for ; pos+size <= off+len(p); pos += size {
		if _, _, err := extent.DecodeBlock(p[pos-off : pos-off+size]); err != nil {
			b.Fatal(err)
		}
	}
}
