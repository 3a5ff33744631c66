package extent

import (
	"bytes"
	"errors"
	"runtime/metrics"
	"testing"

	"github.com/clogs-io/clogs/extent/vfs"
)

func encodedSeeds(f *testing.F) {
	for _, b := range goldenBlocks {
		enc, _ := EncodeBlock(b)
		f.Add(enc)
		f.Add(enc[:len(enc)-1])
		flipped := bytes.Clone(enc)
		flipped[600] ^= 1
		f.Add(flipped)
	}
	f.Add(make([]byte, BlockHeaderSize))
	f.Add([]byte{})
}

// allocatedDuring returns the bytes fn allocated.
func allocatedDuring(fn func()) uint64 {
	sample := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(sample)
	before := sample[0].Value.Uint64()
	fn()
	metrics.Read(sample)
	return sample[0].Value.Uint64() - before
}

// FuzzDecodeBlock: no panic, no allocation driven by lengths in the input,
// and whatever decodes re-encodes to the same bytes.
func FuzzDecodeBlock(f *testing.F) {
	encodedSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		var (
			b    Block
			size uint64
			err  error
		)
		if n := allocatedDuring(func() { b, size, err = DecodeBlock(data) }); n > 64<<10 {
			t.Fatalf("decoding %d bytes allocated %d bytes", len(data), n)
		}
		if err != nil {
			return
		}
		again, err := EncodeBlock(Block{Payload: b.Payload, UserData: b.UserData})
		if err != nil {
			t.Fatalf("decoded block does not re-encode: %v", err)
		}
		if !bytes.Equal(again, data[:size]) {
			t.Fatal("decode then encode changed the bytes")
		}
	})
}

// FuzzOpen puts arbitrary bytes after a valid extent header and opens the
// file: Open either fails with a typed corruption error or succeeds, and
// then every block reads back; memory stays bounded by the file size.
func FuzzOpen(f *testing.F) {
	encodedSeeds(f)
	two := append(goldenFile(&testing.T{})[ExtentHeaderSize:], 0, 0, 1)
	f.Add(two)
	f.Fuzz(func(t *testing.T, body []byte) {
		mem := vfs.NewMem()
		file, _ := mem.Create("f")
		header := encodeExtentHeader(Header{ExtentID: 5, Version: FormatVersion})
		if err := file.WritevAt([][]byte{header, body}, 0); err != nil {
			t.Fatal(err)
		}
		file.Close()
		var (
			e   *Extent
			err error
		)
		limit := uint64(4*len(body)) + 4<<20
		if n := allocatedDuring(func() { e, err = Open("f", memConfig(mem)) }); n > limit {
			t.Fatalf("open of %d bytes allocated %d", len(body), n)
		}
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("open failed with an untyped error: %v", err)
			}
			return
		}
		defer e.Close()
		readAll(t, e)
	})
}
