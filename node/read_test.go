package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/clogs-io/clogs/extent"
	clogspb "github.com/clogs-io/clogs/proto"
)

// TestTailReadReturnsNextAckedBlock: a read at the end that waits returns
// once the next append is acked, with exactly that block.
func TestTailReadReturnsNextAckedBlock(t *testing.T) {
	c := startCluster(t, 3)
	c.alloc(1, 0, 1, 2)
	primary := c.client(0)
	end := mustAppend(t, primary, 1, testPayload("first", 100)).End

	results := make(chan readResult, 1)
	began := time.Now()
	go func() {
		results <- readStream(callCtx(t), primary, &clogspb.ReadBlocksRequest{ExtentId: 1, Offset: end, WaitMs: 5000})
	}()
	p := testPayload("next", 6000)
	resp := mustAppend(t, primary, 1, p)
	res := <-results
	if res.err != nil {
		t.Fatal(res.err)
	}
	if took := time.Since(began); took >= 5*time.Second {
		t.Fatalf("tail read took %v: it waited out its wait instead of returning on the append", took)
	}
	checkBlocks(t, res.blocks, resp.Offsets, [][]byte{p})
	last := res.messages[len(res.messages)-1]
	if last.End != resp.End || last.NextOffset != resp.End || last.Sealed {
		t.Fatalf("tail read ends with end %d, next offset %d, sealed %v; want %d, %d, unsealed", last.End, last.NextOffset, last.Sealed, resp.End, resp.End)
	}
}

// TestTailReadEndsWhenSealed: a tail read waiting at the end returns when
// the extent is sealed, saying so, without waiting out its wait.
func TestTailReadEndsWhenSealed(t *testing.T) {
	c := startCluster(t, 3)
	c.alloc(1, 0, 1, 2)
	primary := c.client(0)
	end := mustAppend(t, primary, 1, testPayload("only", 100)).End
	results := make(chan readResult, 1)
	began := time.Now()
	go func() {
		results <- readStream(callCtx(t), primary, &clogspb.ReadBlocksRequest{ExtentId: 1, Offset: end, WaitMs: 5000})
	}()
	c.seal(1, end, 0, 1, 2)
	res := <-results
	if res.err != nil {
		t.Fatal(res.err)
	}
	if took := time.Since(began); took >= 5*time.Second {
		t.Fatalf("tail read took %v after the seal", took)
	}
	if len(res.blocks) != 0 || len(res.messages) != 1 || res.messages[0].End != end || !res.messages[0].Sealed {
		t.Fatalf("tail read at the sealed end %d: %v", end, res.messages)
	}
}

// TestTailReadNeverReturnsUnackedBytes: with a secondary down, an append
// lands in the primary's file but is never acked; a tail read returns
// nothing of it.
func TestTailReadNeverReturnsUnackedBytes(t *testing.T) {
	c := startCluster(t, 3)
	c.alloc(1, 0, 1, 2)
	primary := c.client(0)
	first := testPayload("acked", 100)
	ackedEnd := mustAppend(t, primary, 1, first).End
	c.nodes[2].Stop()

	appendErr := make(chan error, 1)
	go func() {
		_, err := primary.AppendBlocks(callCtx(t), &clogspb.AppendBlocksRequest{ExtentId: 1, Blocks: blocksOf(testPayload("unacked", 5000))})
		appendErr <- err
	}()
	waitFor(t, 5*time.Second, "the unacked block in the primary's file", func() bool {
		return c.commitLength(0, 1).Length > ackedEnd
	})

	res := readStream(callCtx(t), primary, &clogspb.ReadBlocksRequest{ExtentId: 1, Offset: ackedEnd, WaitMs: 200})
	if res.err != nil {
		t.Fatal(res.err)
	}
	if len(res.blocks) != 0 || len(res.messages) != 1 || res.messages[0].End != ackedEnd || res.messages[0].NextOffset != ackedEnd {
		t.Fatalf("tail read past the acked end %d returned %d blocks in %v", ackedEnd, len(res.blocks), res.messages)
	}
	if length := c.commitLength(0, 1).Length; length <= res.messages[0].End {
		t.Fatalf("primary commit length %d, want it past the read's end %d", length, res.messages[0].End)
	}

	wantRemote(t, <-appendErr, ErrReplicaFailed, codes.FailedPrecondition, "replica-failed")
	// After the failure, too, reads stop at the acked end.
	whole := readFrom(t, primary, 1, extent.ExtentHeaderSize)
	checkBlocks(t, whole.blocks, []uint64{extent.ExtentHeaderSize}, [][]byte{first})
	if last := whole.messages[len(whole.messages)-1]; last.End != ackedEnd {
		t.Fatalf("read says end %d, want the acked end %d", last.End, ackedEnd)
	}
}

