package node

import (
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/clogs-io/clogs/extent"
	clogspb "github.com/clogs-io/clogs/proto"
)

func TestPipelineStartsAnotherBatchOnlyForABatchsWorth(t *testing.T) {
	deps := &primaryDeps{maxInflight: 3, pipelineBytes: 100}
	queue := func(sizes ...uint64) []*clientAppend {
		var q []*clientAppend
		for _, s := range sizes {
			q = append(q, &clientAppend{size: s})
		}
		return q
	}
	cases := []struct {
		name     string
		inflight int
		queue    []*clientAppend
		want     bool
	}{
		{"idle pipeline starts at once", 0, queue(1), true},
		{"small queue waits for the batch in flight", 1, queue(40, 40), false},
		{"a batch's worth goes while one is in flight", 1, queue(40, 40, 20), true},
		{"never past the in-flight limit", 3, queue(1000), false},
	}
	for _, c := range cases {
		p := &pipeline{queue: c.queue, inflight: make([]*batch, c.inflight)}
		if got := p.mayStartLocked(deps); got != c.want {
			t.Errorf("%s: mayStart = %v, want %v", c.name, got, c.want)
		}
	}
}

// TestAppendsArrivingOutOfOrder: a pipelined single writer's appends,
// each expecting the end of the one before, land in offset order even
// when they reach the primary last first; a duplicate expectation and
// one that falls behind the end are refused.
func TestAppendsArrivingOutOfOrder(t *testing.T) {
	c := startCluster(t, 3)
	c.alloc(1, 0, 1, 2)
	primary := c.client(0)
	const n = 8
	payloads := make([][]byte, n)
	expected := make([]uint64, n)
	next := uint64(extent.ExtentHeaderSize)
	for i := range n {
		payloads[i] = testPayload(fmt.Sprintf("ooo-%d", i), 300+i*1000)
		expected[i] = next
		next += extent.BlockSize(len(payloads[i]))
	}
	results := make(chan error, n)
	send := func(i int) {
		resp, err := primary.AppendBlocks(callCtx(t), &clogspb.AppendBlocksRequest{ExtentId: 1, Blocks: blocksOf(payloads[i]), ExpectedOffset: ptr(expected[i])})
		if err == nil && resp.Offsets[0] != expected[i] {
			err = fmt.Errorf("append %d landed at %d, want %d", i, resp.Offsets[0], expected[i])
		}
		results <- err
	}
	// All but the first go out, last first, and are held.
	for i := n - 1; i >= 1; i-- {
		go send(i)
		waitFor(t, 5*time.Second, fmt.Sprintf("append %d to be held", i), func() bool { return c.heldAppends(0, 1) == n-i })
	}
	// A second append expecting a held offset is refused at once.
	_, err := primary.AppendBlocks(callCtx(t), &clogspb.AppendBlocksRequest{ExtentId: 1, Blocks: blocksOf([]byte("dup")), ExpectedOffset: ptr(expected[3])})
	wantRemote(t, err, extent.ErrOffsetMismatch, codes.Aborted, "offset-mismatch")
	go send(0)
	for range n {
		if err := <-results; err != nil {
			t.Fatal(err)
		}
	}
	if held := c.heldAppends(0, 1); held != 0 {
		t.Fatalf("%d appends still held", held)
	}
	got := readFrom(t, primary, 1, extent.ExtentHeaderSize)
	checkBlocks(t, got.blocks, expected, payloads)
	// Behind the end: refused with the end.
	_, err = primary.AppendBlocks(callCtx(t), &clogspb.AppendBlocksRequest{ExtentId: 1, Blocks: blocksOf([]byte("late")), ExpectedOffset: ptr(expected[2])})
	if re := wantRemote(t, err, extent.ErrOffsetMismatch, codes.Aborted, "offset-mismatch"); re.End != next {
		t.Fatalf("mismatch carries end %d, want %d", re.End, next)
	}
}

// TestHeldAppendsFailWhenTheExtentIsFenced: appends waiting for their
// turn are answered when the extent is fenced for a seal, not left
// hanging until their deadline.
func TestHeldAppendsFailWhenTheExtentIsFenced(t *testing.T) {
	c := startCluster(t, 3)
	c.alloc(1, 0, 1, 2)
	ahead := uint64(extent.ExtentHeaderSize) + extent.BlockSize(100)
	done := make(chan error, 1)
	go func() {
		_, err := c.client(0).AppendBlocks(callCtx(t), &clogspb.AppendBlocksRequest{ExtentId: 1, Blocks: blocksOf([]byte("held")), ExpectedOffset: ptr(ahead)})
		done <- err
	}()
	waitFor(t, 5*time.Second, "the append to be held", func() bool { return c.heldAppends(0, 1) == 1 })
	if _, err := c.client(0).CommitLength(callCtx(t), &clogspb.CommitLengthRequest{ExtentId: 1, Fence: true}); err != nil {
		t.Fatal(err)
	}
	wantRemote(t, <-done, ErrFenced, codes.FailedPrecondition, "sealing")
	if end := c.assignedEnd(0, 1); end != extent.ExtentHeaderSize {
		t.Fatalf("end after a refused held append is %d, want %d", end, extent.ExtentHeaderSize)
	}
}
