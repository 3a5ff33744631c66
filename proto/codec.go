package clogspb

import (
	"errors"
	"fmt"
	"strings"
	"unsafe"

	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/proto" // registers the "proto" codec Codec falls back to
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// Codec is the gRPC codec of extent-node servers (grpc.ForceServerCodecV2).
// It is gRPC's "proto" codec except for the two requests that carry block
// payloads, AppendBlocksRequest and ReplicateBlocksRequest: those are
// decoded with their payloads and user data pointing into one copy of the
// received message instead of being copied out of it once more. Profiles
// of make bench-cluster showed the nodes spending a fifth of their CPU
// unmarshalling those two messages, most of it copying payloads.
//
// The decoded message is exactly what proto.Unmarshal makes of the same
// bytes (FuzzCodecMatchesProto checks it), unknown fields included.
// Messages decoded this way share memory with each other's payloads; the
// server only reads them.
type Codec struct{}

// CodecName is the name Codec reports: that of the codec it stands in for,
// so that clients see the ordinary content type.
const CodecName = "proto"

var protoCodec = encoding.GetCodecV2(CodecName)

// Name is gRPC's content-subtype of the codec.
func (Codec) Name() string { return CodecName }

// Marshal is the proto codec's.
func (Codec) Marshal(v any) (mem.BufferSlice, error) { return protoCodec.Marshal(v) }

// Unmarshal decodes v from data, aliasing payloads for the block-carrying
// requests.
func (Codec) Unmarshal(data mem.BufferSlice, v any) error {
	switch m := v.(type) {
	case *AppendBlocksRequest:
		return UnmarshalAppendBlocks(materialize(data), m)
	case *ReplicateBlocksRequest:
		return UnmarshalReplicateBlocks(materialize(data), m)
	}
	return protoCodec.Unmarshal(data, v)
}

// materialize copies data into one new slice that nothing else uses.
// Unlike data.Materialize it does not zero the memory first (zeroing
// megabytes only to overwrite them showed up in profiles): strings.Builder
// allocates without zeroing, and the bytes are handed out as a []byte
// because the builder's string is never used as a string.
func materialize(data mem.BufferSlice) []byte {
	n := data.Len()
	if n == 0 {
		return nil
	}
	var sb strings.Builder
	sb.Grow(n)
	for _, b := range data {
		sb.Write(b.ReadOnlyData())
	}
	s := sb.String()
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

var errWire = errors.New("malformed protobuf wire data")

// UnmarshalAppendBlocks is proto.Unmarshal for an AppendBlocksRequest,
// except that the blocks' payloads and user data are slices of b.
func UnmarshalAppendBlocks(b []byte, m *AppendBlocksRequest) error {
	proto.Reset(m)
	unknown, err := walkFields(b, func(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
		switch {
		case num == 1 && typ == protowire.VarintType:
			return consumeVarint(b, &m.ExtentId)
		case num == 2 && typ == protowire.BytesType:
			return consumeBlock(b, &m.Blocks)
		case num == 3 && typ == protowire.VarintType:
			var v uint64
			m.ExpectedOffset = &v
			return consumeVarint(b, &v)
		}
		return 0, nil
	})
	return finishDecode(m, unknown, err)
}

// UnmarshalReplicateBlocks is proto.Unmarshal for a
// ReplicateBlocksRequest, except that the blocks' payloads and user data
// are slices of b.
func UnmarshalReplicateBlocks(b []byte, m *ReplicateBlocksRequest) error {
	proto.Reset(m)
	unknown, err := walkFields(b, func(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
		switch {
		case num == 1 && typ == protowire.VarintType:
			return consumeVarint(b, &m.ExtentId)
		case num == 2 && typ == protowire.VarintType:
			return consumeVarint(b, &m.Offset)
		case num == 3 && typ == protowire.BytesType:
			return consumeBlock(b, &m.Blocks)
		}
		return 0, nil
	})
	return finishDecode(m, unknown, err)
}

// consumeBlock decodes a length-delimited Block at the start of b,
// appends it to blocks and returns the bytes it took.
func consumeBlock(b []byte, blocks *[]*Block) (int, error) {
	msg, n := protowire.ConsumeBytes(b)
	if n < 0 {
		return 0, protowire.ParseError(n)
	}
	blk := &Block{}
	unknown, err := walkFields(msg, func(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
		if (num != 1 && num != 2) || typ != protowire.BytesType {
			return 0, nil
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return 0, protowire.ParseError(n)
		}
		if v == nil {
			v = []byte{}
		}
		if num == 1 {
			blk.Payload = v
		} else {
			blk.UserData = v
		}
		return n, nil
	})
	if err != nil {
		return 0, err
	}
	if unknown != nil {
		blk.ProtoReflect().SetUnknown(unknown)
	}
	*blocks = append(*blocks, blk)
	return n, nil
}

// walkFields calls field for every field of the message in b, with the
// bytes after its tag; field returns how many of them the value took, or
// 0 when it does not take the field. Fields not taken are skipped and
// returned as unknown bytes, their tags re-encoded as proto.Unmarshal
// does.
func walkFields(b []byte, field func(protowire.Number, protowire.Type, []byte) (int, error)) ([]byte, error) {
	var unknown []byte
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		b = b[n:]
		n, err := field(num, typ, b)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				return nil, protowire.ParseError(n)
			}
			unknown = protowire.AppendTag(unknown, num, typ)
			unknown = append(unknown, b[:n]...)
		}
		b = b[n:]
	}
	return unknown, nil
}

// consumeVarint decodes a varint at the start of b into v.
func consumeVarint(b []byte, v *uint64) (int, error) {
	x, n := protowire.ConsumeVarint(b)
	if n < 0 {
		return 0, protowire.ParseError(n)
	}
	*v = x
	return n, nil
}

// consumeTag is protowire.ConsumeTag that also refuses field numbers
// above the largest valid one, as proto.Unmarshal does.
func consumeTag(b []byte) (protowire.Number, protowire.Type, int) {
	num, typ, n := protowire.ConsumeTag(b)
	if n >= 0 && num > protowire.MaxValidNumber {
		return 0, 0, -1
	}
	return num, typ, n
}

// finishDecode sets the unknown fields of a decoded message, or resets it
// and wraps err.
func finishDecode(m proto.Message, unknown []byte, err error) error {
	if err != nil {
		proto.Reset(m)
		return fmt.Errorf("decode %s: %w: %w", m.ProtoReflect().Descriptor().FullName(), errWire, err)
	}
	if unknown != nil {
		m.ProtoReflect().SetUnknown(unknown)
	}
	return nil
}
