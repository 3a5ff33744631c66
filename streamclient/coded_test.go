package streamclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/protobuf/proto"

	"github.com/clogs-io/clogs/erasure"
	"github.com/clogs-io/clogs/extent"
	clogspb "github.com/clogs-io/clogs/proto"
)

// codedTest is a stream of a few extents, one of them coded 3+2 by hand
// (EncodeShards on a node) and given to the client as coded through its
// layout cache, as the manager's conversion would.
type codedTest struct {
	t        *testing.T
	c        *cluster
	cl       *Client
	logs     *observer.ObservedLogs
	name     string
	payloads [][]byte
	addrs    []Address
	coded    *clogspb.ExtentMeta // as the injected layout has it
	shardOn  []int               // shard i is on node shardOn[i]
}

// codedCoding is 3+2 with small chunks, so that blocks straddle chunks
// and stripes, and each read spans many stripes.
var codedCoding = erasure.Params{DataShards: 3, ParityShards: 2, ChunkSize: 4096}

func newCodedTest(t *testing.T) *codedTest {
	c := startCluster(t, 5)
	core, logs := observer.New(zap.WarnLevel)
	cfg := smallExtents()
	cfg.MaxExtentSize = extent.ExtentHeaderSize + 6<<20 // a coded extent read in two or three Next calls
	cfg.Logger = zap.New(core)
	ct := &codedTest{t: t, c: c, cl: c.client(cfg), logs: logs, name: "test/coded"}
	ct.write(500)
	ct.encode()
	return ct
}

// write appends n blocks.
func (ct *codedTest) write(n int) {
	ctx := context.Background()
	w, err := ct.cl.OpenWriter(ctx, ct.name)
	if err != nil {
		ct.t.Fatal(err)
	}
	for i := range n {
		p := payload(i)
		a, err := w.Append(ctx, extent.Block{Payload: p, UserData: []byte(fmt.Sprint(i))})
		if err != nil {
			ct.t.Fatalf("append %d: %v", i, err)
		}
		ct.payloads, ct.addrs = append(ct.payloads, p), append(ct.addrs, a[0])
	}
}

// encode codes the stream's second extent (sealed) into 3+2 shards on
// the five nodes, the tail extent's replicas holding shards 1, 3 and 4,
// so that the nodes of shards 0 and 2 can be stopped without stopping the
// tail; then gives the client a newer layout in which it is coded.
func (ct *codedTest) encode() {
	ctx := context.Background()
	layout, err := ct.cl.StreamInfo(ctx, ct.name)
	if err != nil {
		ct.t.Fatal(err)
	}
	if len(layout.Extents) < 3 {
		ct.t.Fatalf("%d extents, want at least 3", len(layout.Extents))
	}
	e, tail := layout.Extents[1], layout.Extents[len(layout.Extents)-1]
	var inTail, others []int
	for i, nd := range ct.c.nodes {
		if slices.ContainsFunc(tail.Replicas, func(r *clogspb.Replica) bool { return r.Addr == nd.Addr() }) {
			inTail = append(inTail, i)
		} else {
			others = append(others, i)
		}
	}
	ct.shardOn = []int{others[0], inTail[0], others[1], inTail[1], inTail[2]}
	var targets []*clogspb.Replica
	for _, i := range ct.shardOn {
		targets = append(targets, &clogspb.Replica{NodeId: uint64(i + 1), Addr: ct.c.nodes[i].Addr()})
	}
	_, err = ct.nodeClient(e.Replicas[0].Addr).EncodeShards(ctx, &clogspb.EncodeShardsRequest{ExtentId: e.Id, SealedLength: e.SealedLength,
		DataShards: uint32(codedCoding.DataShards), ParityShards: uint32(codedCoding.ParityShards), ChunkSize: uint32(codedCoding.ChunkSize),
		Targets: targets})
	if err != nil {
		ct.t.Fatal(err)
	}
	coded := proto.Clone(layout).(*clogspb.StreamResponse)
	coded.Revision += 1 << 40 // above whatever the manager does meanwhile
	ct.coded = coded.Extents[1]
	ct.coded.Replicas = nil
	ct.coded.Erasure = &clogspb.ErasureLayout{DataShards: uint32(codedCoding.DataShards), ParityShards: uint32(codedCoding.ParityShards),
		ChunkSize: uint32(codedCoding.ChunkSize), Shards: targets, CodedUnixNano: time.Now().UnixNano()}
	ct.cl.noteLayout(coded)
}

