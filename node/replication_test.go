package node

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/clogs-io/clogs/extent"
	clogspb "github.com/clogs-io/clogs/proto"
)

func TestAppendLandsIdenticallyOnThreeNodes(t *testing.T) {
	c := startCluster(t, 3)
	c.alloc(1, 0, 1, 2)
	primary := c.client(0)
	var want [][]byte
	for i := range 10 {
		payload := bytes.Repeat([]byte(fmt.Sprintf("line %d ", i)), 100*(i+1))
		resp, err := primary.AppendBlocks(context.Background(), &clogspb.AppendBlocksRequest{ExtentId: 1, Blocks: []*clogspb.Block{{Payload: payload, UserData: []byte{byte(i)}}}})
		if err != nil {
			t.Fatal(err)
		}
		if resp.End != resp.Offsets[0]+extent.BlockSize(len(payload)) {
			t.Fatalf("end %d after block at %d", resp.End, resp.Offsets[0])
		}
		want = append(want, payload)
	}
	for i := range 3 {
		cl, err := c.client(i).CommitLength(context.Background(), &clogspb.CommitLengthRequest{ExtentId: 1})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("node %d commit length %d", i, cl.Length)
	}
	got := readAllBlocks(t, primary, 1)
	if len(got) != len(want) {
		t.Fatalf("read %d blocks, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i].Payload, want[i]) {
			t.Fatalf("block %d differs", i)
		}
	}
	files := make([][]byte, 3)
	for i := range 3 {
		b, err := os.ReadFile(c.nodes[i].disks[0].extentPath(1))
		if err != nil {
			t.Fatal(err)
		}
		files[i] = b
	}
	// Headers differ in creation time only; blocks must be byte-identical.
	for i := 1; i < 3; i++ {
		if !bytes.Equal(files[0][extent.ExtentHeaderSize:], files[i][extent.ExtentHeaderSize:]) {
			t.Fatalf("replica %d differs from the primary", i)
		}
	}
}

func readAllBlocks(t *testing.T, cl clogspb.ExtentServiceClient, id uint64) []*clogspb.BlockAt {
	t.Helper()
	stream, err := cl.ReadBlocks(context.Background(), &clogspb.ReadBlocksRequest{ExtentId: id, Offset: extent.ExtentHeaderSize})
	if err != nil {
		t.Fatal(err)
	}
	var out []*clogspb.BlockAt
	for {
		resp, err := stream.Recv()
		if err != nil {
			if err.Error() == "EOF" {
				return out
			}
			t.Fatal(err)
		}
		out = append(out, resp.Blocks...)
	}
}
