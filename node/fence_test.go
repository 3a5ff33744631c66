package node

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/clogs-io/clogs/extent"
	clogspb "github.com/clogs-io/clogs/proto"
)

// TestFenceNeverCutsAckedBlocks: while appenders run, fence all three
// replicas (as the stream manager does before a seal) and seal at the
// minimum length. Every append acknowledged at any time, before or after
// the fence, must end within that length: a seal never cuts acked data.
func TestFenceNeverCutsAckedBlocks(t *testing.T) {
	c := startCluster(t, 3)
	for round := range 5 {
		id := uint64(100 + round)
		c.alloc(id, 0, 1, 2)
		ackedEnds := make(chan uint64, 10000)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				appendUntilRefused(t, c.client(0), id, stop, ackedEnds)
			}()
		}
		waitForAcks(t, c.client(0), id, 5+round*3)
		sealAt := fenceAndSealMin(t, c, id)
		close(stop)
		wg.Wait()
		close(ackedEnds)
		n := 0
		for end := range ackedEnds {
			n++
			if end > sealAt {
				t.Fatalf("round %d: an append acked up to %d, but the seal is at %d", round, end, sealAt)
			}
		}
		if n == 0 {
			t.Fatalf("round %d: nothing was acked", round)
		}
	}
}

// appendUntilRefused appends small blocks until the extent refuses them,
// reporting each acked end.
func appendUntilRefused(t *testing.T, cl clogspb.ExtentServiceClient, id uint64, stop chan struct{}, acked chan<- uint64) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		resp, err := cl.AppendBlocks(context.Background(), &clogspb.AppendBlocksRequest{ExtentId: id, Blocks: []*clogspb.Block{{Payload: []byte("fenced?")}}})
		if err != nil {
			err = FromStatus(err)
			if !errors.Is(err, ErrFenced) && !errors.Is(err, extent.ErrSealed) {
				t.Errorf("append: %v", err)
			}
			return
		}
		acked <- resp.End
	}
}

func waitForAcks(t *testing.T, cl clogspb.ExtentServiceClient, id uint64, blocks int) {
	t.Helper()
	want := extent.ExtentHeaderSize + uint64(blocks)*extent.BlockSize(1)
	stream, err := cl.ReadBlocks(context.Background(), &clogspb.ReadBlocksRequest{ExtentId: id, Offset: extent.ExtentHeaderSize, MaxBytes: 1, WaitMs: 5000})
	if err != nil {
		t.Fatal(err)
	}
	for {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if resp.End >= want {
			return
		}
		stream, err = cl.ReadBlocks(context.Background(), &clogspb.ReadBlocksRequest{ExtentId: id, Offset: resp.End, WaitMs: 5000})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// fenceAndSealMin fences every replica in parallel, seals all at the
// minimum length, and returns it.
func fenceAndSealMin(t *testing.T, c *testCluster, id uint64) uint64 {
	t.Helper()
	lengths := make([]uint64, 3)
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := c.client(i).CommitLength(context.Background(), &clogspb.CommitLengthRequest{ExtentId: id, Fence: true})
			if err != nil {
				t.Error(err)
				return
			}
			lengths[i] = resp.Length
		}()
	}
	wg.Wait()
	sealAt := min(lengths[0], lengths[1], lengths[2])
	for i := range 3 {
		if _, err := c.client(i).Seal(context.Background(), &clogspb.SealRequest{ExtentId: id, Length: sealAt}); err != nil {
			t.Fatal(err)
		}
	}
	return sealAt
}