func (ct *codedTest) nodeClient(addr string) clogspb.ExtentServiceClient {
	cc, err := ct.cl.pool.Get(context.Background(), addr)
	if err != nil {
		ct.t.Fatal(err)
	}
	return clogspb.NewExtentServiceClient(cc)
}

// read reads the stream from the start until the end or an error, and
// checks that the blocks it got are the ones appended, in order, and that
// the coded extent was read from its shards.
func (ct *codedTest) read() ([]Block, error) {
	ct.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := ct.cl.OpenReader(ctx, ct.name, Address{}, false)
	if err != nil {
		ct.t.Fatal(err)
	}
	var got []Block
	for {
		blocks, err := r.Next(ctx)
		if err != nil && len(blocks) > 0 {
			ct.t.Fatalf("%d blocks with an error: %v", len(blocks), err)
		}
		if errors.Is(err, io.EOF) {
			err = nil
		}
		if err != nil || len(blocks) == 0 {
			ct.check(got)
			if err == nil && (r.coded == nil || r.coded.id != ct.coded.Id) {
				ct.t.Fatal("the coded extent was not read from its shards")
			}
			return got, err
		}
		got = append(got, blocks...)
	}
}

func (ct *codedTest) check(got []Block) {
	ct.t.Helper()
	if len(got) > len(ct.payloads) {
		ct.t.Fatalf("read %d blocks, %d appended", len(got), len(ct.payloads))
	}
	for i, b := range got {
		if b.Address != ct.addrs[i] || !bytes.Equal(b.Payload, ct.payloads[i]) || string(b.UserData) != fmt.Sprint(i) {
			ct.t.Fatalf("block %d at %v differs (appended at %v)", i, b.Address, ct.addrs[i])
		}
	}
}

// readWhole reads the stream and checks it is all there.
func (ct *codedTest) readWhole(what string) {
	ct.t.Helper()
	got, err := ct.read()
	if err != nil || len(got) != len(ct.payloads) {
		ct.t.Fatalf("%s: read %d of %d blocks: %v", what, len(got), len(ct.payloads), err)
	}
}

// warned reports how many warnings with message msg and the field were
// logged.
func (ct *codedTest) warned(msg string, field zap.Field) int {
	return ct.logs.FilterMessage(msg).FilterField(field).Len()
}

// TestReadCodedExtent: a stream with a coded extent reads back byte for
// byte through its shards; with one shard's node down; with a chunk of
// another data shard rotten on disk (logged as corruption); and with p+1
// shards gone it fails with a clear error after the blocks before the
// coded extent, returning none of its bytes.
func TestReadCodedExtent(t *testing.T) {
	ct := newCodedTest(t)
	ct.readWhole("all shards")
	if n := ct.logs.Len(); n != 0 {
		t.Fatalf("%d warnings on a clean read: %v", n, ct.logs.All())
	}

	ct.c.nodes[ct.shardOn[0]].Stop()
	ct.readWhole("shard 0's node down")
	if ct.warned("shard of a coded extent unusable; reading around it", zap.Int("shard", 0)) == 0 {
		t.Fatal("the missing shard was not logged")
	}

	// A chunk of data shard 1, in the middle of the extent.
	path := filepath.Join(ct.c.dirs[ct.shardOn[1]], fmt.Sprintf("%016x.shard%d", ct.coded.Id, 1))
	flipByte(t, path, codedCoding.ChunkOffset(codedCoding.Stripes(ct.coded.SealedLength)/2)+100)
	ct.readWhole("shard 0 missing and shard 1 rotten")
	if ct.warned("coded extent read around bad shards", zap.Bool("corrupt", true)) == 0 {
		t.Fatalf("the corruption was not logged: %v", ct.logs.All())
	}

	// Shard 1 is now damaged (its node serves it no more), shard 0's
	// node is down, and now shard 2's: three of five.
	ct.c.nodes[ct.shardOn[2]].Stop()
	got, err := ct.read()
	if !errors.Is(err, erasure.ErrUnrecoverable) {
		t.Fatalf("with three shards gone: %v", err)
	}
	if want := slices.IndexFunc(ct.addrs, func(a Address) bool { return a.Extent == ct.coded.Id }); len(got) != want {
		t.Fatalf("read %d blocks before the error, the coded extent starts at block %d", len(got), want)
	}
}

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
