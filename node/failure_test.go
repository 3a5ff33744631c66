package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/clogs-io/clogs/extent"
	clogspb "github.com/clogs-io/clogs/proto"
)

// TestSecondaryKilledMidStream: a secondary dies while appends run. The
// appends in the way fail with replica-failed and the extent takes no
// more; sealing the two reachable replicas at the smaller commit length
// leaves them identical, with every acked block inside the sealed length.
func TestSecondaryKilledMidStream(t *testing.T) {
	const writers, maxAppends = 8, 2000
	c := startCluster(t, 3)
	c.alloc(1, 0, 1, 2)
	primary := c.client(0)

	type acked struct {
		offset, end uint64
		payload     []byte
	}
	var (
		mu       sync.Mutex
		ackedAll []acked
		failures []error
		count    atomic.Int64
		wg       sync.WaitGroup
	)
	ctx := callCtx(t)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range maxAppends {
				p := testPayload(fmt.Sprintf("w%d-%d", w, i), 1+(w*1000+i*37)%6000)
				resp, err := primary.AppendBlocks(ctx, &clogspb.AppendBlocksRequest{ExtentId: 1, Blocks: blocksOf(p)})
				mu.Lock()
				if err != nil {
					failures = append(failures, err)
				} else {
					ackedAll = append(ackedAll, acked{resp.Offsets[0], resp.Offsets[0] + extent.BlockSize(len(p)), p})
				}
				mu.Unlock()
				if err != nil {
					return
				}
				count.Add(1)
			}
		}()
	}
	waitFor(t, 10*time.Second, "20 acked appends", func() bool { return count.Load() >= 20 })
	c.nodes[2].Stop()
	wg.Wait()

	if len(failures) != writers {
		t.Fatalf("%d of %d writers saw an append fail after the secondary died", len(failures), writers)
	}
	for _, err := range failures {
		wantRemote(t, err, ErrReplicaFailed, codes.FailedPrecondition, "replica-failed")
	}
	_, err := primary.AppendBlocks(callCtx(t), &clogspb.AppendBlocksRequest{ExtentId: 1, Blocks: blocksOf([]byte("late"))})
	wantRemote(t, err, ErrReplicaFailed, codes.FailedPrecondition, "replica-failed")

	lengths := c.commitLengths(1, 0, 1)
	sealed := min(lengths[0], lengths[1])
	t.Logf("%d appends acked; commit lengths %v; sealing at %d", len(ackedAll), lengths, sealed)
	c.seal(1, sealed, 0, 1)
	for i := range 2 {
		if cl := c.commitLength(i, 1); cl.Length != sealed || !cl.Sealed {
			t.Fatalf("node %d after the seal: %v, want sealed at %d", i, cl, sealed)
		}
	}
	f0, f1 := c.readFile(0, 1), c.readFile(1, 1)
	if uint64(len(f0)) != sealed || uint64(len(f1)) != sealed || !bytes.Equal(f0[extent.ExtentHeaderSize:], f1[extent.ExtentHeaderSize:]) {
		t.Fatalf("sealed files differ: %d and %d bytes, sealed at %d", len(f0), len(f1), sealed)
	}

	read := map[uint64][]byte{}
	for _, b := range readFrom(t, c.client(1), 1, extent.ExtentHeaderSize).blocks {
		read[b.Offset] = b.Payload
	}
	for _, a := range ackedAll {
		if a.end > sealed {
			t.Fatalf("acked block at %d ends at %d, past the sealed length %d", a.offset, a.end, sealed)
		}
		if !bytes.Equal(read[a.offset], a.payload) {
			t.Fatalf("acked block at %d does not read back from the sealed secondary", a.offset)
		}
	}

	_, err = primary.AppendBlocks(callCtx(t), &clogspb.AppendBlocksRequest{ExtentId: 1, Blocks: blocksOf([]byte("after seal"))})
	wantRemote(t, err, extent.ErrSealed, codes.FailedPrecondition, "sealed")
}

