package node

import (
	"os"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/clogs-io/clogs/extent"
	clogspb "github.com/clogs-io/clogs/proto"
)

// scrubFast makes node 2 scrub at a high rate, with short pauses.
func scrubFast(i int, cfg *Config) {
	if i == 2 {
		cfg.ScrubRate, cfg.ScrubInterval = 256<<20, 10*time.Millisecond
	}
}

// report returns node i's full-report entry for extent id, or nil.
func (c *testCluster) report(i int, id uint64) *clogspb.ReplicaReport {
	for _, r := range c.nodes[i].replicaReports() {
		if r.ExtentId == id {
			return r
		}
	}
	return nil
}

// TestScrubFindsAFlippedByte: a byte flipped in a sealed replica on disk
// is found by the scrubber. The replica is reported damaged, reads that
// reach the bad block fail with its corruption (never data), the damage
// survives a restart through its marker, and a repair makes the replica
// whole and undamaged again.
func TestScrubFindsAFlippedByte(t *testing.T) {
	c := startClusterWith(t, 3, scrubFast)
	e := c.writeSealed(1, 10000, 10000, 10000, 10000)
	good := c.writeSealed(2, 3000)
	nd := c.nodes[2]
	waitFor(t, 10*time.Second, "a scrub of both extents", func() bool {
		return counterValue(nd.metrics.scrubBytes) >= float64(e.length+good.length-2*extent.ExtentHeaderSize)
	})
	if r := c.report(2, 1); r == nil || r.Damaged || !r.Sealed || r.CommitLength != e.length {
		t.Fatalf("report before the damage: %v", r)
	}

	flipByte(t, c.extentPath(2, 1), e.offsets[2]+extent.BlockHeaderSize+999)
	waitFor(t, 10*time.Second, "the scrubber to find the damage", func() bool {
		r := c.report(2, 1)
		return r != nil && r.Damaged
	})
	if d := c.localReplica(2, 1).damaged(); d.Offset != e.offsets[2] {
		t.Fatalf("damage at %d, want %d", d.Offset, e.offsets[2])
	}
	if got := counterValue(nd.metrics.damagedFound); got != 1 {
		t.Fatalf("damaged extents found: %v", got)
	}
	if r := c.report(2, 2); r == nil || r.Damaged {
		t.Fatalf("the undamaged extent is reported %v", r)
	}
	checkDamagedReads := func() {
		t.Helper()
		res := readStream(callCtx(t), c.client(2), &clogspb.ReadBlocksRequest{ExtentId: 1, Offset: extent.ExtentHeaderSize})
		if re := wantRemote(t, res.err, extent.ErrCorrupt, codes.DataLoss, "corrupt"); re.Offset != e.offsets[2] {
			t.Fatalf("corruption at %d, want %d", re.Offset, e.offsets[2])
		}
		checkBlocks(t, res.blocks, e.offsets[:2], e.payloads[:2])
	}
	checkDamagedReads()

	// A restart without scrubbing still knows.
	nd.Stop()
	cfg := testConfig(c.dirs[2])
	cfg.ScrubRate = 0
	c.nodes[2] = c.startNode(cfg)
	if r := c.report(2, 1); r == nil || !r.Damaged {
		t.Fatalf("after a restart the damaged replica is reported %v", r)
	}
	checkDamagedReads()

	if copied := c.repair(2, c.repairReq(e, 2, 0)); copied != e.length-extent.ExtentHeaderSize {
		t.Fatalf("repair copied %d bytes", copied)
	}
	c.checkWhole(2, e)
	if r := c.report(2, 1); r == nil || r.Damaged {
		t.Fatalf("after the repair: %v", r)
	}
}

// TestStaleDamageMarkerIsRemoved: a marker whose extent file is gone (a
// crash between the two removals) is removed at start.
func TestStaleDamageMarkerIsRemoved(t *testing.T) {
	dir := t.TempDir()
	marker := dir + "/" + extent.FileName(9) + damagedSuffix
	if err := os.WriteFile(marker, []byte("4096\nbad\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := &testCluster{t: t}
	nd := c.startNode(testConfig(dir))
	defer nd.Stop()
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Fatalf("the stale marker is still there (stat: %v)", err)
	}
}

func TestParseMarker(t *testing.T) {
	cases := []struct {
		raw     string
		readErr error
		offset  uint64
	}{
		{"8704\nblock checksum 1, want 2\n", nil, 8704},
		{"8704", nil, 8704},
		{"not a number\n", nil, extent.ExtentHeaderSize},
		{"100\n", nil, extent.ExtentHeaderSize},
		{"", os.ErrPermission, extent.ExtentHeaderSize},
	}
	for _, tc := range cases {
		got := parseMarker(7, []byte(tc.raw), tc.readErr)
		if got.ExtentID != 7 || got.Offset != tc.offset {
			t.Errorf("marker %q (%v): %v, want offset %d", tc.raw, tc.readErr, got, tc.offset)
		}
	}
}
