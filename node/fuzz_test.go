package node

import (
	"errors"
	"fmt"
	"net"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/clogs-io/clogs/extent"
	clogspb "github.com/clogs-io/clogs/proto"
)

// fuzzPayload backs every fuzzed payload and user data: requests slice it
// instead of allocating up to 32 MiB per input.
var fuzzPayload = make([]byte, extent.MaxPayload+1)

// checkValidationError checks that a refused request says why in terms a
// client can act on: a bad request or a size the format does not allow,
// InvalidArgument on the wire, and the same sentinel after the round trip.
func checkValidationError(t *testing.T, err error, id uint64) {
	t.Helper()
	var sentinel error
	for _, s := range []error{ErrBadRequest, extent.ErrBlockSize, extent.ErrUserDataSize} {
		if errors.Is(err, s) {
			sentinel = s
			break
		}
	}
	if sentinel == nil {
		t.Fatalf("validation error %v wraps none of the validation sentinels", err)
	}
	back := FromStatus(ToStatus(err, id))
	var re *RemoteError
	if !errors.As(back, &re) || re.Code != codes.InvalidArgument || !errors.Is(re, sentinel) || re.ExtentID != id {
		t.Fatalf("validation error %v came back as %v", err, back)
	}
}

func FuzzValidateAppend(f *testing.F) {
	// extent ID, blocks, first payload length, payload length step,
	// user-data length, whether an expected offset is set, its value.
	f.Add(uint64(1), uint16(1), uint32(100), uint32(0), uint16(10), false, uint64(0))
	f.Add(uint64(1), uint16(3), uint32(4096), uint32(4097), uint16(496), true, uint64(512))
	f.Add(uint64(0), uint16(1), uint32(1), uint32(0), uint16(0), false, uint64(0))
	f.Add(uint64(7), uint16(0), uint32(1), uint32(0), uint16(0), false, uint64(0))
	f.Add(uint64(7), uint16(4097), uint32(1), uint32(0), uint16(0), false, uint64(0))
	f.Add(uint64(7), uint16(2), uint32(extent.MaxPayload), uint32(1), uint16(0), false, uint64(0))
	f.Add(uint64(7), uint16(1), uint32(0), uint32(0), uint16(0), false, uint64(0))
	f.Add(uint64(7), uint16(1), uint32(1), uint32(0), uint16(497), false, uint64(0))
	f.Add(uint64(7), uint16(1), uint32(1), uint32(0), uint16(0), true, uint64(513))
	f.Add(uint64(7), uint16(1), uint32(1), uint32(0), uint16(0), true, uint64(0))
	f.Add(uint64(7), uint16(2), uint32(5), uint32(1<<31), uint16(0), true, uint64(1<<40))
	f.Fuzz(func(t *testing.T, id uint64, nBlocks uint16, payloadLen, payloadStep uint32, userLen uint16, hasExpected bool, expected uint64) {
		n := int(nBlocks) % (MaxBlocksPerCall + 2)
		req := &clogspb.AppendBlocksRequest{ExtentId: id}
		for i := range n {
			plen := int((uint64(payloadLen) + uint64(i)*uint64(payloadStep)) % uint64(len(fuzzPayload)+1))
			ulen := min(int(userLen)+i%2, len(fuzzPayload))
			req.Blocks = append(req.Blocks, &clogspb.Block{Payload: fuzzPayload[:plen], UserData: fuzzPayload[:ulen]})
		}
		if hasExpected {
			req.ExpectedOffset = &expected
		}

		c, err := validateAppend(req)
		valid := appendWithinLimits(req)
		if err != nil {
			if valid == nil {
				t.Fatalf("refused a request within the limits: %v", err)
			}
			checkValidationError(t, err, id)
			return
		}
		if valid != nil {
			t.Fatalf("accepted a request beyond the limits: %v", valid)
		}
		if len(c.blocks) != n || len(c.pbBlocks) != n || c.done == nil {
			t.Fatalf("accepted request converted to %d blocks, want %d", len(c.blocks), n)
		}
		var size uint64
		for i, b := range c.blocks {
			if len(b.Payload) != len(req.Blocks[i].Payload) || len(b.UserData) != len(req.Blocks[i].UserData) {
				t.Fatalf("block %d converted with other lengths", i)
			}
			size += extent.BlockSize(len(b.Payload))
		}
		if c.size != size {
			t.Fatalf("size %d, want %d", c.size, size)
		}
		if hasExpected != (c.expected != nil) || (hasExpected && *c.expected != expected) {
			t.Fatalf("expected offset %v, want %d (set: %v)", c.expected, expected, hasExpected)
		}
	})
}

