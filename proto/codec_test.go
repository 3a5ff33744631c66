package clogspb

import (
	"bytes"
	"testing"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

func appendSeeds() [][]byte {
	off := uint64(9216)
	msgs := []proto.Message{
		&AppendBlocksRequest{},
		&AppendBlocksRequest{ExtentId: 7, Blocks: []*Block{{Payload: []byte("hello")}, {Payload: bytes.Repeat([]byte{1}, 5000), UserData: []byte("u")}}},
		&AppendBlocksRequest{ExtentId: 1 << 40, ExpectedOffset: &off, Blocks: []*Block{{}}},
		&ReplicateBlocksRequest{ExtentId: 3, Offset: 512, Blocks: []*Block{{Payload: []byte("p"), UserData: []byte{}}}},
	}
	var seeds [][]byte
	for _, m := range msgs {
		b, err := proto.Marshal(m)
		if err != nil {
			panic(err)
		}
		seeds = append(seeds, b)
	}
	// An unknown varint field, an unknown field inside a block, a
	// repeated scalar (the last one wins), a group.
	var odd []byte
	odd = protowire.AppendTag(odd, 1, protowire.VarintType)
	odd = protowire.AppendVarint(odd, 5)
	odd = protowire.AppendTag(odd, 9, protowire.VarintType)
	odd = protowire.AppendVarint(odd, 42)
	var blk []byte
	blk = protowire.AppendTag(blk, 1, protowire.BytesType)
	blk = protowire.AppendBytes(blk, []byte("x"))
	blk = protowire.AppendTag(blk, 5, protowire.Fixed32Type)
	blk = protowire.AppendFixed32(blk, 1)
	odd = protowire.AppendTag(odd, 2, protowire.BytesType)
	odd = protowire.AppendBytes(odd, blk)
	odd = protowire.AppendTag(odd, 3, protowire.BytesType)
	odd = protowire.AppendBytes(odd, blk)
	odd = protowire.AppendTag(odd, 1, protowire.VarintType)
	odd = protowire.AppendVarint(odd, 6)
	odd = protowire.AppendTag(odd, 11, protowire.StartGroupType)
	odd = protowire.AppendTag(odd, 11, protowire.EndGroupType)
	return append(seeds, odd, []byte{0x08}, []byte{0x12, 0x05, 0x0a}, []byte{0x00}, []byte{0x0c})
}

// FuzzCodecMatchesProto: for any bytes, the aliasing decoders accept
// exactly what proto.Unmarshal accepts and produce an equal message.
func FuzzCodecMatchesProto(f *testing.F) {
	for _, s := range appendSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		check := func(name string, want, got proto.Message, decode func([]byte) error) {
			wantErr := proto.Unmarshal(b, want)
			gotErr := decode(bytes.Clone(b))
			if (wantErr == nil) != (gotErr == nil) {
				t.Fatalf("%s of %x: proto.Unmarshal error %v, aliasing decoder error %v", name, b, wantErr, gotErr)
			}
			if wantErr == nil && !proto.Equal(want, got) {
				t.Fatalf("%s of %x: proto.Unmarshal made %v, the aliasing decoder %v", name, b, want, got)
			}
		}
		var a AppendBlocksRequest
		check("AppendBlocksRequest", &AppendBlocksRequest{}, &a, func(b []byte) error { return UnmarshalAppendBlocks(b, &a) })
		var r ReplicateBlocksRequest
		check("ReplicateBlocksRequest", &ReplicateBlocksRequest{}, &r, func(b []byte) error { return UnmarshalReplicateBlocks(b, &r) })
	})
}

// TestCodecAliasesPayloads: the decoded payload is the received bytes, not
// a copy; other messages go through the ordinary proto codec.
func TestCodecAliasesPayloads(t *testing.T) {
	want := &ReplicateBlocksRequest{ExtentId: 1, Offset: 512, Blocks: []*Block{{Payload: []byte("abc"), UserData: []byte("u")}}}
	wire, err := proto.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var got ReplicateBlocksRequest
	if err := UnmarshalReplicateBlocks(wire, &got); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(want, &got) {
		t.Fatalf("got %v, want %v", &got, want)
	}
	i := bytes.Index(wire, []byte("abc"))
	got.Blocks[0].Payload[0] = 'X'
	if wire[i] != 'X' {
		t.Fatal("the payload is a copy, not a slice of the received message")
	}

	var c Codec
	var resp AppendBlocksResponse
	data, err := c.Marshal(&AppendBlocksResponse{Offsets: []uint64{512, 1024}, End: 2048})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Unmarshal(data, &resp); err != nil || resp.End != 2048 || len(resp.Offsets) != 2 {
		t.Fatalf("AppendBlocksResponse through the codec: %v, %v", &resp, err)
	}
	var appendReq AppendBlocksRequest
	if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer([]byte{0x12, 0x05})}, &appendReq); err == nil {
		t.Fatal("a truncated block decoded without error")
	}
}

func TestMaterializeJoinsBuffers(t *testing.T) {
	data := mem.BufferSlice{mem.SliceBuffer([]byte("ab")), mem.SliceBuffer(nil), mem.SliceBuffer([]byte("cde"))}
	got := materialize(data)
	if string(got) != "abcde" {
		t.Fatalf("materialize = %q", got)
	}
	got[0] = 'X' // the caller owns the bytes
	if string(materialize(data)) != "abcde" {
		t.Fatal("materialize returned the buffers' own memory")
	}
	if materialize(nil) != nil {
		t.Fatal("materialize of nothing is not nil")
	}
}
