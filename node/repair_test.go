package node

import (
	"bytes"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/grpc/codes"

	"github.com/clogs-io/clogs/extent"
	clogspb "github.com/clogs-io/clogs/proto"
)

// sealedExtent is an extent written through nodes 0, 1, 2 (primary 0)
// and sealed there.
type sealedExtent struct {
	id       uint64
	offsets  []uint64
	payloads [][]byte
	length   uint64
}

// writeSealed allocates extent id on nodes 0, 1, 2, appends blocks of the
// given payload sizes and seals it at the end.
func (c *testCluster) writeSealed(id uint64, sizes ...int) sealedExtent {
	c.t.Helper()
	c.alloc(id, 0, 1, 2)
	e := sealedExtent{id: id}
	for i, size := range sizes {
		p := testPayload(fmt.Sprintf("e%d-b%d", id, i), size)
		resp := mustAppend(c.t, c.client(0), id, p)
		e.offsets = append(e.offsets, resp.Offsets[0])
		e.payloads = append(e.payloads, p)
		e.length = resp.End
	}
	c.seal(id, e.length, 0, 1, 2)
	return e
}

// repairReq asks for extent e on node target, with the replica set
// (0, 1, target) and the given source nodes.
func (c *testCluster) repairReq(e sealedExtent, target int, sources ...int) *clogspb.RepairExtentRequest {
	return &clogspb.RepairExtentRequest{
		ExtentId: e.id, SealedLength: e.length, Sources: c.replicaSet(sources...),
		Replicas: c.replicaSet(0, 1, target), SelfIndex: 2,
	}
}

// repair calls RepairExtent on node target and returns the bytes copied.
func (c *testCluster) repair(target int, req *clogspb.RepairExtentRequest) uint64 {
	c.t.Helper()
	resp, err := c.client(target).RepairExtent(callCtx(c.t), req)
	if err != nil {
		c.t.Fatalf("repair extent %d on node %d: %v", req.ExtentId, target, err)
	}
	return resp.CopiedBytes
}

// checkWhole checks that node i holds e sealed at its length, byte for
// byte like node 0 after the extent header, and serves every block.
func (c *testCluster) checkWhole(i int, e sealedExtent) {
	c.t.Helper()
	if cl := c.commitLength(i, e.id); !cl.Sealed || cl.Length != e.length {
		c.t.Fatalf("node %d: extent %d is at %d, sealed %v; want sealed at %d", i, e.id, cl.Length, cl.Sealed, e.length)
	}
	got, want := c.readFile(i, e.id), c.readFile(0, e.id)
	if uint64(len(got)) != e.length || !bytes.Equal(got[extent.ExtentHeaderSize:], want[extent.ExtentHeaderSize:]) {
		c.t.Fatalf("node %d: the file of extent %d (%d bytes) differs from node 0's (%d bytes)", i, e.id, len(got), len(want))
	}
	checkBlocks(c.t, readFrom(c.t, c.client(i), e.id, extent.ExtentHeaderSize).blocks, e.offsets, e.payloads)
}

// counterValue reads a counter.
func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}

// fastDialFailure makes a node give up dialing a stopped peer soon.
func fastDialFailure(_ int, cfg *Config) { cfg.Conn.DialTimeout = 200 * time.Millisecond }

func repairs(nd *Node, outcome string) float64 {
	return counterValue(nd.metrics.repairs.WithLabelValues(outcome))
}

// TestRepairCopiesAMissingReplica: a node without the extent copies it
// whole, block by block at the same offsets, skipping a source that is
// down, and seals it; asked again, it copies nothing.
func TestRepairCopiesAMissingReplica(t *testing.T) {
	c := startClusterWith(t, 4, fastDialFailure)
	e := c.writeSealed(1, 100, 5000, 70000, 1, 4096, 3*4096+1)
	c.nodes[1].Stop()

	req := c.repairReq(e, 3, 1, 2)
	if copied := c.repair(3, req); copied != e.length-extent.ExtentHeaderSize {
		t.Fatalf("copied %d bytes, want %d", copied, e.length-extent.ExtentHeaderSize)
	}
	c.checkWhole(3, e)
	if got := counterValue(c.nodes[3].metrics.repairBytes); got != float64(e.length-extent.ExtentHeaderSize) {
		t.Fatalf("repair bytes metric %v", got)
	}

	began := time.Now()
	if copied := c.repair(3, req); copied != 0 {
		t.Fatalf("second repair copied %d bytes", copied)
	}
	if took := time.Since(began); took > time.Second {
		t.Fatalf("a repair with nothing to do took %v", took)
	}
	if repairs(c.nodes[3], repairRepaired) != 1 || repairs(c.nodes[3], repairWhole) != 1 {
		t.Fatalf("repairs: %v repaired, %v whole", repairs(c.nodes[3], repairRepaired), repairs(c.nodes[3], repairWhole))
	}
	// Repaired, it is a sealed replica like any: no appends.
	_, err := c.client(3).AppendBlocks(callCtx(t), &clogspb.AppendBlocksRequest{ExtentId: 1, Blocks: blocksOf([]byte("x"))})
	wantRemote(t, err, extent.ErrSealed, codes.FailedPrecondition, "sealed")
}

