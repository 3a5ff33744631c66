package erasure

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzShardHeader feeds arbitrary bytes to the header decoder and to
// OpenShard: no panic, an error that says why, and a header that decodes
// encodes back to the same bytes.
func FuzzShardHeader(f *testing.F) {
	f.Add(EncodeShardHeader(ShardHeader{ExtentID: 42, Index: 3, SealedLength: 5120, Params: Params{DataShards: 4, ParityShards: 2, ChunkSize: 512}}))
	f.Add(EncodeShardHeader(ShardHeader{ExtentID: 1, SealedLength: MaxSealedLength, Params: Params{DataShards: 16, ParityShards: 16, ChunkSize: MaxChunkSize}}))
	f.Add(make([]byte, ShardHeaderSize))
	f.Add([]byte("CLOGSSHD"))
	f.Add(encodeBytes(f, []byte("tiny extent"), 9, Params{DataShards: 2, ParityShards: 1, ChunkSize: 512})[2])
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := DecodeShardHeader(data)
		if err != nil {
			if !errors.Is(err, ErrBadHeader) {
				t.Fatalf("decode error %v is not a header error", err)
			}
		} else {
			if !bytes.Equal(EncodeShardHeader(h), data[:ShardHeaderSize]) {
				t.Fatalf("header %+v does not encode back to its bytes", h)
			}
			if h.Params.Validate() != nil || h.Index >= h.Params.Shards() || h.ShardSize() > ShardHeaderSize+(MaxSealedLength/MinChunkSize+1)*(MaxChunkSize+ChunkCRCSize) {
				t.Fatalf("decoded an out-of-range header %+v", h)
			}
		}
		// OpenShard with the real size, and with a size the header may
		// claim: it reads the header only, whatever the size says.
		for _, size := range []int64{int64(len(data)), 1 << 50} {
			s, err := OpenShard(bytes.NewReader(data), size)
			if err == nil {
				// A shard that opens serves its chunks or says why not.
				if _, err := s.ReadChunk(0, make([]byte, s.RecordSize())); err != nil && size == int64(len(data)) && !errors.Is(err, ErrCorrupt) {
					t.Fatalf("chunk 0 of an opened shard: %v", err)
				}
			}
		}
	})
}
