package node

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/clogs-io/clogs/erasure"
	"github.com/clogs-io/clogs/extent"
	clogspb "github.com/clogs-io/clogs/proto"
)

// testCoding is 2+1 with small chunks, so that a test extent of a few
// blocks spans many stripes and ReadShard messages.
var testCoding = erasure.Params{DataShards: 2, ParityShards: 1, ChunkSize: 4096}

func (c *testCluster) encodeReq(e sealedExtent, targets ...int) *clogspb.EncodeShardsRequest {
	return &clogspb.EncodeShardsRequest{ExtentId: e.id, SealedLength: e.length, DataShards: uint32(testCoding.DataShards),
		ParityShards: uint32(testCoding.ParityShards), ChunkSize: uint32(testCoding.ChunkSize), Targets: c.replicaSet(targets...)}
}

// shardRead is everything one ReadShard stream returned.
type shardRead struct {
	header      []byte
	firstStripe uint64
	chunks      [][]byte
	err         error
}

func readShard(t *testing.T, cl clogspb.ExtentServiceClient, id uint64, index, first, max uint64) shardRead {
	t.Helper()
	stream, err := cl.ReadShard(callCtx(t), &clogspb.ReadShardRequest{ExtentId: id, Index: uint32(index), FirstStripe: first, MaxStripes: max})
	if err != nil {
		t.Fatal(err)
	}
	var res shardRead
	for i := 0; ; i++ {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return res
		}
		if err != nil {
			res.err = err
			return res
		}
		if i == 0 {
			res.header, res.firstStripe = resp.Header, resp.FirstStripe
		} else if len(resp.Header) != 0 || resp.FirstStripe != res.firstStripe+uint64(len(res.chunks)) {
			t.Fatalf("message %d: header of %d bytes, first stripe %d after %d chunks", i, len(resp.Header), resp.FirstStripe, len(res.chunks))
		}
		res.chunks = append(res.chunks, resp.Chunks...)
	}
}

// shardFromNode reads shard index of extent id whole from node i, checks
// every chunk again, and opens it.
func (c *testCluster) shardFromNode(i int, id uint64, index int) *erasure.Shard {
	c.t.Helper()
	res := readShard(c.t, c.client(i), id, uint64(index), 0, 0)
	if res.err != nil {
		c.t.Fatalf("read shard %d of extent %d from node %d: %v", index, id, i, res.err)
	}
	file := slices.Clone(res.header)
	for s, chunk := range res.chunks {
		if err := erasure.VerifyChunk(chunk, uint64(s), index); err != nil {
			c.t.Fatalf("node %d shard %d chunk %d: %v", i, index, s, err)
		}
		file = append(file, chunk...)
	}
	s, err := erasure.OpenShard(bytes.NewReader(file), int64(len(file)))
	if err != nil {
		c.t.Fatal(err)
	}
	return s
}

// checkCoded reads the coded extent e through shards (nil for missing) and
// compares it with node 0's replica.
func (c *testCluster) checkCoded(e sealedExtent, shards []*erasure.Shard) {
	c.t.Helper()
	got, _, err := erasure.ReadRange(shards, 0, e.length)
	if err != nil || !bytes.Equal(got, c.readFile(0, e.id)) {
		c.t.Fatalf("coded extent %d: %v (equal %v)", e.id, err, bytes.Equal(got, c.readFile(0, e.id)))
	}
}

// shardFiles lists the files of node i's disk that are shards or partial
// shards.
func (c *testCluster) shardFiles(i int) []string {
	c.t.Helper()
	entries, err := os.ReadDir(c.dirs[i])
	if err != nil {
		c.t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if strings.Contains(e.Name(), ".shard") {
			out = append(out, e.Name())
		}
	}
	return out
}

