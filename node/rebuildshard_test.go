package node

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/clogs-io/clogs/erasure"
	clogspb "github.com/clogs-io/clogs/proto"
)

// encodeWith codes the sealed extent e from node 0's replica with params,
// shard i on node targets[i].
func (c *testCluster) encodeWith(e sealedExtent, params erasure.Params, targets ...int) {
	c.t.Helper()
	_, err := c.client(0).EncodeShards(callCtx(c.t), &clogspb.EncodeShardsRequest{ExtentId: e.id, SealedLength: e.length,
		DataShards: uint32(params.DataShards), ParityShards: uint32(params.ParityShards), ChunkSize: uint32(params.ChunkSize),
		Targets: c.replicaSet(targets...)})
	if err != nil {
		c.t.Fatal(err)
	}
}

// shardSource says that shard index is on node.
type shardSource struct{ index, node int }

func (c *testCluster) rebuildShard(on int, e sealedExtent, params erasure.Params, index int, sources ...shardSource) (*clogspb.RebuildShardResponse, error) {
	c.t.Helper()
	req := &clogspb.RebuildShardRequest{ExtentId: e.id, Index: uint32(index), SealedLength: e.length,
		DataShards: uint32(params.DataShards), ParityShards: uint32(params.ParityShards), ChunkSize: uint32(params.ChunkSize)}
	for _, s := range sources {
		req.Sources = append(req.Sources, &clogspb.ShardSource{Index: uint32(s.index), Addr: c.nodes[s.node].Addr()})
	}
	return c.client(on).RebuildShard(callCtx(c.t), req)
}

func (c *testCluster) shardBytes(i int, id uint64, index int) []byte {
	c.t.Helper()
	b, err := os.ReadFile(filepath.Join(c.dirs[i], shardFileName(id, index)))
	if err != nil {
		c.t.Fatal(err)
	}
	return b
}

// TestRebuildShard: a deleted shard is rebuilt on another node from the
// other two, byte-identical to the one EncodeShards wrote, with no partial
// file left, and served; asked again, the node writes nothing. A shard
// whose chunk rotted is rebuilt in place.
func TestRebuildShard(t *testing.T) {
	c := startCluster(t, 4)
	e := c.writeSealed(1, 100, 5000, 70000, 1, 4096)
	c.encodeWith(e, testCoding, 0, 1, 2)
	original := c.shardBytes(2, 1, 2)
	if _, err := c.client(2).DeleteShard(callCtx(t), &clogspb.DeleteShardRequest{ExtentId: 1, Index: 2}); err != nil {
		t.Fatal(err)
	}
	resp, err := c.rebuildShard(3, e, testCoding, 2, shardSource{0, 0}, shardSource{1, 1})
	if err != nil {
		t.Fatal(err)
	}
	if size := testCoding.ShardSize(e.length); resp.Written != size || resp.ShardSize != size {
		t.Fatalf("wrote %d of %d bytes, want %d", resp.Written, resp.ShardSize, size)
	}
	if !bytes.Equal(c.shardBytes(3, 1, 2), original) {
		t.Fatal("the rebuilt shard differs from the original")
	}
	if files := c.shardFiles(3); !slices.Equal(files, []string{shardFileName(1, 2)}) {
		t.Fatalf("node 3 holds %q", files)
	}
	c.checkCoded(e, []*erasure.Shard{nil, c.shardFromNode(1, 1, 1), c.shardFromNode(3, 1, 2)})

	resp, err = c.rebuildShard(3, e, testCoding, 2, shardSource{0, 0}, shardSource{1, 1})
	if err != nil || resp.Written != 0 {
		t.Fatalf("again: wrote %d, %v; want nothing", resp.GetWritten(), err)
	}

	// A rotten chunk: the node finds it, marks the shard damaged and
	// rebuilds it where it is.
	flipByte(t, filepath.Join(c.dirs[3], shardFileName(1, 2)), testCoding.ChunkOffset(2)+7)
	resp, err = c.rebuildShard(3, e, testCoding, 2, shardSource{0, 0}, shardSource{1, 1})
	if err != nil || resp.Written == 0 {
		t.Fatalf("rotten: wrote %d, %v", resp.GetWritten(), err)
	}
	if !bytes.Equal(c.shardBytes(3, 1, 2), original) {
		t.Fatal("the shard rebuilt in place differs from the original")
	}
	if reports := c.nodes[3].shardReports(); len(reports) != 1 || reports[0].Damaged {
		t.Fatalf("reports %v, want the shard whole", reports)
	}
}

