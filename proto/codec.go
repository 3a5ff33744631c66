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
	var unknown []byte
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return decodeError(m, protowire.ParseError(n))
		}
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return decodeError(m, protowire.ParseError(n))
			}
			m.ExtentId, b = v, b[n:]
		case num == 2 && typ == protowire.BytesType:
			blk, n, err := consumeBlock(b)
			if err != nil {
				return decodeError(m, err)
			}
			m.Blocks, b = append(m.Blocks, blk), b[n:]
		case num == 3 && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return decodeError(m, protowire.ParseError(n))
			}
			m.ExpectedOffset, b = &v, b[n:]
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return decodeError(m, protowire.ParseError(n))
			}
			unknown = protowire.AppendTag(unknown, num, typ) // re-encoded, as proto does
			unknown, b = append(unknown, b[:n]...), b[n:]
		}
	}
	if unknown != nil {
		m.ProtoReflect().SetUnknown(unknown)
	}
	return nil
}

// UnmarshalReplicateBlocks is proto.Unmarshal for a
// ReplicateBlocksRequest, except that the blocks' payloads and user data
// are slices of b.
func UnmarshalReplicateBlocks(b []byte, m *ReplicateBlocksRequest) error {
	proto.Reset(m)
	var unknown []byte
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return decodeError(m, protowire.ParseError(n))
		}
		b = b[n:]
		switch {
		case (num == 1 || num == 2) && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return decodeError(m, protowire.ParseError(n))
			}
			if num == 1 {
				m.ExtentId = v
			} else {
				m.Offset = v
			}
			b = b[n:]
		case num == 3 && typ == protowire.BytesType:
			blk, n, err := consumeBlock(b)
			if err != nil {
				return decodeError(m, err)
			}
			m.Blocks, b = append(m.Blocks, blk), b[n:]
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return decodeError(m, protowire.ParseError(n))
			}
			unknown = protowire.AppendTag(unknown, num, typ) // re-encoded, as proto does
			unknown, b = append(unknown, b[:n]...), b[n:]
		}
	}
	if unknown != nil {
		m.ProtoReflect().SetUnknown(unknown)
	}
	return nil
}

// consumeBlock decodes a length-delimited Block at the start of b and
// returns it with the bytes it took.
func consumeBlock(b []byte) (*Block, int, error) {
	msg, n := protowire.ConsumeBytes(b)
	if n < 0 {
		return nil, 0, protowire.ParseError(n)
	}
	blk := &Block{}
	var unknown []byte
	for len(msg) > 0 {
		num, typ, tn := consumeTag(msg)
		if tn < 0 {
			return nil, 0, protowire.ParseError(tn)
		}
		msg = msg[tn:]
		if (num == 1 || num == 2) && typ == protowire.BytesType {
			v, vn := protowire.ConsumeBytes(msg)
			if vn < 0 {
				return nil, 0, protowire.ParseError(vn)
			}
			if v == nil {
				v = []byte{}
			}
			if num == 1 {
				blk.Payload = v
			} else {
				blk.UserData = v
			}
			msg = msg[vn:]
			continue
		}
		vn := protowire.ConsumeFieldValue(num, typ, msg)
		if vn < 0 {
			return nil, 0, protowire.ParseError(vn)
		}
		unknown = protowire.AppendTag(unknown, num, typ)
		unknown, msg = append(unknown, msg[:vn]...), msg[vn:]
	}
	if unknown != nil {
		blk.ProtoReflect().SetUnknown(unknown)
	}
	return blk, n, nil
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

func decodeError(m proto.Message, err error) error {
	proto.Reset(m)
	return fmt.Errorf("decode %s: %w: %w", m.ProtoReflect().Descriptor().FullName(), errWire, err)
}
