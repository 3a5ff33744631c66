package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/clogs-io/clogs/extent"
	clogspb "github.com/clogs-io/clogs/proto"
)

// TestConcurrentAppendersGetContiguousOffsets: many goroutines append at
// once through group commit; every block gets its own place, the places
// tile the extent without a gap, everything reads back, and the three
// files are byte-identical past the extent header.
func TestConcurrentAppendersGetContiguousOffsets(t *testing.T) {
	const goroutines, appends = 32, 30
	c := startCluster(t, 3)
	c.alloc(1, 0, 1, 2)
	primary := c.client(0)
	sizes := []int{1, 100, 511, 4096, 4097, 9000, 20000}

	type placed struct {
		offset  uint64
		payload []byte
	}
	var (
		mu     sync.Mutex
		blocks []placed
		wg     sync.WaitGroup
		errs   = make(chan error, goroutines)
	)
	ctx := callCtx(t)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range appends {
				var payloads [][]byte
				for j := range 1 + (g+i)%3 {
					payloads = append(payloads, testPayload(fmt.Sprintf("g%d-a%d-b%d", g, i, j), sizes[(g*7+i*3+j)%len(sizes)]))
				}
				resp, err := primary.AppendBlocks(ctx, &clogspb.AppendBlocksRequest{ExtentId: 1, Blocks: blocksOf(payloads...)})
				if err != nil {
					errs <- fmt.Errorf("goroutine %d append %d: %w", g, i, err)
					return
				}
				if len(resp.Offsets) != len(payloads) {
					errs <- fmt.Errorf("goroutine %d append %d: %d offsets for %d blocks", g, i, len(resp.Offsets), len(payloads))
					return
				}
				// The blocks of one call land back to back.
				next := resp.Offsets[0]
				for j, p := range payloads {
					if resp.Offsets[j] != next {
						errs <- fmt.Errorf("goroutine %d append %d: block %d at %d, want %d", g, i, j, resp.Offsets[j], next)
						return
					}
					next += extent.BlockSize(len(p))
				}
				if resp.End < next {
					errs <- fmt.Errorf("goroutine %d append %d: acked end %d before the call's last block ends at %d", g, i, resp.End, next)
					return
				}
				mu.Lock()
				for j, p := range payloads {
					blocks = append(blocks, placed{resp.Offsets[j], p})
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	slices.SortFunc(blocks, func(a, b placed) int { return cmpUint64(a.offset, b.offset) })
	end := uint64(extent.ExtentHeaderSize)
	for i, b := range blocks {
		if b.offset != end {
			t.Fatalf("block %d of %d at %d, want %d: offsets overlap or leave a gap", i, len(blocks), b.offset, end)
		}
		end += extent.BlockSize(len(b.payload))
	}
	for i, length := range c.commitLengths(1, 0, 1, 2) {
		if length != end {
			t.Fatalf("node %d commit length %d, want %d", i, length, end)
		}
	}

	got := readFrom(t, primary, 1, extent.ExtentHeaderSize).blocks
	offsets, payloads := make([]uint64, len(blocks)), make([][]byte, len(blocks))
	for i, b := range blocks {
		offsets[i], payloads[i] = b.offset, b.payload
	}
	checkBlocks(t, got, offsets, payloads)

	files := [][]byte{c.readFile(0, 1), c.readFile(1, 1), c.readFile(2, 1)}
	for i := 1; i < 3; i++ {
		if len(files[i]) != int(end) || !bytes.Equal(files[0][extent.ExtentHeaderSize:], files[i][extent.ExtentHeaderSize:]) {
			t.Fatalf("node %d's file (%d bytes) differs from the primary's (%d bytes) past the header", i, len(files[i]), len(files[0]))
		}
		// The headers differ in the creation time (bytes 20-27) and
		// so in their checksum (508-511) only.
		if !bytes.Equal(files[0][:20], files[i][:20]) || !bytes.Equal(files[0][28:508], files[i][28:508]) {
			t.Fatalf("node %d's extent header differs from the primary's beyond the creation time", i)
		}
	}
}

func cmpUint64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// TestRequestValidation: bad requests fail with a clear code and reason,
// and none of them writes anything on any replica.
func TestRequestValidation(t *testing.T) {
	c := startCluster(t, 3)
	c.alloc(1, 0, 1, 2)
	primary, secondary := c.client(0), c.client(1)
	first := mustAppend(t, primary, 1, testPayload("first", 4096))
	mustAppend(t, primary, 1, testPayload("second", 100))
	end := c.commitLength(0, 1).Length
	one := blocksOf(testPayload("x", 10))
	offset := func(o uint64) *uint64 { return &o }

	appendReq := func(cl clogspb.ExtentServiceClient, req *clogspb.AppendBlocksRequest) func(context.Context) error {
		return func(ctx context.Context) error { _, err := cl.AppendBlocks(ctx, req); return err }
	}
	replicateReq := func(cl clogspb.ExtentServiceClient, req *clogspb.ReplicateBlocksRequest) func(context.Context) error {
		return func(ctx context.Context) error { _, err := cl.ReplicateBlocks(ctx, req); return err }
	}
	readReq := func(cl clogspb.ExtentServiceClient, req *clogspb.ReadBlocksRequest) func(context.Context) error {
		return func(ctx context.Context) error {
			res := readStream(ctx, cl, req)
			if res.err == nil && len(res.blocks) > 0 {
				return fmt.Errorf("read returned %d blocks", len(res.blocks))
			}
			return res.err
		}
	}
	allocReq := func(req *clogspb.AllocExtentRequest) func(context.Context) error {
		return func(ctx context.Context) error { _, err := primary.AllocExtent(ctx, req); return err }
	}
	set := c.replicaSet(0, 1, 2)
	withAddrs := func(addrs ...string) []*clogspb.Replica {
		var out []*clogspb.Replica
		for i, a := range addrs {
			out = append(out, &clogspb.Replica{NodeId: uint64(i + 1), Addr: a})
		}
		return out
	}

	cases := []struct {
		name     string
		call     func(context.Context) error
		timeout  time.Duration
		sentinel error
		code     codes.Code
		reason   string
		check    func(t *testing.T, re *RemoteError)
	}{
		{
			name:     "replicate behind the secondary's end",
			call:     replicateReq(secondary, &clogspb.ReplicateBlocksRequest{ExtentId: 1, Offset: first.Offsets[0], Blocks: one}),
			sentinel: extent.ErrOffsetMismatch, code: codes.Aborted, reason: "offset-mismatch",
			check: func(t *testing.T, re *RemoteError) {
				if re.End != end {
					t.Errorf("mismatch carries end %d, want %d", re.End, end)
				}
			},
		},
		{
			name:     "replicate ahead of the secondary's end waits until the deadline",
			call:     replicateReq(secondary, &clogspb.ReplicateBlocksRequest{ExtentId: 1, Offset: end + extent.BlockSize(10), Blocks: one}),
			timeout:  300 * time.Millisecond,
			sentinel: context.DeadlineExceeded, code: codes.DeadlineExceeded, reason: "",
		},
		{
			name:     "replicate sent to the primary",
			call:     replicateReq(primary, &clogspb.ReplicateBlocksRequest{ExtentId: 1, Offset: end, Blocks: one}),
			sentinel: ErrBadRequest, code: codes.InvalidArgument, reason: "bad-request",
		},
		{
			name:     "replicate of an unknown extent",
			call:     replicateReq(secondary, &clogspb.ReplicateBlocksRequest{ExtentId: 99, Offset: extent.ExtentHeaderSize, Blocks: one}),
			sentinel: ErrNotFound, code: codes.NotFound, reason: "not-found",
		},
		{
			name:     "append to an unknown extent",
			call:     appendReq(primary, &clogspb.AppendBlocksRequest{ExtentId: 99, Blocks: one}),
			sentinel: ErrNotFound, code: codes.NotFound, reason: "not-found",
		},
		{
			name:     "payload above 32 MiB",
			call:     appendReq(primary, &clogspb.AppendBlocksRequest{ExtentId: 1, Blocks: []*clogspb.Block{{Payload: make([]byte, extent.MaxPayload+1)}}}),
			sentinel: extent.ErrBlockSize, code: codes.InvalidArgument, reason: "bad-block-size",
		},
		{
			name:     "empty payload",
			call:     appendReq(primary, &clogspb.AppendBlocksRequest{ExtentId: 1, Blocks: append(blocksOf(testPayload("ok", 10)), &clogspb.Block{UserData: []byte("u")})}),
			sentinel: extent.ErrBlockSize, code: codes.InvalidArgument, reason: "bad-block-size",
		},
		{
			name:     "user data above 496 bytes",
			call:     appendReq(primary, &clogspb.AppendBlocksRequest{ExtentId: 1, Blocks: []*clogspb.Block{{Payload: []byte("p"), UserData: make([]byte, extent.MaxUserData+1)}}}),
			sentinel: extent.ErrUserDataSize, code: codes.InvalidArgument, reason: "bad-user-data-size",
		},
		{
			name:     "replicate with user data above 496 bytes",
			call:     replicateReq(secondary, &clogspb.ReplicateBlocksRequest{ExtentId: 1, Offset: end, Blocks: []*clogspb.Block{{Payload: []byte("p"), UserData: make([]byte, extent.MaxUserData+1)}}}),
			sentinel: extent.ErrUserDataSize, code: codes.InvalidArgument, reason: "bad-user-data-size",
		},
		{
			name:     "zero blocks",
			call:     appendReq(primary, &clogspb.AppendBlocksRequest{ExtentId: 1}),
			sentinel: ErrBadRequest, code: codes.InvalidArgument, reason: "bad-request",
		},
		{
			name:     "replicate of zero blocks",
			call:     replicateReq(secondary, &clogspb.ReplicateBlocksRequest{ExtentId: 1, Offset: end}),
			sentinel: ErrBadRequest, code: codes.InvalidArgument, reason: "bad-request",
		},
		{
			name:     "too many blocks",
			call:     appendReq(primary, &clogspb.AppendBlocksRequest{ExtentId: 1, Blocks: slices.Repeat(one, MaxBlocksPerCall+1)}),
			sentinel: ErrBadRequest, code: codes.InvalidArgument, reason: "bad-request",
		},
		{
			name:     "append to extent 0",
			call:     appendReq(primary, &clogspb.AppendBlocksRequest{Blocks: one}),
			sentinel: ErrBadRequest, code: codes.InvalidArgument, reason: "bad-request",
		},
		{
			name:     "read of extent 0",
			call:     readReq(primary, &clogspb.ReadBlocksRequest{Offset: extent.ExtentHeaderSize}),
			sentinel: ErrBadRequest, code: codes.InvalidArgument, reason: "bad-request",
		},
		{
			name: "commit length of extent 0",
			call: func(ctx context.Context) error {
				_, err := primary.CommitLength(ctx, &clogspb.CommitLengthRequest{})
				return err
			},
			sentinel: ErrBadRequest, code: codes.InvalidArgument, reason: "bad-request",
		},
		{
			name: "seal of extent 0",
			call: func(ctx context.Context) error {
				_, err := primary.Seal(ctx, &clogspb.SealRequest{Length: extent.ExtentHeaderSize})
				return err
			},
			sentinel: ErrBadRequest, code: codes.InvalidArgument, reason: "bad-request",
		},
		{
			name: "delete of extent 0",
			call: func(ctx context.Context) error {
				_, err := primary.DeleteExtent(ctx, &clogspb.DeleteExtentRequest{})
				return err
			},
			sentinel: ErrBadRequest, code: codes.InvalidArgument, reason: "bad-request",
		},
		{
			name:     "expected offset off a block boundary",
			call:     appendReq(primary, &clogspb.AppendBlocksRequest{ExtentId: 1, Blocks: one, ExpectedOffset: offset(end + 1)}),
			sentinel: ErrBadRequest, code: codes.InvalidArgument, reason: "bad-request",
		},
		{
			name:     "expected offset inside the extent header",
			call:     appendReq(primary, &clogspb.AppendBlocksRequest{ExtentId: 1, Blocks: one, ExpectedOffset: offset(0)}),
			sentinel: ErrBadRequest, code: codes.InvalidArgument, reason: "bad-request",
		},
		{
			name:     "read from an offset off the 512-byte grid",
			call:     readReq(primary, &clogspb.ReadBlocksRequest{ExtentId: 1, Offset: extent.ExtentHeaderSize + 1}),
			sentinel: extent.ErrBadOffset, code: codes.InvalidArgument, reason: "bad-offset",
		},
		{
			name:     "read from inside a block's payload",
			call:     readReq(primary, &clogspb.ReadBlocksRequest{ExtentId: 1, Offset: first.Offsets[0] + 2*extent.BlockHeaderSize}),
			sentinel: extent.ErrBadOffset, code: codes.InvalidArgument, reason: "bad-offset",
		},
		{
			name:     "read waiting longer than a minute",
			call:     readReq(primary, &clogspb.ReadBlocksRequest{ExtentId: 1, Offset: end, WaitMs: uint32((MaxWait + time.Second).Milliseconds())}),
			sentinel: ErrBadRequest, code: codes.InvalidArgument, reason: "bad-request",
		},
		{
			name:     "read of an unsealed extent from a secondary",
			call:     readReq(secondary, &clogspb.ReadBlocksRequest{ExtentId: 1, Offset: extent.ExtentHeaderSize}),
			sentinel: ErrNotPrimary, code: codes.FailedPrecondition, reason: "not-primary",
		},
		{
			name:     "append sent to a secondary",
			call:     appendReq(secondary, &clogspb.AppendBlocksRequest{ExtentId: 1, Blocks: one}),
			sentinel: ErrNotPrimary, code: codes.FailedPrecondition, reason: "not-primary",
		},
		{
			name: "seal beyond the commit length",
			call: func(ctx context.Context) error {
				_, err := primary.Seal(ctx, &clogspb.SealRequest{ExtentId: 1, Length: end + extent.BlockSize(1)})
				return err
			},
			sentinel: extent.ErrBadSealLength, code: codes.InvalidArgument, reason: "bad-seal-length",
		},
		{
			name: "seal inside a block on a secondary",
			call: func(ctx context.Context) error {
				_, err := secondary.Seal(ctx, &clogspb.SealRequest{ExtentId: 1, Length: first.Offsets[0] + 2*extent.BlockHeaderSize})
				return err
			},
			sentinel: extent.ErrBadSealLength, code: codes.InvalidArgument, reason: "bad-seal-length",
		},
		{
			name:     "alloc with two replicas",
			call:     allocReq(&clogspb.AllocExtentRequest{ExtentId: 7, Replicas: set[:2]}),
			sentinel: ErrBadRequest, code: codes.InvalidArgument, reason: "bad-request",
		},
		{
			name:     "alloc with a replica address twice",
			call:     allocReq(&clogspb.AllocExtentRequest{ExtentId: 7, Replicas: withAddrs(c.nodes[0].Addr(), c.nodes[1].Addr(), c.nodes[0].Addr())}),
			sentinel: ErrBadRequest, code: codes.InvalidArgument, reason: "bad-request",
		},
		{
			name:     "alloc with a bad address",
			call:     allocReq(&clogspb.AllocExtentRequest{ExtentId: 7, Replicas: withAddrs(c.nodes[0].Addr(), "no-port", c.nodes[2].Addr())}),
			sentinel: ErrBadRequest, code: codes.InvalidArgument, reason: "bad-request",
		},
		{
			name:     "alloc with an address without a port",
			call:     allocReq(&clogspb.AllocExtentRequest{ExtentId: 7, Replicas: withAddrs(c.nodes[0].Addr(), "127.0.0.1:", c.nodes[2].Addr())}),
			sentinel: ErrBadRequest, code: codes.InvalidArgument, reason: "bad-request",
		},
		{
			name:     "alloc with an address without a host",
			call:     allocReq(&clogspb.AllocExtentRequest{ExtentId: 7, Replicas: withAddrs(c.nodes[0].Addr(), ":4001", c.nodes[2].Addr())}),
			sentinel: ErrBadRequest, code: codes.InvalidArgument, reason: "bad-request",
		},
		{
			name:     "alloc with the self index out of range",
			call:     allocReq(&clogspb.AllocExtentRequest{ExtentId: 7, Replicas: set, SelfIndex: 3}),
			sentinel: ErrBadRequest, code: codes.InvalidArgument, reason: "bad-request",
		},
		{
			name:     "alloc of extent 0",
			call:     allocReq(&clogspb.AllocExtentRequest{Replicas: set}),
			sentinel: ErrBadRequest, code: codes.InvalidArgument, reason: "bad-request",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			timeout := tc.timeout
			if timeout == 0 {
				timeout = callTimeout
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			re := remote(t, tc.call(ctx))
			if !errors.Is(re, tc.sentinel) || re.Code != tc.code || (tc.reason != "" && re.Reason != tc.reason) {
				t.Fatalf("got %v (code %v, reason %q), want %v with code %v, reason %q", re, re.Code, re.Reason, tc.sentinel, tc.code, tc.reason)
			}
			if tc.check != nil {
				tc.check(t, re)
			}
			for i, length := range c.commitLengths(1, 0, 1, 2) {
				if length != end {
					t.Fatalf("node %d commit length %d after the refused call, want %d", i, length, end)
				}
			}
			for i := range 3 {
				_, err := c.client(i).CommitLength(callCtx(t), &clogspb.CommitLengthRequest{ExtentId: 7})
				wantRemote(t, err, ErrNotFound, codes.NotFound, "not-found")
			}
		})
	}

	// None of the refusals broke the extent: it still takes appends, at
	// the end they left.
	resp := mustAppend(t, primary, 1, testPayload("after", 10))
	if resp.Offsets[0] != end {
		t.Fatalf("append after the refusals landed at %d, want %d", resp.Offsets[0], end)
	}
}

// TestAllocIdempotent: AllocExtent again with the same replica set is fine
// for an empty extent; another set, or an extent with data, is refused.
func TestAllocIdempotent(t *testing.T) {
	c := startCluster(t, 3)
	c.alloc(5, 0, 1, 2)
	c.alloc(5, 0, 1, 2)

	alloc := func(node int, set []*clogspb.Replica, self uint32) error {
		_, err := c.client(node).AllocExtent(callCtx(t), &clogspb.AllocExtentRequest{ExtentId: 5, Replicas: set, SelfIndex: self})
		return err
	}
	// The same nodes in another order: node 0 would become a secondary.
	wantRemote(t, alloc(0, c.replicaSet(1, 0, 2), 1), ErrExists, codes.AlreadyExists, "exists")
	// The same set, another place in it.
	wantRemote(t, alloc(1, c.replicaSet(0, 1, 2), 2), ErrExists, codes.AlreadyExists, "exists")
	// Another node ID at the same address.
	other := c.replicaSet(0, 1, 2)
	other[2] = &clogspb.Replica{NodeId: 42, Addr: other[2].Addr}
	wantRemote(t, alloc(2, other, 2), ErrExists, codes.AlreadyExists, "exists")

	mustAppend(t, c.client(0), 5, testPayload("data", 100))
	for i := range 3 {
		wantRemote(t, alloc(i, c.replicaSet(0, 1, 2), uint32(i)), ErrExists, codes.AlreadyExists, "exists")
	}
	// The refusals changed nothing: the primary still appends.
	mustAppend(t, c.client(0), 5, testPayload("more", 100))
}

// TestExpectedOffset: an append at the expected offset lands; a retry of
// it is refused with the current end, so it happens exactly once;
// appends chained on each other's ends all land.
func TestExpectedOffset(t *testing.T) {
	c := startCluster(t, 3)
	c.alloc(1, 0, 1, 2)
	primary := c.client(0)
	req := &clogspb.AppendBlocksRequest{ExtentId: 1, Blocks: blocksOf(testPayload("once", 5000)), ExpectedOffset: ptr(uint64(extent.ExtentHeaderSize))}
	resp, err := primary.AppendBlocks(callCtx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Offsets[0] != extent.ExtentHeaderSize {
		t.Fatalf("landed at %d, want %d", resp.Offsets[0], extent.ExtentHeaderSize)
	}
	_, err = primary.AppendBlocks(callCtx(t), req)
	re := wantRemote(t, err, extent.ErrOffsetMismatch, codes.Aborted, "offset-mismatch")
	if re.End != resp.End {
		t.Fatalf("mismatch carries end %d, want %d", re.End, resp.End)
	}
	// An expected offset ahead of the end waits for the appends before
	// it; a caller that gives up first gets an error, and nothing is
	// written.
	ahead := resp.End + extent.BlockSize(1)
	shortCtx, cancel := context.WithTimeout(callCtx(t), 200*time.Millisecond)
	_, err = primary.AppendBlocks(shortCtx, &clogspb.AppendBlocksRequest{ExtentId: 1, Blocks: blocksOf([]byte("x")), ExpectedOffset: ptr(ahead)})
	cancel()
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("append ahead of the end with nothing before it: got %v, want DeadlineExceeded", err)
	}
	waitFor(t, 5*time.Second, "the abandoned append to be forgotten", func() bool { return c.heldAppends(0, 1) == 0 })
	if end := c.assignedEnd(0, 1); end != resp.End {
		t.Fatalf("after an abandoned append ahead of the end, the end is %d, want %d", end, resp.End)
	}

	offsets, payloads := []uint64{resp.Offsets[0]}, [][]byte{testPayload("once", 5000)}
	next := resp.End
	for i := range 20 {
		p := testPayload(fmt.Sprintf("chained-%d", i), 1+i*700)
		r, err := primary.AppendBlocks(callCtx(t), &clogspb.AppendBlocksRequest{ExtentId: 1, Blocks: blocksOf(p), ExpectedOffset: ptr(next)})
		if err != nil {
			t.Fatalf("chained append %d at %d: %v", i, next, err)
		}
		if r.Offsets[0] != next {
			t.Fatalf("chained append %d landed at %d, want %d", i, r.Offsets[0], next)
		}
		offsets, payloads = append(offsets, next), append(payloads, p)
		next = r.End
	}
	for i, length := range c.commitLengths(1, 0, 1, 2) {
		if length != next {
			t.Fatalf("node %d commit length %d, want %d", i, length, next)
		}
	}
	checkBlocks(t, readFrom(t, primary, 1, extent.ExtentHeaderSize).blocks, offsets, payloads)
}

func ptr[T any](v T) *T { return &v }

// TestPipelinedExpectedOffsets: one writer sends appends chained on each
// other's expected offsets without waiting for the acks; each is sent
// once the primary has taken the previous one into a batch. All land, in
// order, and all are acked.
func TestPipelinedExpectedOffsets(t *testing.T) {
	const appends = 24
	c := startCluster(t, 3)
	c.alloc(1, 0, 1, 2)
	primary := c.client(0)
	payloads := make([][]byte, appends)
	offsets := make([]uint64, appends)
	next := uint64(extent.ExtentHeaderSize)
	for i := range payloads {
		payloads[i] = testPayload(fmt.Sprintf("pipelined-%d", i), 1+(i*2531)%12000)
		offsets[i] = next
		next += extent.BlockSize(len(payloads[i]))
	}
	errs := make(chan error, appends)
	ctx := callCtx(t)
	for i := range appends {
		go func() {
			resp, err := primary.AppendBlocks(ctx, &clogspb.AppendBlocksRequest{ExtentId: 1, Blocks: blocksOf(payloads[i]), ExpectedOffset: ptr(offsets[i])})
			if err == nil && resp.Offsets[0] != offsets[i] {
				err = fmt.Errorf("landed at %d", resp.Offsets[0])
			}
			if err != nil {
				err = fmt.Errorf("append %d at %d: %w", i, offsets[i], err)
			}
			errs <- err
		}()
		end := offsets[i] + extent.BlockSize(len(payloads[i]))
		waitFor(t, 5*time.Second, fmt.Sprintf("append %d in a batch", i), func() bool {
			return c.assignedEnd(0, 1) >= end
		})
	}
	for range appends {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	checkBlocks(t, readFrom(t, primary, 1, extent.ExtentHeaderSize).blocks, offsets, payloads)
	for i, length := range c.commitLengths(1, 0, 1, 2) {
		if length != next {
			t.Fatalf("node %d commit length %d, want %d", i, length, next)
		}
	}
}

// TestDeleteAndDiskUsage: DeleteExtent removes the file once; DiskUsage
// reports the disk and how many extents it holds.
func TestDeleteAndDiskUsage(t *testing.T) {
	c := startCluster(t, 3)
	c.alloc(3, 0, 1, 2)
	c.alloc(4, 0, 1, 2)
	mustAppend(t, c.client(0), 3, testPayload("doomed", 9000))

	usage := func(i int) *clogspb.DiskUsage {
		t.Helper()
		resp, err := c.client(i).DiskUsage(callCtx(t), &clogspb.DiskUsageRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Disks) != 1 {
			t.Fatalf("node %d reports %d disks, want 1", i, len(resp.Disks))
		}
		return resp.Disks[0]
	}
	for i := range 3 {
		u := usage(i)
		if u.Path != c.dirs[i] || u.DiskId == "" || u.TotalBytes == 0 || u.FreeBytes == 0 || u.FreeBytes > u.TotalBytes || u.Extents != 2 || u.Failed {
			t.Fatalf("node %d disk usage %v, want path %s, an ID, total >= free > 0, 2 extents, not failed", i, u, c.dirs[i])
		}
	}

	for i := range 3 {
		if _, err := c.client(i).DeleteExtent(callCtx(t), &clogspb.DeleteExtentRequest{ExtentId: 3}); err != nil {
			t.Fatalf("delete on node %d: %v", i, err)
		}
		if _, err := os.Stat(c.extentPath(i, 3)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("node %d's file of extent 3 after delete: %v", i, err)
		}
		_, err := c.client(i).DeleteExtent(callCtx(t), &clogspb.DeleteExtentRequest{ExtentId: 3})
		wantRemote(t, err, ErrNotFound, codes.NotFound, "not-found")
		_, err = c.client(i).CommitLength(callCtx(t), &clogspb.CommitLengthRequest{ExtentId: 3})
		wantRemote(t, err, ErrNotFound, codes.NotFound, "not-found")
		if u := usage(i); u.Extents != 1 {
			t.Fatalf("node %d reports %d extents after the delete, want 1", i, u.Extents)
		}
	}
	_, err := c.client(0).AppendBlocks(callCtx(t), &clogspb.AppendBlocksRequest{ExtentId: 3, Blocks: blocksOf([]byte("x"))})
	wantRemote(t, err, ErrNotFound, codes.NotFound, "not-found")
	// The other extent is untouched.
	mustAppend(t, c.client(0), 4, testPayload("kept", 10))
}

// TestMetricsEndpoint: /metrics serves request counts and fdatasync
// latencies after some appends.
func TestMetricsEndpoint(t *testing.T) {
	c := startCluster(t, 3)
	c.alloc(1, 0, 1, 2)
	for i := range 3 {
		mustAppend(t, c.client(0), 1, testPayload(fmt.Sprint(i), 100))
	}
	t.Cleanup(http.DefaultClient.CloseIdleConnections)
	for i := range 3 {
		resp, err := http.Get("http://" + c.nodes[i].HTTPAddr() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("node %d /metrics: %s", i, resp.Status)
		}
		method := "/clogs.v1.ExtentService/ReplicateBlocks"
		if i == 0 {
			method = "/clogs.v1.ExtentService/AppendBlocks"
		}
		if n := metricValue(t, body, `clogs_node_requests_total{code="OK",method="`+method+`"}`); n != 3 {
			t.Errorf("node %d: %s OK requests %v, want 3\n%s", i, method, n, body)
		}
		if n := metricValue(t, body, "clogs_node_fdatasync_seconds_count"); n < 3 {
			t.Errorf("node %d: %v fdatasyncs observed, want at least 3", i, n)
		}
	}
}

// metricValue returns the value of the sample named exactly series in a
// Prometheus text exposition.
func metricValue(t *testing.T, body []byte, series string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("no sample %s in /metrics", series)
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