// TestRebuildShardBadSources: with 2+2, a source that is down or serves a
// corrupt chunk is worked around with the others; with fewer than d good
// sources the rebuild fails with too-few-shards (or bad-request when the
// request names fewer) and leaves nothing.
func TestRebuildShardBadSources(t *testing.T) {
	c := startClusterWith(t, 5, fastDialFailure)
	coding := erasure.Params{DataShards: 2, ParityShards: 2, ChunkSize: 4096}
	e := c.writeSealed(1, 30000, 30000, 1, 9000)
	c.encodeWith(e, coding, 0, 1, 2, 3)
	original := c.shardBytes(3, 1, 3)
	all := []shardSource{{0, 0}, {1, 1}, {2, 2}}
	rebuilt := func(what string) {
		t.Helper()
		if !bytes.Equal(c.shardBytes(4, 1, 3), original) {
			t.Fatalf("%s: the rebuilt shard differs from the original", what)
		}
		if _, err := c.client(4).DeleteShard(callCtx(t), &clogspb.DeleteShardRequest{ExtentId: 1, Index: 3}); err != nil {
			t.Fatal(err)
		}
	}
	nothingLeft := func(what string) {
		t.Helper()
		if files := c.shardFiles(4); len(files) != 0 {
			t.Fatalf("%s: node 4 keeps %q", what, files)
		}
	}

	// A chunk of shard 0 rots: node 0 ends its ReadShard there, and the
	// rebuild takes that stripe and the rest from shards 1 and 2.
	flipByte(t, filepath.Join(c.dirs[0], shardFileName(1, 0)), coding.ChunkOffset(1)+100)
	if _, err := c.rebuildShard(4, e, coding, 3, all...); err != nil {
		t.Fatal(err)
	}
	rebuilt("corrupt source")

	// Node 1 is down as well: stripe 1 has one good chunk of the two
	// needed.
	c.nodes[1].Stop()
	_, err := c.rebuildShard(4, e, coding, 3, all...)
	wantRemote(t, err, ErrTooFewShards, codes.FailedPrecondition, "too-few-shards")
	nothingLeft("corrupt and down")

	// Node 0's shard rebuilt in place from shards 2 and 3: node 1 down
	// alone is worked around.
	if _, err := c.rebuildShard(0, e, coding, 0, shardSource{2, 2}, shardSource{3, 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.rebuildShard(4, e, coding, 3, all...); err != nil {
		t.Fatal(err)
	}
	rebuilt("a source down")

	// Only one source answers.
	_, err = c.rebuildShard(4, e, coding, 3, shardSource{0, 0}, shardSource{1, 1})
	wantRemote(t, err, ErrTooFewShards, codes.FailedPrecondition, "too-few-shards")
	nothingLeft("one source")
	// The request names too few, or names the shard being built.
	_, err = c.rebuildShard(4, e, coding, 3, shardSource{0, 0})
	wantRemote(t, err, ErrBadRequest, codes.InvalidArgument, "bad-request")
	_, err = c.rebuildShard(4, e, coding, 3, shardSource{0, 0}, shardSource{3, 3})
	wantRemote(t, err, ErrBadRequest, codes.InvalidArgument, "bad-request")
	nothingLeft("bad requests")
}

// TestRebuildShardThrottled: a rebuild writes at the node's repair rate.
// A shard of about 2 MiB at 1 MiB/s, the first MiB a burst, takes about a
// second more; the test only bounds it from below.
func TestRebuildShardThrottled(t *testing.T) {
	c := startClusterWith(t, 4, func(i int, cfg *Config) { cfg.RepairRate = 1 << 20 })
	sizes := make([]int, 16)
	for i := range sizes {
		sizes[i] = 256 << 10
	}
	e := c.writeSealed(1, sizes...)
	coding := erasure.Params{DataShards: 2, ParityShards: 1, ChunkSize: 64 << 10}
	c.encodeWith(e, coding, 0, 1, 2)
	began := time.Now()
	resp, err := c.rebuildShard(3, e, coding, 0, shardSource{1, 1}, shardSource{2, 2})
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(began)
	floor := time.Duration(float64(resp.Written-throttleBurst) / (1 << 20) * float64(time.Second) / 2)
	if resp.Written < 2<<20 || took < floor {
		t.Fatalf("wrote %d bytes in %v; at 1 MiB/s it takes at least %v", resp.Written, took, floor)
	}
}