// TestRepairContinuesAShortReplica: a replica holding a prefix keeps it
// and copies the rest; one holding more than the sealed length (an
// unacked tail) is cut there without copying.
func TestRepairContinuesAShortReplica(t *testing.T) {
	c := startCluster(t, 4)
	e := c.writeSealed(1, 3000, 9000, 100, 20000, 5)
	// Node 3 joined as a secondary and got the first two blocks only.
	set := c.replicaSet(0, 3, 2)
	if _, err := c.client(3).AllocExtent(callCtx(t), &clogspb.AllocExtentRequest{ExtentId: 1, Replicas: set, SelfIndex: 1}); err != nil {
		t.Fatal(err)
	}
	replicate := func(id uint64, k int) {
		_, err := c.client(3).ReplicateBlocks(callCtx(t), &clogspb.ReplicateBlocksRequest{ExtentId: id, Offset: e.offsets[k], Blocks: blocksOf(e.payloads[k])})
		if err != nil {
			t.Fatal(err)
		}
	}
	replicate(1, 0)
	replicate(1, 1)
	have := e.offsets[2]
	want := e.length - have
	if copied := c.repair(3, c.repairReq(e, 3, 0)); copied != want {
		t.Fatalf("copied %d bytes, want %d (the missing tail)", copied, want)
	}
	c.checkWhole(3, e)

	// Longer: every block and one more that the seal cut.
	if _, err := c.client(3).AllocExtent(callCtx(t), &clogspb.AllocExtentRequest{ExtentId: 3, Replicas: set, SelfIndex: 1}); err != nil {
		t.Fatal(err)
	}
	for k := range e.payloads {
		replicate(3, k)
	}
	_, err := c.client(3).ReplicateBlocks(callCtx(t), &clogspb.ReplicateBlocksRequest{ExtentId: 3, Offset: e.length, Blocks: blocksOf([]byte("unacked"))})
	if err != nil {
		t.Fatal(err)
	}
	long := e
	long.id = 3
	c.writeSealedCopy(long, e)
	if copied := c.repair(3, c.repairReq(long, 3, 0)); copied != 0 {
		t.Fatalf("copied %d bytes into a replica longer than the sealed length", copied)
	}
	c.checkWhole(3, long)
}

// writeSealedCopy writes extent like.id on nodes 0, 1, 2 with the blocks
// of e, sealed at the same length.
func (c *testCluster) writeSealedCopy(like, e sealedExtent) {
	c.t.Helper()
	c.alloc(like.id, 0, 1, 2)
	for k, p := range e.payloads {
		if got := mustAppend(c.t, c.client(0), like.id, p).Offsets[0]; got != e.offsets[k] {
			c.t.Fatalf("copy landed at %d, want %d", got, e.offsets[k])
		}
	}
	c.seal(like.id, like.length, 0, 1, 2)
}

// TestRepairSourceFailures: a source that serves a corrupt block is left
// for the next one, keeping what it sent; when no source can serve, the
// error says why: unreachable, corrupt, or not sealed at the length.
func TestRepairSourceFailures(t *testing.T) {
	c := startClusterWith(t, 4, fastDialFailure)
	e := c.writeSealed(1, 5000, 5000, 5000, 5000)
	flipByte(t, c.extentPath(1, 1), e.offsets[2]+extent.BlockHeaderSize+7)

	c.nodes[2].Stop()
	dead := &clogspb.Replica{NodeId: 3, Addr: c.nodes[2].Addr()}

	req := c.repairReq(e, 3)
	req.Sources = []*clogspb.Replica{dead}
	_, err := c.client(3).RepairExtent(callCtx(t), req)
	wantRemote(t, err, ErrSourceUnreachable, codes.Unavailable, "source-unreachable")

	req.Sources = append([]*clogspb.Replica{dead}, c.replicaSet(1)...)
	_, err = c.client(3).RepairExtent(callCtx(t), req)
	wantRemote(t, err, ErrSourceCorrupt, codes.DataLoss, "source-corrupt")
	if got := c.localReplica(3, 1).ext.CommitLength(); got != e.offsets[2] {
		t.Fatalf("after the corrupt source, the replica holds %d bytes, want the %d before the bad block", got, e.offsets[2])
	}
	if cl := c.commitLength(3, 1); cl.Sealed {
		t.Fatal("a replica that could not be copied whole was sealed")
	}

	req.Sources = append(req.Sources, c.replicaSet(0)...)
	if copied := c.repair(3, req); copied != e.length-e.offsets[2] {
		t.Fatalf("copied %d bytes, want %d", copied, e.length-e.offsets[2])
	}
	c.checkWhole(3, e)

	// A source that is not sealed at the length.
	c.alloc(2, 0, 1, 3)
	mustAppend(t, c.client(0), 2, testPayload("open", 100))
	open := sealedExtent{id: 2, length: c.commitLength(0, 2).Length}
	req = &clogspb.RepairExtentRequest{ExtentId: 2, SealedLength: open.length, Sources: c.replicaSet(0),
		Replicas: c.replicaSet(0, 1, 3), SelfIndex: 2, Replace: true}
	_, err = c.client(3).RepairExtent(callCtx(t), req)
	wantRemote(t, err, ErrSourceMismatch, codes.FailedPrecondition, "source-mismatch")
}

