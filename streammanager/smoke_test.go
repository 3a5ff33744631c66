package streammanager

import (
	"context"
	"testing"

	"github.com/clogs-io/clogs/extent"
	clogspb "github.com/clogs-io/clogs/proto"
)

func TestCreateAllocAppendSeal(t *testing.T) {
	m := startManager(t, managerConfig(t, t.TempDir()))
	waitLeader(t, m)
	nodes := startNodes(t, 3)
	sm := smClient(t, m)
	registerNodes(t, sm, nodes)
	ctx := context.Background()
	s, err := sm.CreateStream(ctx, &clogspb.CreateStreamRequest{Name: "app/log"})
	if err != nil {
		t.Fatal(err)
	}
	layout, err := sm.StreamAllocExtent(ctx, &clogspb.StreamAllocExtentRequest{StreamId: s.Stream.Id})
	if err != nil {
		t.Fatal(err)
	}
	first := layout.Extents[0]
	if len(first.Replicas) != 3 || first.Sealed {
		t.Fatalf("first extent %v", first)
	}
	var primary *nodeClient
	for _, nd := range nodes {
		if nd.Addr() == first.Replicas[0].Addr {
			primary = newNodeClient(t, nd.Addr())
		}
	}
	resp, err := primary.AppendBlocks(ctx, &clogspb.AppendBlocksRequest{ExtentId: first.Id, Blocks: []*clogspb.Block{{Payload: []byte("hello")}}})
	if err != nil {
		t.Fatal(err)
	}
	layout, err = sm.StreamAllocExtent(ctx, &clogspb.StreamAllocExtentRequest{StreamId: s.Stream.Id, TailExtentId: first.Id})
	if err != nil {
		t.Fatal(err)
	}
	if len(layout.Extents) != 2 || !layout.Extents[0].Sealed || layout.Extents[0].SealedLength != resp.End {
		t.Fatalf("after seal: %v (acked end %d)", layout.Extents, resp.End)
	}
	if resp.End != extent.ExtentHeaderSize+extent.BlockSize(5) {
		t.Fatalf("end %d", resp.End)
	}
	again, err := sm.StreamAllocExtent(ctx, &clogspb.StreamAllocExtentRequest{StreamId: s.Stream.Id, TailExtentId: first.Id})
	if err != nil || len(again.Extents) != 2 {
		t.Fatalf("stale tail changed the layout: %v %v", again, err)
	}
}