// appendWithinLimits states the limits of an append independently of
// validateAppend.
func appendWithinLimits(req *clogspb.AppendBlocksRequest) error {
	if req.ExtentId == 0 {
		return errors.New("extent ID 0")
	}
	if n := len(req.Blocks); n < 1 || n > MaxBlocksPerCall {
		return fmt.Errorf("%d blocks", n)
	}
	for i, b := range req.Blocks {
		if len(b.Payload) < 1 || len(b.Payload) > extent.MaxPayload {
			return fmt.Errorf("block %d: payload of %d bytes", i, len(b.Payload))
		}
		if len(b.UserData) > extent.MaxUserData {
			return fmt.Errorf("block %d: user data of %d bytes", i, len(b.UserData))
		}
	}
	if e := req.ExpectedOffset; e != nil && (*e < extent.ExtentHeaderSize || *e%extent.BlockHeaderSize != 0) {
		return fmt.Errorf("expected offset %d", *e)
	}
	return nil
}

func FuzzValidateAlloc(f *testing.F) {
	// extent ID, replicas, self index, three addresses; replica i has
	// address i%3.
	f.Add(uint64(1), uint8(3), uint32(0), "127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3")
	f.Add(uint64(1), uint8(3), uint32(2), "[::1]:4001", "node-b:4001", "node-c:4001")
	f.Add(uint64(0), uint8(3), uint32(0), "127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3")
	f.Add(uint64(1), uint8(2), uint32(0), "127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3")
	f.Add(uint64(1), uint8(4), uint32(0), "127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3")
	f.Add(uint64(1), uint8(3), uint32(3), "127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3")
	f.Add(uint64(1), uint8(3), uint32(1<<31), "127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3")
	f.Add(uint64(1), uint8(3), uint32(0), "127.0.0.1:1", "127.0.0.1:1", "127.0.0.1:3")
	f.Add(uint64(1), uint8(3), uint32(0), "127.0.0.1:1", "no-port", "127.0.0.1:3")
	f.Add(uint64(1), uint8(3), uint32(0), "", ":", "a:b:c")
	f.Fuzz(func(t *testing.T, id uint64, nReplicas uint8, self uint32, a0, a1, a2 string) {
		addrs := []string{a0, a1, a2}
		req := &clogspb.AllocExtentRequest{ExtentId: id, SelfIndex: self}
		for i := range int(nReplicas) % 6 {
			req.Replicas = append(req.Replicas, &clogspb.Replica{NodeId: uint64(i + 1), Addr: addrs[i%3]})
		}
		err := validateAlloc(req)
		valid := allocWithinLimits(req)
		if err != nil {
			if valid == nil {
				t.Fatalf("refused a valid allocation: %v", err)
			}
			checkValidationError(t, err, id)
			if !errors.Is(err, ErrBadRequest) {
				t.Fatalf("alloc refusal %v is not a bad request", err)
			}
			return
		}
		if valid != nil {
			t.Fatalf("accepted an invalid allocation: %v", valid)
		}
	})
}

// allocWithinLimits states what a valid AllocExtent is, independently of
// validateAlloc.
func allocWithinLimits(req *clogspb.AllocExtentRequest) error {
	if req.ExtentId == 0 {
		return errors.New("extent ID 0")
	}
	if len(req.Replicas) != ReplicationFactor {
		return fmt.Errorf("%d replicas", len(req.Replicas))
	}
	if req.SelfIndex >= ReplicationFactor {
		return fmt.Errorf("self index %d", req.SelfIndex)
	}
	seen := map[string]bool{}
	for _, r := range req.Replicas {
		if _, _, err := net.SplitHostPort(r.Addr); err != nil {
			return err
		}
		if seen[r.Addr] {
			return fmt.Errorf("address %s twice", r.Addr)
		}
		seen[r.Addr] = true
	}
	return nil
}