// flipByte flips one bit of the byte at off in the file at path.
func flipByte(t *testing.T, path string, off uint64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := []byte{0}
	if _, err := f.ReadAt(b, int64(off)); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x10
	if _, err := f.WriteAt(b, int64(off)); err != nil {
		t.Fatal(err)
	}
}

// TestRepairReplacesADamagedReplica: with replace set, a replica with a
// bad block is copied again whole; a replica that verifies whole is kept.
// A replica the node knows is damaged is replaced even without the flag.
func TestRepairReplacesADamagedReplica(t *testing.T) {
	c := startCluster(t, 3)
	e := c.writeSealed(1, 8000, 8000, 8000)
	flipByte(t, c.extentPath(2, 1), e.offsets[1]+extent.BlockHeaderSize+100)

	req := c.repairReq(e, 2, 0)
	req.Replace = true
	if copied := c.repair(2, req); copied != e.length-extent.ExtentHeaderSize {
		t.Fatalf("replace copied %d bytes, want the whole extent", copied)
	}
	c.checkWhole(2, e)
	if copied := c.repair(2, req); copied != 0 {
		t.Fatalf("replace of a replica that verifies whole copied %d bytes", copied)
	}

	// Damage found by a read: the node knows, and repairs without the flag.
	flipByte(t, c.extentPath(2, 1), e.offsets[2]+extent.BlockHeaderSize+5)
	res := readStream(callCtx(t), c.client(2), &clogspb.ReadBlocksRequest{ExtentId: 1, Offset: extent.ExtentHeaderSize})
	wantRemote(t, res.err, extent.ErrCorrupt, codes.DataLoss, "corrupt")
	if d := c.localReplica(2, 1).damaged(); d == nil || d.Offset != e.offsets[2] {
		t.Fatalf("damage after a bad read: %v", d)
	}
	if _, err := os.Stat(c.extentPath(2, 1) + damagedSuffix); err != nil {
		t.Fatalf("no damage marker: %v", err)
	}
	req.Replace = false
	if copied := c.repair(2, req); copied != e.length-extent.ExtentHeaderSize {
		t.Fatalf("repair of a replica known damaged copied %d bytes", copied)
	}
	c.checkWhole(2, e)
	if _, err := os.Stat(c.extentPath(2, 1) + damagedSuffix); !os.IsNotExist(err) {
		t.Fatalf("the damage marker outlived the replica (stat: %v)", err)
	}
}

// TestRepairReplacesAFileThatFailsToOpen: a sealed extent file cut
// short does not open; a repair removes it and copies the extent whole.
func TestRepairReplacesAFileThatFailsToOpen(t *testing.T) {
	c := startCluster(t, 3)
	e := c.writeSealed(1, 20000, 20000)
	c.nodes[2].Stop()
	if err := os.Truncate(c.extentPath(2, 1), int64(e.offsets[1])); err != nil {
		t.Fatal(err)
	}
	c.nodes[2] = c.startNode(testConfig(c.dirs[2]))
	if r := c.report(2, 1); r == nil || !r.Damaged {
		t.Fatalf("a file that fails to open is reported %v", r)
	}
	if copied := c.repair(2, c.repairReq(e, 2, 0)); copied != e.length-extent.ExtentHeaderSize {
		t.Fatalf("copied %d bytes", copied)
	}
	c.checkWhole(2, e)
}

