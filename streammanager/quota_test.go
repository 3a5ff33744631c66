package streammanager

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	clogspb "github.com/clogs-io/clogs/proto"
)

// TestSurvivesEtcdSpaceQuota: when etcd's database passes its quota,
// metadata writes fail with a clear metadata-full error while the manager
// keeps leading and serving reads; its maintenance then compacts,
// defragments and disarms the alarm, and writes work again.
func TestSurvivesEtcdSpaceQuota(t *testing.T) {
	cfg := managerConfig(t, t.TempDir())
	cfg.EtcdQuotaBytes = 8 << 20
	cfg.ReconcileInterval = 200 * time.Millisecond
	m := startManager(t, cfg)
	waitLeader(t, m)
	sm := smClient(t, m)
	ctx := testCtx(t, 60*time.Second)
	if _, err := sm.CreateStream(ctx, &clogspb.CreateStreamRequest{Name: "before"}); err != nil {
		t.Fatal(err)
	}
	// Fill etcd's history past the quota behind the manager's back; stop
	// the maintenance from reclaiming while filling by filling fast.
	junk := strings.Repeat("x", 1<<20)
	var full bool
	for i := 0; i < 64 && !full; i++ {
		_, err := m.etcd.client.Put(ctx, m.cfg.prefix()+"junk", junk)
		full = err != nil
	}
	if !full {
		t.Fatal("etcd never refused a write; the quota was not reached")
	}
	_, err := sm.CreateStream(ctx, &clogspb.CreateStreamRequest{Name: "during"})
	if err == nil {
		// The maintenance may have reclaimed already; then the point
		// below still holds.
		t.Log("the write succeeded: space was reclaimed before it")
	} else {
		wantRemote(t, err, codes.ResourceExhausted, "metadata-full")
		if !m.IsLeader() {
			t.Fatal("the manager lost leadership over a full etcd")
		}
		if _, err := sm.StreamInfo(ctx, &clogspb.StreamInfoRequest{Stream: &clogspb.StreamInfoRequest_Name{Name: "before"}}); err != nil {
			t.Fatalf("reads fail while etcd is full: %v", err)
		}
	}
	eventually(t, 30*time.Second, "writes to work again", func() bool {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		_, err := sm.CreateStream(cctx, &clogspb.CreateStreamRequest{Name: "after"})
		return err == nil
	})
	if !m.IsLeader() {
		t.Fatal("the manager is no longer the leader")
	}
}
