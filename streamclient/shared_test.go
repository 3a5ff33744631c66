package streamclient

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/clogs-io/clogs/extent"
	"github.com/clogs-io/clogs/node"
)

// TestSharedWriterConcurrentAppendsSurviveANodeLoss: many goroutines append
// at once; a node of the tail is stopped midway; every acknowledged block
// reads back (at least once), and writing went on in a new extent.
func TestSharedWriterConcurrentAppendsSurviveANodeLoss(t *testing.T) {
	c := startCluster(t, 4)
	cl := c.client(DefaultConfig())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	w, err := cl.OpenSharedWriter(ctx, "test/shared")
	if err != nil {
		t.Fatal(err)
	}
	first := w.tail()
	const writers, each = 8, 30
	acked := appendFromGoroutines(t, writers, each, func(g, i int) {
		if g == 0 && i == each/2 {
			stopNode(c, first.Replicas[2].Addr)
		}
	}, func(b extent.Block) ([]Address, error) { return w.Append(ctx, b) })
	seen := map[string]bool{}
	extents := map[uint64]bool{}
	for _, b := range readAll(t, cl, "test/shared") {
		seen[string(b.UserData)] = true
		extents[b.Extent] = true
	}
	for key := range acked {
		if !seen[key] {
			t.Fatalf("acknowledged block %s was not read back", key)
		}
	}
	if len(acked) != writers*each || len(extents) < 2 {
		t.Fatalf("%d acked, %d extents", len(acked), len(extents))
	}
}

// TestSharedWriterRequestsFitAnExtent: with extents of four blocks and
// eight callers at once, the calls packed into one request never add up
// to more than an extent holds (a request that cannot fit even an empty
// extent would fail on every new tail); every append lands.
func TestSharedWriterRequestsFitAnExtent(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxExtentSize = extent.ExtentHeaderSize + 4*extent.BlockSize(len("payload 0/000"))
	c := startClusterWith(t, 3, func(n *node.Config) { n.Extent.MaxSize = cfg.MaxExtentSize })
	cl := c.client(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	w, err := cl.OpenSharedWriter(ctx, "test/small-extents")
	if err != nil {
		t.Fatal(err)
	}
	const writers, each = 8, 6
	acked := appendFromGoroutines(t, writers, each, func(int, int) {}, func(b extent.Block) ([]Address, error) { return w.Append(ctx, b) })
	if len(acked) != writers*each {
		t.Fatalf("%d of %d appends acknowledged", len(acked), writers*each)
	}
	extents := map[uint64]bool{}
	for _, b := range readAll(t, cl, "test/small-extents") {
		extents[b.Extent] = true
	}
	if len(extents) < writers*each/4 {
		t.Fatalf("blocks in %d extents of 4 blocks for %d appends", len(extents), writers*each)
	}
}

// TestSharedWriterLostAckWritesAgain: a request whose answer is lost after
// the replicas wrote is sent again, whole, on a new tail: every call
// succeeds, the blocks stand twice (at-least-once), and the old tail is
// sealed with them.
func TestSharedWriterLostAckWritesAgain(t *testing.T) {
	c := startCluster(t, 3)
	cl := c.client(DefaultConfig())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w, err := cl.OpenSharedWriter(ctx, "test/lost-ack")
	if err != nil {
		t.Fatal(err)
	}
	first := w.tail().Id
	var requests atomic.Int64
	cl.afterAppend = func(err error) error {
		if requests.Add(1) == 1 && err == nil {
			return status.Error(codes.Unavailable, "injected: ack lost after the replicas wrote")
		}
		return err
	}
	addrs, err := w.Append(ctx, extent.Block{Payload: []byte("a")}, extent.Block{Payload: []byte("b")})
	if err != nil {
		t.Fatal(err)
	}
	if len(addrs) != 2 || addrs[0].Extent == first || addrs[1].Extent != addrs[0].Extent {
		t.Fatalf("blocks acknowledged at %v, want both on one extent after %d", addrs, first)
	}
	var got []string
	for _, b := range readAll(t, cl, "test/lost-ack") {
		got = append(got, fmt.Sprintf("%s@%d", b.Payload, b.Extent))
	}
	want := []string{fmt.Sprintf("a@%d", first), fmt.Sprintf("b@%d", first), fmt.Sprintf("a@%d", addrs[0].Extent), fmt.Sprintf("b@%d", addrs[0].Extent)}
	if !slices.Equal(got, want) {
		t.Fatalf("stream holds %q, want %q", got, want)
	}
	if n := requests.Load(); n != 2 {
		t.Fatalf("%d requests, want 2", n)
	}
}

func stopNode(c *cluster, addr string) {
	for _, nd := range c.nodes {
		if nd.Addr() == addr {
			nd.Stop()
		}
	}
}