// TestReplicaRefusalIsReportedAsReplicaFailed: when a secondary refuses a
// replicate call, the writer must learn that a replica failed. The
// secondary's own reason (its extent is gone, its end is elsewhere) is
// about the secondary, not about the writer's request, and must not reach
// the writer as if it were.
func TestReplicaRefusalIsReportedAsReplicaFailed(t *testing.T) {
	t.Run("secondary lost the extent", func(t *testing.T) {
		c := startCluster(t, 3)
		c.alloc(1, 0, 1, 2)
		if _, err := c.client(2).DeleteExtent(callCtx(t), &clogspb.DeleteExtentRequest{ExtentId: 1}); err != nil {
			t.Fatal(err)
		}
		_, err := c.client(0).AppendBlocks(callCtx(t), &clogspb.AppendBlocksRequest{ExtentId: 1, Blocks: blocksOf([]byte("x"))})
		re := remote(t, err)
		if !errors.Is(re, ErrReplicaFailed) || re.Code != codes.FailedPrecondition {
			t.Fatalf("append whose secondary lost the extent: got %v (code %v, reason %q), want replica-failed: "+
				"the primary has the extent, so NotFound tells the writer something false", re, re.Code, re.Reason)
		}
	})
	t.Run("secondary's end differs", func(t *testing.T) {
		c := startCluster(t, 3)
		c.alloc(1, 0, 1, 2)
		// A stray block on one secondary only: its end is now ahead of
		// the primary's.
		stray := blocksOf(testPayload("stray", 100))
		resp, err := c.client(1).ReplicateBlocks(callCtx(t), &clogspb.ReplicateBlocksRequest{ExtentId: 1, Offset: extent.ExtentHeaderSize, Blocks: stray})
		if err != nil {
			t.Fatal(err)
		}
		// A single writer appends at the extent's end, 512, which is
		// right on the primary.
		_, err = c.client(0).AppendBlocks(callCtx(t), &clogspb.AppendBlocksRequest{ExtentId: 1, Blocks: blocksOf([]byte("mine")), ExpectedOffset: ptr(uint64(extent.ExtentHeaderSize))})
		re := remote(t, err)
		if !errors.Is(re, ErrReplicaFailed) || re.Code != codes.FailedPrecondition {
			t.Fatalf("append at the primary's end, refused by a secondary whose end is %d: got %v (code %v, reason %q, end %d), want replica-failed: "+
				"an offset-mismatch tells a single writer that the extent's end is elsewhere and that its block may already be there", resp.End, re, re.Code, re.Reason, re.End)
		}
	})
}

// TestRestartAllNodes: after all three nodes restart, a sealed extent is
// served by every replica; an unsealed one refuses appends and reads as
// recovering until it is sealed at the smallest commit length, and then
// every acked block is there.
func TestRestartAllNodes(t *testing.T) {
	c := startCluster(t, 3)
	c.alloc(1, 0, 1, 2)
	c.alloc(2, 0, 1, 2)
	var offsets1, offsets2 []uint64
	var payloads1, payloads2 [][]byte
	for i := range 6 {
		p := testPayload(fmt.Sprintf("sealed-%d", i), 1+i*3000)
		offsets1 = append(offsets1, mustAppend(t, c.client(0), 1, p).Offsets[0])
		payloads1 = append(payloads1, p)
		q := testPayload(fmt.Sprintf("open-%d", i), 4096*(i%3)+7)
		offsets2 = append(offsets2, mustAppend(t, c.client(0), 2, q).Offsets[0])
		payloads2 = append(payloads2, q)
	}
	sealedLength := c.commitLength(0, 1).Length
	c.seal(1, sealedLength, 0, 1, 2)
	for i := range 3 {
		c.nodes[i].Stop()
	}
	for i := range 3 {
		c.nodes[i] = c.startNode(testConfig(c.dirs[i]))
	}

	for i := range 3 {
		res := readFrom(t, c.client(i), 1, extent.ExtentHeaderSize)
		checkBlocks(t, res.blocks, offsets1, payloads1)
		last := res.messages[len(res.messages)-1]
		if !last.Sealed || last.End != sealedLength {
			t.Fatalf("node %d: read of the sealed extent says end %d, sealed %v; want %d, sealed", i, last.End, last.Sealed, sealedLength)
		}
		_, err := c.client(i).AppendBlocks(callCtx(t), &clogspb.AppendBlocksRequest{ExtentId: 1, Blocks: blocksOf([]byte("x"))})
		wantRemote(t, err, extent.ErrSealed, codes.FailedPrecondition, "sealed")
	}

	for i := range 3 {
		_, err := c.client(i).AppendBlocks(callCtx(t), &clogspb.AppendBlocksRequest{ExtentId: 2, Blocks: blocksOf([]byte("x"))})
		wantRemote(t, err, ErrRecovering, codes.FailedPrecondition, "recovering")
		res := readStream(callCtx(t), c.client(i), &clogspb.ReadBlocksRequest{ExtentId: 2, Offset: extent.ExtentHeaderSize})
		if len(res.blocks) != 0 {
			t.Fatalf("node %d served %d blocks of a recovering extent", i, len(res.blocks))
		}
		wantRemote(t, res.err, ErrRecovering, codes.FailedPrecondition, "recovering")
	}
	lengths := c.commitLengths(2, 0, 1, 2)
	sealed2 := slicesMin(lengths)
	c.seal(2, sealed2, 0, 1, 2)
	for i := range 3 {
		checkBlocks(t, readFrom(t, c.client(i), 2, extent.ExtentHeaderSize).blocks, offsets2, payloads2)
	}
}