// TestReadAtEndWithoutWaitAnswersAtOnce: wait_ms 0 asks not to wait; a
// read at the end of an unsealed extent answers at once with no blocks
// and the end.
func TestReadAtEndWithoutWaitAnswersAtOnce(t *testing.T) {
	c := startCluster(t, 3)
	c.alloc(1, 0, 1, 2)
	end := mustAppend(t, c.client(0), 1, testPayload("only", 100)).End
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	res := readStream(ctx, c.client(0), &clogspb.ReadBlocksRequest{ExtentId: 1, Offset: end})
	if res.err != nil {
		t.Fatalf("read at the end %d with wait_ms 0: %v; want an answer at once with no blocks", end, res.err)
	}
	if len(res.blocks) != 0 || len(res.messages) != 1 || res.messages[0].End != end || res.messages[0].NextOffset != end {
		t.Fatalf("read at the end %d: %v", end, res.messages)
	}
}

// TestTailReadOfEmptyExtent: a reader that follows a stream onto its new,
// still empty tail extent reads at the first block offset; it is told
// that there is nothing yet, and the end, not that its offset is bad.
func TestTailReadOfEmptyExtent(t *testing.T) {
	c := startCluster(t, 3)
	c.alloc(1, 0, 1, 2)
	res := readStream(callCtx(t), c.client(0), &clogspb.ReadBlocksRequest{ExtentId: 1, Offset: extent.ExtentHeaderSize, WaitMs: 100})
	if res.err != nil {
		t.Fatalf("tail read of an empty extent at %d: %v; want no blocks and end %d", extent.ExtentHeaderSize, res.err, extent.ExtentHeaderSize)
	}
	if len(res.blocks) != 0 || len(res.messages) != 1 || res.messages[0].End != extent.ExtentHeaderSize || res.messages[0].NextOffset != extent.ExtentHeaderSize {
		t.Fatalf("tail read of an empty extent: %v, want no blocks, end and next offset %d", res.messages, extent.ExtentHeaderSize)
	}
	// The first append wakes a tail reader as on any other extent.
	results := make(chan readResult, 1)
	go func() {
		results <- readStream(callCtx(t), c.client(0), &clogspb.ReadBlocksRequest{ExtentId: 1, Offset: extent.ExtentHeaderSize, WaitMs: 5000})
	}()
	p := testPayload("first", 10)
	resp := mustAppend(t, c.client(0), 1, p)
	res = <-results
	if res.err != nil {
		t.Fatal(res.err)
	}
	checkBlocks(t, res.blocks, resp.Offsets, [][]byte{p})
}

