package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/clogs-io/clogs/extent"
	clogspb "github.com/clogs-io/clogs/proto"
)

// callTimeout bounds every RPC a test makes, so that a hang fails the test
// instead of stalling the package.
const callTimeout = 10 * time.Second

func callCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	t.Cleanup(cancel)
	return ctx
}

// waitFor polls cond until it holds or timeout passes. It awaits a
// condition; it never stands in for one.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		<-tick.C
	}
}

// remote maps err back with FromStatus and returns it as a *RemoteError.
func remote(t *testing.T, err error) *RemoteError {
	t.Helper()
	if err == nil {
		t.Fatal("call succeeded, want an error")
	}
	var re *RemoteError
	if !errors.As(FromStatus(err), &re) {
		t.Fatalf("error %v (%T) is not a gRPC status", err, err)
	}
	return re
}

// wantRemote checks that err is the status of sentinel with code and
// reason, and returns it mapped back.
func wantRemote(t *testing.T, err error, sentinel error, code codes.Code, reason string) *RemoteError {
	t.Helper()
	re := remote(t, err)
	if !errors.Is(re, sentinel) || re.Code != code || re.Reason != reason {
		t.Fatalf("got %v (code %v, reason %q), want %v with code %v, reason %q", re, re.Code, re.Reason, sentinel, code, reason)
	}
	return re
}

// testPayload is n deterministic bytes naming tag, so that a block read
// back can be told from any other.
func testPayload(tag string, n int) []byte {
	if n == 0 {
		return nil
	}
	unit := []byte(tag + ";")
	return bytes.Repeat(unit, n/len(unit)+1)[:n]
}

func blocksOf(payloads ...[]byte) []*clogspb.Block {
	out := make([]*clogspb.Block, len(payloads))
	for i, p := range payloads {
		out[i] = &clogspb.Block{Payload: p, UserData: []byte(fmt.Sprintf("ud-%d", len(p)))}
	}
	return out
}

// mustAppend appends payloads to extent id through cl and fails the test
// on an error.
func mustAppend(t *testing.T, cl clogspb.ExtentServiceClient, id uint64, payloads ...[]byte) *clogspb.AppendBlocksResponse {
	t.Helper()
	resp, err := cl.AppendBlocks(callCtx(t), &clogspb.AppendBlocksRequest{ExtentId: id, Blocks: blocksOf(payloads...)})
	if err != nil {
		t.Fatalf("append to extent %d: %v", id, err)
	}
	return resp
}

// commitLength asks node i for extent id's commit length.
func (c *testCluster) commitLength(i int, id uint64) *clogspb.CommitLengthResponse {
	c.t.Helper()
	resp, err := c.client(i).CommitLength(callCtx(c.t), &clogspb.CommitLengthRequest{ExtentId: id})
	if err != nil {
		c.t.Fatalf("commit length of extent %d on node %d: %v", id, i, err)
	}
	return resp
}

// commitLengths returns extent id's commit length on each node of idx.
func (c *testCluster) commitLengths(id uint64, idx ...int) []uint64 {
	c.t.Helper()
	out := make([]uint64, len(idx))
	for k, i := range idx {
		out[k] = c.commitLength(i, id).Length
	}
	return out
}

// seal seals extent id at length on nodes idx.
func (c *testCluster) seal(id, length uint64, idx ...int) {
	c.t.Helper()
	for _, i := range idx {
		if _, err := c.client(i).Seal(callCtx(c.t), &clogspb.SealRequest{ExtentId: id, Length: length}); err != nil {
			c.t.Fatalf("seal extent %d at %d on node %d: %v", id, length, i, err)
		}
	}
}

// assignedEnd peeks at node i's assigned end of extent id: on the
// primary, the end of every append taken into a batch, acked or not.
func (c *testCluster) assignedEnd(i int, id uint64) uint64 {
	c.t.Helper()
	r, err := c.nodes[i].replica(id)
	if err != nil {
		c.t.Fatal(err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.assignedEnd
}

// localReplica returns node i's replica of extent id.
func (c *testCluster) localReplica(i int, id uint64) *replica {
	c.t.Helper()
	r, err := c.nodes[i].replica(id)
	if err != nil {
		c.t.Fatal(err)
	}
	return r
}

// heldAppends counts the appends node i holds for extent id because they
// arrived ahead of the appends they follow.
func (c *testCluster) heldAppends(i int, id uint64) int {
	c.t.Helper()
	r, err := c.nodes[i].replica(id)
	if err != nil {
		c.t.Fatal(err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pipeline.held)
}

// extentPath is where node i keeps extent id.
func (c *testCluster) extentPath(i int, id uint64) string {
	return filepath.Join(c.dirs[i], extent.FileName(id))
}

// readFile returns node i's file of extent id, without the zeros a node
// keeps written past an unsealed extent's end (extent.Config.ZeroAhead):
// they are not part of the extent, and Open cuts them.
func (c *testCluster) readFile(i int, id uint64) []byte {
	c.t.Helper()
	path := c.extentPath(i, id)
	b, err := os.ReadFile(path)
	if err != nil {
		c.t.Fatal(err)
	}
	r, err := extent.Inspect(nil, path, nil)
	if err == nil && r.Problem == nil && !r.Sealed && r.ValidEnd < uint64(len(b)) {
		if tail := b[r.ValidEnd:]; bytes.Count(tail, []byte{0}) == len(tail) {
			b = b[:r.ValidEnd]
		}
	}
	return b
}

// readResult is everything one ReadBlocks stream returned.
type readResult struct {
	blocks   []*clogspb.BlockAt
	messages []*clogspb.ReadBlocksResponse
	err      error // nil when the stream ended cleanly
}

// readStream runs one ReadBlocks call to its end.
func readStream(ctx context.Context, cl clogspb.ExtentServiceClient, req *clogspb.ReadBlocksRequest) readResult {
	var res readResult
	stream, err := cl.ReadBlocks(ctx, req)
	if err != nil {
		res.err = err
		return res
	}
	for {
		resp, err := stream.Recv()
		if err == io.EOF {
			return res
		}
		if err != nil {
			res.err = err
			return res
		}
		res.messages = append(res.messages, resp)
		res.blocks = append(res.blocks, resp.Blocks...)
	}
}

// readFrom reads extent id from offset to its readable end and fails the
// test on an error.
func readFrom(t *testing.T, cl clogspb.ExtentServiceClient, id, offset uint64) readResult {
	t.Helper()
	res := readStream(callCtx(t), cl, &clogspb.ReadBlocksRequest{ExtentId: id, Offset: offset})
	if res.err != nil {
		t.Fatalf("read extent %d from %d: %v", id, offset, res.err)
	}
	return res
}

// checkBlocks compares blocks read back with the payloads appended at
// offsets.
func checkBlocks(t *testing.T, got []*clogspb.BlockAt, offsets []uint64, payloads [][]byte) {
	t.Helper()
	if len(got) != len(payloads) {
		t.Fatalf("read %d blocks, want %d", len(got), len(payloads))
	}
	for i, b := range got {
		if b.Offset != offsets[i] || !bytes.Equal(b.Payload, payloads[i]) {
			t.Fatalf("block %d: offset %d (%d bytes), want offset %d (%d bytes), or its payload differs", i, b.Offset, len(b.Payload), offsets[i], len(payloads[i]))
		}
	}
}