func slicesMin(v []uint64) uint64 {
	m := v[0]
	for _, x := range v[1:] {
		m = min(m, x)
	}
	return m
}

// TestShutdownRefusesNewWork: after a graceful shutdown of a secondary,
// appends fail as replica-failed, and the secondary kept every acked byte.
func TestShutdownRefusesNewWork(t *testing.T) {
	c := startCluster(t, 3)
	c.alloc(1, 0, 1, 2)
	resp := mustAppend(t, c.client(0), 1, testPayload("before", 100))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.nodes[2].Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	_, err := c.client(0).AppendBlocks(callCtx(t), &clogspb.AppendBlocksRequest{ExtentId: 1, Blocks: blocksOf([]byte("x"))})
	wantRemote(t, err, ErrReplicaFailed, codes.FailedPrecondition, "replica-failed")
	c.nodes[2] = c.startNode(testConfig(c.dirs[2]))
	if cl := c.commitLength(2, 1); cl.Length < resp.End {
		t.Fatalf("restarted secondary has %d bytes, the acked end was %d", cl.Length, resp.End)
	}
}

// TestReplicateTimesOutWhileOthersLand: replicate calls waiting for
// earlier offsets time out while other calls land on the same secondary.
// The waiting ones fail with DeadlineExceeded and write nothing; the
// landing ones all land. Under -race this also checks that the timeout
// path reads the replica's state under its lock.
func TestReplicateTimesOutWhileOthersLand(t *testing.T) {
	const perRound, waiters, wantTimeouts = 16, 4, 100
	c := startCluster(t, 3)
	c.alloc(1, 0, 1, 2)
	secondary := c.client(1)
	stop := make(chan struct{})
	var timeouts atomic.Int64
	waitErrs := make(chan error, waiters)
	for range waiters {
		go func() {
			for {
				select {
				case <-stop:
					waitErrs <- nil
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
				_, err := secondary.ReplicateBlocks(ctx, &clogspb.ReplicateBlocksRequest{ExtentId: 1, Offset: 1 << 40, Blocks: blocksOf([]byte("ahead"))})
				cancel()
				if !errors.Is(FromStatus(err), context.DeadlineExceeded) {
					waitErrs <- fmt.Errorf("replicate far ahead: %v, want DeadlineExceeded", err)
					return
				}
				timeouts.Add(1)
			}
		}()
	}
	// Rounds of landing calls sent at once, like a pipelining primary's:
	// each waits on the secondary for the ones before it.
	end := uint64(extent.ExtentHeaderSize)
	ctx := callCtx(t)
	for round := 0; round < 3 || timeouts.Load() < wantTimeouts; round++ {
		if round == 1000 {
			t.Fatalf("only %d replicate calls timed out", timeouts.Load())
		}
		landErrs := make(chan error, perRound)
		for i := range perRound {
			p := testPayload(fmt.Sprintf("%d-%d", round, i), 100+i*300)
			offset := end
			end += extent.BlockSize(len(p))
			go func() {
				resp, err := secondary.ReplicateBlocks(ctx, &clogspb.ReplicateBlocksRequest{ExtentId: 1, Offset: offset, Blocks: blocksOf(p)})
				if err == nil && resp.End != offset+extent.BlockSize(len(p)) {
					err = fmt.Errorf("end %d", resp.End)
				}
				if err != nil {
					err = fmt.Errorf("replicate at %d: %w", offset, err)
				}
				landErrs <- err
			}()
		}
		for range perRound {
			if err := <-landErrs; err != nil {
				t.Fatal(err)
			}
		}
	}
	close(stop)
	for range waiters {
		if err := <-waitErrs; err != nil {
			t.Fatal(err)
		}
	}
	if length := c.commitLength(1, 1).Length; length != end {
		t.Fatalf("secondary commit length %d, want %d", length, end)
	}
}