// TestShardsEncodeReadDelete: a node codes its sealed replica into 2+1
// shards on three nodes (itself included); every shard reads back, chunk
// by chunk, and the extent decodes byte for byte, also without a shard;
// the shards are in the full reports; a deleted shard is gone.
func TestShardsEncodeReadDelete(t *testing.T) {
	c := startCluster(t, 3)
	e := c.writeSealed(1, 100, 5000, 70000, 1, 4096)
	resp, err := c.client(0).EncodeShards(callCtx(t), c.encodeReq(e, 0, 1, 2))
	if err != nil {
		t.Fatal(err)
	}
	if resp.ShardSize != testCoding.ShardSize(e.length) {
		t.Fatalf("shard size %d, want %d", resp.ShardSize, testCoding.ShardSize(e.length))
	}
	shards := make([]*erasure.Shard, 3)
	for i := range 3 {
		if files := c.shardFiles(i); !slices.Equal(files, []string{shardFileName(1, i)}) {
			t.Fatalf("node %d holds %q", i, files)
		}
		shards[i] = c.shardFromNode(i, 1, i)
		reports := c.nodes[i].shardReports()
		if len(reports) != 1 || reports[0].GetShardIndex() != uint32(i) || reports[0].ShardIndex == nil ||
			reports[0].CommitLength != e.length || !reports[0].Sealed || reports[0].Damaged {
			t.Fatalf("node %d reports %v", i, reports)
		}
	}
	c.checkCoded(e, shards)

	stripes := testCoding.Stripes(e.length)
	part := readShard(t, c.client(1), 1, 1, 2, 3)
	if part.err != nil || part.firstStripe != 2 || len(part.chunks) != 3 || erasure.VerifyChunk(part.chunks[0], 2, 1) != nil {
		t.Fatalf("stripes 2-4: first %d, %d chunks, %v", part.firstStripe, len(part.chunks), part.err)
	}
	if head := readShard(t, c.client(1), 1, 1, stripes, 0); head.err != nil || len(head.chunks) != 0 || len(head.header) != erasure.ShardHeaderSize {
		t.Fatalf("header only: %d chunks, %v", len(head.chunks), head.err)
	}
	wantRemote(t, readShard(t, c.client(1), 1, 1, stripes+1, 0).err, ErrBadRequest, codes.InvalidArgument, "bad-request")

	if _, err := c.client(2).DeleteShard(callCtx(t), &clogspb.DeleteShardRequest{ExtentId: 1, Index: 2}); err != nil {
		t.Fatal(err)
	}
	wantRemote(t, readShard(t, c.client(2), 1, 2, 0, 0).err, ErrNoShard, codes.NotFound, "shard-not-found")
	_, err = c.client(2).DeleteShard(callCtx(t), &clogspb.DeleteShardRequest{ExtentId: 1, Index: 2})
	wantRemote(t, err, ErrNoShard, codes.NotFound, "shard-not-found")
	if files := c.shardFiles(2); len(files) != 0 || len(c.nodes[2].shardReports()) != 0 {
		t.Fatalf("node 2 still holds %q", files)
	}
	c.checkCoded(e, []*erasure.Shard{c.shardFromNode(0, 1, 0), shards[1], nil})
}

// TestShardCorruptChunk: a chunk that fails its checksum ends a read of
// its shard with shard-corrupt at the chunk's offset, after the chunks
// before it; the shard is then damaged: reported so, and not served.
func TestShardCorruptChunk(t *testing.T) {
	c := startCluster(t, 3)
	e := c.writeSealed(1, 30000, 30000)
	if _, err := c.client(0).EncodeShards(callCtx(t), c.encodeReq(e, 0, 1, 2)); err != nil {
		t.Fatal(err)
	}
	const stripe = 3
	flipByte(t, filepath.Join(c.dirs[1], shardFileName(1, 1)), testCoding.ChunkOffset(stripe)+10)
	res := readShard(t, c.client(1), 1, 1, 0, 0)
	re := wantRemote(t, res.err, erasure.ErrCorrupt, codes.DataLoss, "shard-corrupt")
	if re.Offset != testCoding.ChunkOffset(stripe) || len(res.chunks) != stripe {
		t.Fatalf("corruption at offset %d after %d chunks; want %d after %d", re.Offset, len(res.chunks), testCoding.ChunkOffset(stripe), stripe)
	}
	if reports := c.nodes[1].shardReports(); len(reports) != 1 || !reports[0].Damaged {
		t.Fatalf("reports %v, want the shard damaged", reports)
	}
	wantRemote(t, readShard(t, c.client(1), 1, 1, 0, 1).err, erasure.ErrCorrupt, codes.DataLoss, "shard-corrupt")
	// The extent still decodes from the other two.
	c.checkCoded(e, []*erasure.Shard{c.shardFromNode(0, 1, 0), nil, c.shardFromNode(2, 1, 2)})
}

// putShard streams file to node i as shard index of extent id, in
// pieces of step bytes.
func (c *testCluster) putShard(i int, id uint64, index int, file []byte, step int) error {
	c.t.Helper()
	stream, err := c.client(i).PutShard(callCtx(c.t))
	if err != nil {
		c.t.Fatal(err)
	}
	for first := true; first || len(file) > 0; first = false {
		piece := file[:min(step, len(file))]
		file = file[len(piece):]
		msg := &clogspb.PutShardRequest{Data: piece}
		if first {
			msg.ExtentId, msg.Index = id, uint32(index)
		}
		if err := stream.Send(msg); err != nil {
			break // the node ended the stream; CloseAndRecv says why
		}
	}
	_, err = stream.CloseAndRecv()
	return err
}