// TestRepairInterruptedByACrash: the target dies in the middle of a
// throttled copy. It comes back with an unsealed prefix that serves no
// reads and takes no appends, and the next repair continues from it.
func TestRepairInterruptedByACrash(t *testing.T) {
	const rate = 256 << 10
	c := startClusterWith(t, 4, func(i int, cfg *Config) {
		if i == 3 {
			cfg.RepairRate = rate
		}
	})
	sizes := make([]int, 24)
	for i := range sizes {
		sizes[i] = 60000
	}
	e := c.writeSealed(1, sizes...)

	errs := make(chan error, 1)
	go func() {
		_, err := c.client(3).RepairExtent(callCtx(t), c.repairReq(e, 3, 0))
		errs <- err
	}()
	target := c.nodes[3]
	waitFor(t, 10*time.Second, "part of the copy", func() bool {
		target.mu.RLock()
		r := target.replicas[1]
		target.mu.RUnlock()
		return r != nil && r.ext.CommitLength() > extent.ExtentHeaderSize
	})
	target.Stop()
	if err := <-errs; err == nil {
		t.Fatal("the repair answered success although its node stopped")
	}

	c.nodes[3] = c.startNode(testConfig(c.dirs[3]))
	cl := c.commitLength(3, 1)
	if cl.Sealed || cl.Length <= extent.ExtentHeaderSize || cl.Length >= e.length {
		t.Fatalf("after the crash: %v; want an unsealed part of %d", cl, e.length)
	}
	res := readStream(callCtx(t), c.client(3), &clogspb.ReadBlocksRequest{ExtentId: 1, Offset: extent.ExtentHeaderSize})
	wantRemote(t, res.err, ErrRecovering, codes.FailedPrecondition, "recovering")

	if copied := c.repair(3, c.repairReq(e, 3, 0)); copied != e.length-cl.Length {
		t.Fatalf("the second repair copied %d bytes, want the %d missing", copied, e.length-cl.Length)
	}
	c.checkWhole(3, e)
}

// TestConcurrentRepairsOfOneExtent: two repairs of one extent at once
// copy it once between them.
func TestConcurrentRepairsOfOneExtent(t *testing.T) {
	c := startCluster(t, 4)
	e := c.writeSealed(1, 50000, 50000, 50000)
	var wg sync.WaitGroup
	copied := make([]uint64, 2)
	for i := range copied {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := c.client(3).RepairExtent(callCtx(t), c.repairReq(e, 3, 0, 1))
			if err != nil {
				t.Error(err)
				return
			}
			copied[i] = resp.CopiedBytes
		}()
	}
	wg.Wait()
	if copied[0]+copied[1] != e.length-extent.ExtentHeaderSize || min(copied[0], copied[1]) != 0 {
		t.Fatalf("copied %v bytes; want the extent once", copied)
	}
	c.checkWhole(3, e)
}

// TestRepairRefusals: bad requests and a replica sealed at another length
// are refused with their reasons.
func TestRepairRefusals(t *testing.T) {
	c := startCluster(t, 4)
	e := c.writeSealed(1, 1000, 1000)
	cl := c.client(3)
	bad := []*clogspb.RepairExtentRequest{
		{ExtentId: 0, SealedLength: e.length, Sources: c.replicaSet(0), Replicas: c.replicaSet(0, 1, 3), SelfIndex: 2},
		{ExtentId: 1, SealedLength: e.length + 1, Sources: c.replicaSet(0), Replicas: c.replicaSet(0, 1, 3), SelfIndex: 2},
		{ExtentId: 1, SealedLength: 100, Sources: c.replicaSet(0), Replicas: c.replicaSet(0, 1, 3), SelfIndex: 2},
		{ExtentId: 1, SealedLength: e.length, Sources: c.replicaSet(0), Replicas: c.replicaSet(0, 3), SelfIndex: 1},
		{ExtentId: 1, SealedLength: e.length, Sources: []*clogspb.Replica{{Addr: "nowhere"}}, Replicas: c.replicaSet(0, 1, 3), SelfIndex: 2},
		{ExtentId: 1, SealedLength: e.length, Replicas: c.replicaSet(0, 1, 3), SelfIndex: 2},
	}
	for i, req := range bad {
		_, err := cl.RepairExtent(callCtx(t), req)
		if re := remote(t, err); re.Code != codes.InvalidArgument {
			t.Errorf("bad request %d: %v", i, re)
		}
	}
	// Node 2 holds it sealed at e.length; a repair at another length is
	// a conflict, unless it replaces.
	shorter := e
	shorter.length = e.offsets[1]
	_, err := c.client(2).RepairExtent(callCtx(t), c.repairReq(shorter, 2, 0))
	wantRemote(t, err, extent.ErrSealConflict, codes.FailedPrecondition, "seal-conflict")
	if got := repairs(c.nodes[2], repairFailed); got != 1 {
		t.Fatalf("failed repairs metric %v", got)
	}
}
