package streamclient

import (
	"context"
	"testing"
	"time"

	"github.com/clogs-io/clogs/extent"
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

func stopNode(c *cluster, addr string) {
	for _, nd := range c.nodes {
		if nd.Addr() == addr {
			nd.Stop()
		}
	}
}