// TestPutShardRefusals: a stream that is not the named shard, whole and
// nothing more, is refused and leaves no file; a good one is taken, and
// taken again in place of the first.
func TestPutShardRefusals(t *testing.T) {
	c := startCluster(t, 1)
	src := bytes.Repeat([]byte("a sealed extent "), 2000)
	files := make([]*bytes.Buffer, testCoding.Shards())
	writers := make([]io.Writer, len(files))
	for i := range files {
		files[i] = new(bytes.Buffer)
		writers[i] = files[i]
	}
	if err := erasure.Encode(bytes.NewReader(src), 7, uint64(len(src)), testCoding, writers); err != nil {
		t.Fatal(err)
	}
	shard1 := files[1].Bytes()
	tests := []struct {
		name  string
		id    uint64
		index int
		file  []byte
	}{
		{"garbage", 7, 1, bytes.Repeat([]byte("garbage!"), 100)},
		{"cut short", 7, 1, shard1[:len(shard1)-1]},
		{"header only", 7, 1, shard1[:erasure.ShardHeaderSize]},
		{"half a header", 7, 1, shard1[:20]},
		{"a byte more", 7, 1, append(slices.Clone(shard1), 0)},
		{"another index", 7, 0, shard1},
		{"another extent", 8, 1, shard1},
		{"a bad chunk", 7, 1, func() []byte { b := slices.Clone(shard1); b[len(b)-100] ^= 1; return b }()},
	}
	for _, tt := range tests {
		err := c.putShard(0, tt.id, tt.index, tt.file, 1000)
		want := "bad-request"
		if tt.name == "a bad chunk" {
			want = "shard-corrupt"
		}
		if re := remote(t, err); re.Reason != want {
			t.Errorf("%s: %v, want %s", tt.name, re, want)
		}
		if files := c.shardFiles(0); len(files) != 0 {
			t.Fatalf("%s: left %q", tt.name, files)
		}
	}
	empty, err := c.client(0).PutShard(callCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	_, err = empty.CloseAndRecv()
	wantRemote(t, err, ErrBadRequest, codes.InvalidArgument, "bad-request")
	for range 2 {
		if err := c.putShard(0, 7, 1, shard1, 333); err != nil {
			t.Fatal(err)
		}
		if got, err := os.ReadFile(filepath.Join(c.dirs[0], shardFileName(7, 1))); err != nil || !bytes.Equal(got, shard1) {
			t.Fatalf("the shard file differs: %v", err)
		}
	}
}

// TestShardsAfterRestart: a restarted node serves its shards again,
// removes the partial file of a put a crash cut, and reports a shard file
// that fails to open, or holds another shard than its name says, as
// damaged.
func TestShardsAfterRestart(t *testing.T) {
	c := startCluster(t, 3)
	e := c.writeSealed(1, 9000)
	if _, err := c.client(0).EncodeShards(callCtx(t), c.encodeReq(e, 0, 1, 2)); err != nil {
		t.Fatal(err)
	}
	c.nodes[1].Stop()
	moved, err := os.ReadFile(filepath.Join(c.dirs[1], shardFileName(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string][]byte{
		shardFileName(1, 0) + partialSuffix: []byte("cut"),
		shardFileName(2, 0):                 []byte("not a shard"),
		shardFileName(3, 5):                 make([]byte, 100),
		shardFileName(4, 1):                 moved, // a shard of extent 1 under another name
	} {
		if err := os.WriteFile(filepath.Join(c.dirs[1], name), body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c.nodes[1] = c.startNode(testConfig(c.dirs[1]))
	c.checkCoded(e, []*erasure.Shard{nil, c.shardFromNode(1, 1, 1), c.shardFromNode(2, 1, 2)})
	var got []string
	for _, r := range c.nodes[1].shardReports() {
		got = append(got, shardFileName(r.ExtentId, int(r.GetShardIndex()))+map[bool]string{true: " damaged"}[r.Damaged])
	}
	want := []string{shardFileName(1, 1), shardFileName(2, 0) + " damaged", shardFileName(3, 5) + " damaged", shardFileName(4, 1) + " damaged"}
	if !slices.Equal(got, want) {
		t.Fatalf("reports %q, want %q", got, want)
	}
	wantRemote(t, readShard(t, c.client(1), 2, 0, 0, 0).err, erasure.ErrBadHeader, codes.DataLoss, "shard-bad-header")
	if files := c.shardFiles(1); slices.Contains(files, shardFileName(1, 0)+partialSuffix) {
		t.Fatalf("the partial file is still there: %q", files)
	}
}

// TestEncodeShardsRefusals: only a replica sealed at the length is coded;
// a target that fails fails the encoding with its reason, and the other
// targets keep nothing.
func TestEncodeShardsRefusals(t *testing.T) {
	c := startClusterWith(t, 4, func(i int, cfg *Config) {
		fastDialFailure(i, cfg)
		if i == 3 {
			cfg.DiskStats = func(string) (uint64, uint64, error) { return 100 << 30, 1 << 30, nil } // 99% used
		}
	})
	e := c.writeSealed(1, 20000)
	c.alloc(2, 0, 1, 2)
	open := sealedExtent{id: 2, length: mustAppend(t, c.client(0), 2, testPayload("x", 10)).End}

	_, err := c.client(0).EncodeShards(callCtx(t), c.encodeReq(open, 0, 1, 2))
	wantRemote(t, err, ErrNotSealed, codes.FailedPrecondition, "not-sealed")
	short := e
	short.length -= extent.BlockHeaderSize
	_, err = c.client(0).EncodeShards(callCtx(t), c.encodeReq(short, 0, 1, 2))
	wantRemote(t, err, extent.ErrSealConflict, codes.FailedPrecondition, "seal-conflict")
	_, err = c.client(0).EncodeShards(callCtx(t), c.encodeReq(e, 0, 1))
	wantRemote(t, err, ErrBadRequest, codes.InvalidArgument, "bad-request")
	_, err = c.client(0).EncodeShards(callCtx(t), c.encodeReq(e, 0, 1, 1))
	wantRemote(t, err, ErrBadRequest, codes.InvalidArgument, "bad-request")

	// Node 2 is down, and node 0 knows it: no stream starts, no target
	// keeps anything. (Until node 0's connection to node 2 breaks, a
	// stream to it opens, since gRPC opens streams lazily, and the other
	// targets may finish theirs before node 2's fails: the case of node 3
	// below.)
	down := c.nodes[2].Addr()
	c.nodes[2].Stop()
	waitFor(t, 5*time.Second, "node 0 to see node 2 down", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := c.nodes[0].pool.Get(ctx, down)
		return err != nil
	})
	_, err = c.client(0).EncodeShards(callCtx(t), c.encodeReq(e, 0, 1, 2))
	wantRemote(t, err, ErrShardTargetFailed, codes.FailedPrecondition, "shard-target-failed")
	c.waitNoPuts(0, 1)
	for _, i := range []int{0, 1} {
		if files := c.shardFiles(i); len(files) != 0 {
			t.Fatalf("node %d keeps %q", i, files)
		}
	}
	// Node 3's disk is above the high-water mark: it refuses its shard
	// and says why. Targets that answered before it keep theirs, whole
	// (the manager, which knows the extent's layout, deletes them).
	_, err = c.client(0).EncodeShards(callCtx(t), c.encodeReq(e, 0, 1, 3))
	re := wantRemote(t, err, ErrShardTargetFailed, codes.FailedPrecondition, "shard-target-failed")
	if !strings.Contains(re.Message, "disk-full") {
		t.Fatalf("the failure does not say why: %v", re)
	}
	c.waitNoPuts(0, 1, 3)
	if files := c.shardFiles(3); len(files) != 0 {
		t.Fatalf("node 3 keeps %q", files)
	}
	for _, i := range []int{0, 1} {
		for _, name := range c.shardFiles(i) {
			if name != shardFileName(1, i) {
				t.Fatalf("node %d keeps %q", i, name)
			}
			c.shardFromNode(i, 1, i)
		}
	}
}

// waitNoPuts waits until no PutShard runs on the nodes idx.
func (c *testCluster) waitNoPuts(idx ...int) {
	c.t.Helper()
	for _, i := range idx {
		waitFor(c.t, 5*time.Second, "the cancelled puts to end", func() bool {
			c.nodes[i].shardMu.RLock()
			defer c.nodes[i].shardMu.RUnlock()
			return len(c.nodes[i].putting) == 0
		})
	}
}

// TestShardErrorsMapBack: shard errors travel with their reasons.
func TestShardErrorsMapBack(t *testing.T) {
	for _, tt := range []struct {
		err    error
		reason string
		want   error
	}{
		{&erasure.CorruptionError{ExtentID: 7, Shard: 1, Stripe: 2, Offset: 8300, Err: errors.New("bad")}, "shard-corrupt", erasure.ErrCorrupt},
		{&erasure.HeaderError{Err: erasure.ErrNotShard}, "shard-bad-header", erasure.ErrBadHeader},
		{ErrNoShard, "shard-not-found", ErrNoShard},
		{errors.Join(ErrShardTargetFailed, ErrNoShard), "shard-target-failed", ErrShardTargetFailed},
		{&os.PathError{Op: "write", Err: syscall.ENOSPC}, "disk-full", ErrDiskFull},
	} {
		re := FromStatus(ToStatus(tt.err, 7)).(*RemoteError)
		if re.Reason != tt.reason || !errors.Is(re, tt.want) {
			t.Errorf("%v came back as %v", tt.err, re)
		}
	}
	re := FromStatus(ToStatus(&erasure.CorruptionError{Offset: 8300}, 7)).(*RemoteError)
	if re.Offset != 8300 {
		t.Errorf("offset %d, want 8300", re.Offset)
	}
}