// TestCorruptBlockOnOneReplica: a flipped byte in one replica's payload is
// reported as corrupt at the block's offset, its bytes never returned; the
// blocks around it and the other replicas still serve.
func TestCorruptBlockOnOneReplica(t *testing.T) {
	c := startCluster(t, 3)
	c.alloc(1, 0, 1, 2)
	var offsets []uint64
	var payloads [][]byte
	for i := range 5 {
		p := testPayload(fmt.Sprintf("block-%d", i), 8000)
		offsets = append(offsets, mustAppend(t, c.client(0), 1, p).Offsets[0])
		payloads = append(payloads, p)
	}
	length := c.commitLength(0, 1).Length
	c.seal(1, length, 0, 1, 2)

	c.nodes[2].Stop()
	const bad = 2
	f, err := os.OpenFile(c.extentPath(2, 1), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	pos := int64(offsets[bad] + extent.BlockHeaderSize + 1234)
	b := []byte{0}
	if _, err := f.ReadAt(b, pos); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x40
	if _, err := f.WriteAt(b, pos); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	c.nodes[2] = c.startNode(testConfig(c.dirs[2]))
	damaged := c.client(2)

	// From the start: the blocks before the damage, then DataLoss.
	res := readStream(callCtx(t), damaged, &clogspb.ReadBlocksRequest{ExtentId: 1, Offset: extent.ExtentHeaderSize})
	re := wantRemote(t, res.err, extent.ErrCorrupt, codes.DataLoss, "corrupt")
	if re.Offset != offsets[bad] || re.ExtentID != 1 {
		t.Fatalf("corruption reported in extent %d at %d, want extent 1 at %d", re.ExtentID, re.Offset, offsets[bad])
	}
	checkBlocks(t, res.blocks, offsets[:bad], payloads[:bad])

	// At the damaged block: no bytes at all.
	res = readStream(callCtx(t), damaged, &clogspb.ReadBlocksRequest{ExtentId: 1, Offset: offsets[bad]})
	if re := wantRemote(t, res.err, extent.ErrCorrupt, codes.DataLoss, "corrupt"); re.Offset != offsets[bad] {
		t.Fatalf("corruption reported at %d, want %d", re.Offset, offsets[bad])
	}
	if len(res.blocks) != 0 {
		t.Fatalf("read at the damaged block returned %d blocks", len(res.blocks))
	}

	// Past it, the damaged replica still serves.
	checkBlocks(t, readFrom(t, damaged, 1, offsets[bad+1]).blocks, offsets[bad+1:], payloads[bad+1:])
	// Another replica serves everything.
	for i := range 2 {
		checkBlocks(t, readFrom(t, c.client(i), 1, extent.ExtentHeaderSize).blocks, offsets, payloads)
	}
}

// TestDamagedExtent: an unsealed extent whose file is damaged in the
// middle does not open; the node reports the damage, with its offset, to
// every call about the extent, and DeleteExtent removes the file like any
// other.
func TestDamagedExtent(t *testing.T) {
	c := startCluster(t, 3)
	c.alloc(1, 0, 1, 2)
	var offsets []uint64
	for i := range 4 {
		offsets = append(offsets, mustAppend(t, c.client(0), 1, testPayload(fmt.Sprint(i), 5000)).Offsets[0])
	}
	c.nodes[1].Stop()
	f, err := os.OpenFile(c.extentPath(1, 1), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("damage"), int64(offsets[1]+extent.BlockHeaderSize+10)); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	c.nodes[1] = c.startNode(testConfig(c.dirs[1]))
	damaged := c.client(1)

	wantCorrupt := func(what string, err error) {
		t.Helper()
		if re := wantRemote(t, err, extent.ErrCorrupt, codes.DataLoss, "corrupt"); re.Offset != offsets[1] {
			t.Fatalf("%s: corruption reported at %d, want %d", what, re.Offset, offsets[1])
		}
	}
	_, err = damaged.CommitLength(callCtx(t), &clogspb.CommitLengthRequest{ExtentId: 1})
	wantCorrupt("commit length", err)
	res := readStream(callCtx(t), damaged, &clogspb.ReadBlocksRequest{ExtentId: 1, Offset: extent.ExtentHeaderSize})
	wantCorrupt("read", res.err)
	if len(res.blocks) != 0 {
		t.Fatalf("a damaged extent served %d blocks", len(res.blocks))
	}
	_, err = damaged.Seal(callCtx(t), &clogspb.SealRequest{ExtentId: 1, Length: offsets[1]})
	wantCorrupt("seal", err)
	_, err = damaged.AllocExtent(callCtx(t), &clogspb.AllocExtentRequest{ExtentId: 1, Replicas: c.replicaSet(0, 1, 2), SelfIndex: 1})
	wantRemote(t, err, ErrExists, codes.AlreadyExists, "exists")

	if _, err := damaged.DeleteExtent(callCtx(t), &clogspb.DeleteExtentRequest{ExtentId: 1}); err != nil {
		t.Errorf("delete of the damaged extent: %v", err)
	}
	if _, err := os.Stat(c.extentPath(1, 1)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the damaged file is still there after DeleteExtent (stat: %v): the stream manager's GC, told NotFound, "+
			"believes it gone and the bytes leak for good", err)
	}
	_, err = damaged.DeleteExtent(callCtx(t), &clogspb.DeleteExtentRequest{ExtentId: 1})
	wantRemote(t, err, ErrNotFound, codes.NotFound, "not-found")
}
