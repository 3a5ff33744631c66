package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/clogs-io/clogs/conn"
	"github.com/clogs-io/clogs/extent"
	"github.com/clogs-io/clogs/internal/proctest"
	"github.com/clogs-io/clogs/node"
	clogspb "github.com/clogs-io/clogs/proto"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(proctest.RemoveBuildsAndExit))
}

// Bounds on waits; generous, because the nodes run with the race detector
// when the tests do.
const (
	readyTimeout = 30 * time.Second
	stopTimeout  = 20 * time.Second
	rpcTimeout   = 10 * time.Second
	ackTimeout   = 30 * time.Second
)

// testExtent is the extent every test allocates.
const testExtent = 7

// cluster is a set of extent-node processes, each with its own disk
// directory and 127.0.0.1 ports that stay the same across restarts.
type cluster struct {
	t     *testing.T
	bin   string
	flags []string // given to every node after the defaults, so they win
	addrs []string // gRPC
	https []string // metrics
	dirs  []string
	procs []*proctest.Process
	pool  *conn.Pool
}

// newCluster starts n nodes and waits until each accepts connections.
func newCluster(t *testing.T, n int, flags ...string) *cluster {
	t.Helper()
	addrs := proctest.FreeAddrs(t, 2*n)
	c := &cluster{
		t: t, bin: proctest.Build(t, "."), flags: flags,
		addrs: addrs[:n], https: addrs[n:], procs: make([]*proctest.Process, n),
	}
	root := t.TempDir()
	for i := range n {
		c.dirs = append(c.dirs, filepath.Join(root, fmt.Sprintf("node%d", i+1)))
	}
	cfg := conn.DefaultConfig()
	cfg.DialTimeout = 5 * time.Second
	pool, err := conn.NewPool(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.pool = pool
	t.Cleanup(func() { pool.Close() })
	c.startAll()
	return c
}

// startAll starts every node that is not running, all at once, and waits
// until each accepts connections.
func (c *cluster) startAll() {
	c.t.Helper()
	var started []int
	for i, p := range c.procs {
		if p == nil || p.Exited() {
			c.launch(i)
			started = append(started, i)
		}
	}
	for _, i := range started {
		if err := c.procs[i].WaitReady(c.addrs[i], readyTimeout); err != nil {
			c.t.Fatal(err)
		}
	}
}

// launch starts node i on its addresses and disk.
func (c *cluster) launch(i int) {
	c.t.Helper()
	// --sm "": these nodes run without a stream manager.
	args := append([]string{"--listen", c.addrs[i], "--http", c.https[i], "--disk", c.dirs[i], "--sm", ""}, c.flags...)
	c.procs[i] = proctest.Start(c.t, fmt.Sprintf("node%d", i+1), c.bin, args...)
	// A connection to the previous process would wait out gRPC's backoff.
	c.pool.Remove(c.addrs[i])
}

// client returns an ExtentService client for node i.
func (c *cluster) client(i int) clogspb.ExtentServiceClient {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), rpcTimeout)
	defer cancel()
	cc, err := c.pool.Get(ctx, c.addrs[i])
	if err != nil {
		c.t.Fatalf("node%d: %v", i+1, err)
	}
	return clogspb.NewExtentServiceClient(cc)
}

// alloc creates extent id on every node, node 0 the primary.
func (c *cluster) alloc(id uint64) {
	c.t.Helper()
	var set []*clogspb.Replica
	for i, addr := range c.addrs {
		set = append(set, &clogspb.Replica{NodeId: uint64(i + 1), Addr: addr})
	}
	for i := range c.addrs {
		ctx, cancel := context.WithTimeout(context.Background(), rpcTimeout)
		_, err := c.client(i).AllocExtent(ctx, &clogspb.AllocExtentRequest{ExtentId: id, Replicas: set, SelfIndex: uint32(i)})
		cancel()
		if err != nil {
			c.t.Fatalf("alloc extent %d on node%d: %v", id, i+1, err)
		}
	}
}

// commitLength asks node i for extent id's commit length.
func (c *cluster) commitLength(i int, id uint64) *clogspb.CommitLengthResponse {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), rpcTimeout)
	defer cancel()
	resp, err := c.client(i).CommitLength(ctx, &clogspb.CommitLengthRequest{ExtentId: id})
	if err != nil {
		c.t.Fatalf("commit length of extent %d on node%d: %v", id, i+1, err)
	}
	return resp
}

func (c *cluster) seal(i int, id, length uint64) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), rpcTimeout)
	defer cancel()
	if _, err := c.client(i).Seal(ctx, &clogspb.SealRequest{ExtentId: id, Length: length}); err != nil {
		c.t.Fatalf("seal extent %d at %d on node%d: %v", id, length, i+1, err)
	}
}

// readAll reads every block of extent id from node i.
func (c *cluster) readAll(i int, id uint64) []*clogspb.BlockAt {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), rpcTimeout)
	defer cancel()
	stream, err := c.client(i).ReadBlocks(ctx, &clogspb.ReadBlocksRequest{ExtentId: id, Offset: extent.ExtentHeaderSize})
	if err != nil {
		c.t.Fatalf("read extent %d from node%d: %v", id, i+1, err)
	}
	var blocks []*clogspb.BlockAt
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return blocks
		}
		if err != nil {
			c.t.Fatalf("read extent %d from node%d: %v", id, i+1, err)
		}
		blocks = append(blocks, resp.Blocks...)
	}
}

// file reads extent id's file from node i's disk.
func (c *cluster) file(i int, id uint64) []byte {
	c.t.Helper()
	b, err := os.ReadFile(filepath.Join(c.dirs[i], extent.FileName(id)))
	if err != nil {
		c.t.Fatal(err)
	}
	return b
}

// stopAll sends SIGTERM to every node at once, waits for them, and checks
// that each exited 0 after logging its shutdown.
func (c *cluster) stopAll() {
	c.t.Helper()
	for _, p := range c.procs {
		if err := p.Signal(syscall.SIGTERM); err != nil {
			c.t.Fatal(err)
		}
	}
	for _, p := range c.procs {
		code, err := p.Wait(stopTimeout)
		if err != nil {
			c.t.Fatal(err)
		}
		if code != 0 {
			c.t.Errorf("%s exited %d after SIGTERM, want 0", p.Name(), code)
		}
		for _, line := range []string{"shutting down", "terminated", "extent-node stopped"} {
			if !strings.Contains(p.Stderr().String(), line) {
				c.t.Errorf("%s did not log %q", p.Name(), line)
			}
		}
	}
}

// sealAndCheck is what a stream manager does after a failure: seal extent
// id on nodes idx at the minimum of their commit lengths. It then checks
// invariants 1 and 2: the sealed length covers every acked block; every
// node returns the same blocks, contiguous up to the sealed length, with
// every acked block at its offset; the files are identical past their
// headers (which differ in creation time) and end at the sealed length.
func (c *cluster) sealAndCheck(id uint64, idx []int, acked []ackedBlock) {
	c.t.Helper()
	sealed := uint64(0)
	for _, i := range idx {
		resp := c.commitLength(i, id)
		c.t.Logf("node%d: commit length %d, sealed %v", i+1, resp.Length, resp.Sealed)
		if resp.Sealed {
			c.t.Fatalf("node%d: extent %d sealed before the test sealed it", i+1, id)
		}
		if sealed == 0 || resp.Length < sealed {
			sealed = resp.Length
		}
	}
	if end := ackedEnd(acked); sealed < end {
		c.t.Fatalf("minimum commit length %d cuts acked blocks ending at %d", sealed, end)
	}
	for _, i := range idx {
		c.seal(i, id, sealed)
	}
	var first []*clogspb.BlockAt
	for n, i := range idx {
		if resp := c.commitLength(i, id); !resp.Sealed || resp.Length != sealed {
			c.t.Fatalf("node%d after seal: length %d, sealed %v; want %d, true", i+1, resp.Length, resp.Sealed, sealed)
		}
		blocks := c.readAll(i, id)
		checkContiguous(c.t, fmt.Sprintf("node%d", i+1), blocks, sealed)
		if n == 0 {
			first = blocks
			checkAcked(c.t, blocks, acked)
			continue
		}
		if err := sameBlocks(first, blocks); err != nil {
			c.t.Fatalf("node%d and node%d: %v", idx[0]+1, i+1, err)
		}
	}
	want := c.file(idx[0], id)
	if uint64(len(want)) != sealed {
		c.t.Fatalf("node%d: file of %d bytes sealed at %d", idx[0]+1, len(want), sealed)
	}
	for _, i := range idx[1:] {
		if got := c.file(i, id); !bytes.Equal(got[extent.ExtentHeaderSize:], want[extent.ExtentHeaderSize:]) {
			c.t.Fatalf("node%d's file (%d bytes) differs from node%d's (%d bytes) past the header", i+1, len(got), idx[0]+1, len(want))
		}
	}
	c.t.Logf("sealed at %d: %d blocks, %d of them acked, identical on %d nodes", sealed, len(first), len(acked), len(idx))
}

// checkContiguous checks that blocks follow each other from the header to
// end.
func checkContiguous(t *testing.T, name string, blocks []*clogspb.BlockAt, end uint64) {
	t.Helper()
	next := uint64(extent.ExtentHeaderSize)
	for _, b := range blocks {
		if b.Offset != next {
			t.Fatalf("%s: block at %d, want %d", name, b.Offset, next)
		}
		next += extent.BlockSize(len(b.Payload))
	}
	if next != end {
		t.Fatalf("%s: blocks end at %d, want %d", name, next, end)
	}
}

// checkAcked checks that every acked block was read back at its offset.
func checkAcked(t *testing.T, blocks []*clogspb.BlockAt, acked []ackedBlock) {
	t.Helper()
	byOffset := make(map[uint64]*clogspb.BlockAt, len(blocks))
	for _, b := range blocks {
		byOffset[b.Offset] = b
	}
	for _, a := range acked {
		b, ok := byOffset[a.offset]
		if !ok {
			t.Fatalf("acked block %q at %d is missing", a.userData, a.offset)
		}
		if !bytes.Equal(b.Payload, a.payload) || !bytes.Equal(b.UserData, a.userData) {
			t.Fatalf("acked block %q at %d reads back as %q with other bytes", a.userData, a.offset, b.UserData)
		}
	}
}

func sameBlocks(a, b []*clogspb.BlockAt) error {
	if len(a) != len(b) {
		return fmt.Errorf("%d blocks against %d", len(a), len(b))
	}
	for i := range a {
		if a[i].Offset != b[i].Offset || !bytes.Equal(a[i].Payload, b[i].Payload) || !bytes.Equal(a[i].UserData, b[i].UserData) {
			return fmt.Errorf("block %d differs (offsets %d and %d)", i, a[i].Offset, b[i].Offset)
		}
	}
	return nil
}

// ackedBlock is a block whose append succeeded, where it landed.
type ackedBlock struct {
	offset   uint64
	payload  []byte
	userData []byte
}

func ackedEnd(acked []ackedBlock) uint64 {
	end := uint64(extent.ExtentHeaderSize)
	for _, a := range acked {
		end = max(end, a.offset+extent.BlockSize(len(a.payload)))
	}
	return end
}

// ackLog records acked blocks from several writers.
type ackLog struct {
	mu      sync.Mutex
	acked   []ackedBlock  // guarded by mu
	changed chan struct{} // guarded by mu; closed and replaced on every record
}

func newAckLog() *ackLog { return &ackLog{changed: make(chan struct{})} }

func (l *ackLog) record(blocks []*clogspb.Block, offsets []uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, b := range blocks {
		l.acked = append(l.acked, ackedBlock{offset: offsets[i], payload: b.Payload, userData: b.UserData})
	}
	close(l.changed)
	l.changed = make(chan struct{})
}

func (l *ackLog) blocks() []ackedBlock {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.acked)
}

// waitFor waits until at least n blocks are acked.
func (l *ackLog) waitFor(t *testing.T, n int) {
	t.Helper()
	timer := time.NewTimer(ackTimeout)
	defer timer.Stop()
	for {
		l.mu.Lock()
		have, changed := len(l.acked), l.changed
		l.mu.Unlock()
		if have >= n {
			return
		}
		select {
		case <-changed:
		case <-timer.C:
			t.Fatalf("%d blocks acked after %v, want %d", have, ackTimeout, n)
		}
	}
}

// writerEnd is how a writer stopped.
type writerEnd struct {
	err     error // nil when it stopped because it was told to
	at      time.Time
	appends int
}

// startWriters starts writers goroutines that append to extent id through
// cl, recording acked blocks in log, until ctx ends, an append fails, or
// each made limit appends (0: no limit). wait returns how each ended.
func startWriters(ctx context.Context, cl clogspb.ExtentServiceClient, id uint64, writers, limit int, log *ackLog) (wait func() []writerEnd) {
	ends := make([]writerEnd, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for seq := 0; limit == 0 || seq < limit; seq++ {
				if ctx.Err() != nil {
					break
				}
				req := &clogspb.AppendBlocksRequest{ExtentId: id, Blocks: testBlocks(w, seq)}
				callCtx, cancel := context.WithTimeout(context.Background(), rpcTimeout)
				resp, err := cl.AppendBlocks(callCtx, req)
				cancel()
				if err != nil {
					ends[w] = writerEnd{err: err, at: time.Now(), appends: seq}
					return
				}
				log.record(req.Blocks, resp.Offsets)
				ends[w].appends = seq + 1
			}
			ends[w].at = time.Now()
		})
	}
	return func() []writerEnd {
		wg.Wait()
		return ends
	}
}

// testBlocks are the blocks of writer w's append number seq: one to three
// blocks of a few bytes to a few pages, so that blocks straddle pages and
// batches mix sizes.
func testBlocks(w, seq int) []*clogspb.Block {
	blocks := make([]*clogspb.Block, 1+(w+seq)%3)
	for b := range blocks {
		tag := fmt.Sprintf("w%d-s%d-b%d", w, seq, b)
		size := 1 + (w*7919+seq*104729+b*1301)%12000
		payload := make([]byte, size)
		for i := range payload {
			payload[i] = tag[i%len(tag)] ^ byte(i/len(tag))
		}
		blocks[b] = &clogspb.Block{Payload: payload, UserData: []byte(tag)}
	}
	return blocks
}

func TestSigtermFlushesAndExitsZero(t *testing.T) {
	c := newCluster(t, 3)
	c.alloc(testExtent)
	log := newAckLog()
	wait := startWriters(context.Background(), c.client(0), testExtent, 3, 8, log)
	for w, end := range wait() {
		if end.err != nil {
			t.Fatalf("writer %d: %v", w, end.err)
		}
	}
	checkMetrics(t, c.https[0])

	c.stopAll()
	c.startAll()

	acked := log.blocks()
	want := ackedEnd(acked)
	for i := range c.procs {
		if resp := c.commitLength(i, testExtent); resp.Length != want || resp.Sealed {
			t.Fatalf("node%d after restart: length %d, sealed %v; want %d, unsealed", i+1, resp.Length, resp.Sealed, want)
		}
	}
	c.sealAndCheck(testExtent, []int{0, 1, 2}, acked)
	if blocks := c.readAll(2, testExtent); len(blocks) != len(acked) {
		t.Fatalf("read %d blocks, appended %d", len(blocks), len(acked))
	}
}

// checkMetrics fetches /metrics from addr and looks for the request
// counter of AppendBlocks.
func checkMetrics(t *testing.T, addr string) {
	t.Helper()
	client := &http.Client{Timeout: rpcTimeout, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte("clogs_node_requests_total")) || !bytes.Contains(body, []byte("AppendBlocks")) {
		t.Fatalf("GET /metrics: %s, %d bytes without the AppendBlocks request counter", resp.Status, len(body))
	}
}

func TestKill9KeepsAckedBlocks(t *testing.T) {
	c := newCluster(t, 3, "--http", "") // also: an empty --http disables metrics
	c.alloc(testExtent)
	log := newAckLog()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wait := startWriters(ctx, c.client(0), testExtent, 4, 0, log)
	log.waitFor(t, 150)

	proctest.KillAll(t, c.procs...)
	ends := wait()
	for w, end := range ends {
		t.Logf("writer %d: %d appends, then %v", w, end.appends, end.err)
		if end.err == nil {
			t.Fatalf("writer %d stopped without an error; the kill came too late", w)
		}
	}
	c.startAll()
	c.sealAndCheck(testExtent, []int{0, 1, 2}, log.blocks())
}

func TestKill9Secondary(t *testing.T) {
	const replicaTimeout = 2 * time.Second
	c := newCluster(t, 3, "--replica-timeout", replicaTimeout.String())
	c.alloc(testExtent)
	log := newAckLog()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	primary := c.client(0)
	wait := startWriters(ctx, primary, testExtent, 4, 0, log)
	log.waitFor(t, 60)

	killed := time.Now()
	c.procs[2].Kill()
	// Writers stop by themselves on the failure; the cancel only keeps a
	// broken node from making the test hang.
	safety := time.AfterFunc(replicaTimeout+10*time.Second, cancel)
	ends := wait()
	safety.Stop()
	for w, end := range ends {
		took := end.at.Sub(killed)
		t.Logf("writer %d: %d appends, stopped %v after the kill: %v", w, end.appends, took.Round(time.Millisecond), end.err)
		checkReplicaFailed(t, fmt.Sprintf("writer %d", w), end.err)
		if took > replicaTimeout+time.Second {
			t.Errorf("writer %d failed %v after the kill; the replica timeout is %v", w, took, replicaTimeout)
		}
	}

	callCtx, callCancel := context.WithTimeout(context.Background(), rpcTimeout)
	defer callCancel()
	_, err := primary.AppendBlocks(callCtx, &clogspb.AppendBlocksRequest{ExtentId: testExtent, Blocks: testBlocks(99, 0)})
	checkReplicaFailed(t, "append after the failure", err)

	c.sealAndCheck(testExtent, []int{0, 1}, log.blocks())
}

// checkReplicaFailed checks that err is the primary's "a replica failed".
func checkReplicaFailed(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s succeeded, want replica-failed", what)
	}
	remote := node.FromStatus(err)
	var re *node.RemoteError
	if status.Code(err) != codes.FailedPrecondition || !errors.As(remote, &re) || re.Reason != "replica-failed" || !errors.Is(remote, node.ErrReplicaFailed) {
		t.Fatalf("%s: %v; want FailedPrecondition replica-failed", what, err)
	}
}

// startNode starts one node whose extent's secondaries do not exist, for
// tests of the process's own behaviour. It returns the process and a
// client.
func startNode(t *testing.T, flags ...string) (*proctest.Process, clogspb.ExtentServiceClient) {
	t.Helper()
	c := newCluster(t, 1, flags...)
	set := []*clogspb.Replica{{NodeId: 1, Addr: c.addrs[0]}}
	for _, addr := range proctest.FreeAddrs(t, 2) {
		set = append(set, &clogspb.Replica{NodeId: uint64(len(set) + 1), Addr: addr})
	}
	cl := c.client(0)
	ctx, cancel := context.WithTimeout(context.Background(), rpcTimeout)
	defer cancel()
	if _, err := cl.AllocExtent(ctx, &clogspb.AllocExtentRequest{ExtentId: testExtent, Replicas: set}); err != nil {
		t.Fatal(err)
	}
	return c.procs[0], cl
}

// holdRead starts a tailing read of the empty extent that waits up to a
// minute on the server, and returns once the server has the request: a
// unary call on the same connection, sent after it, has been answered.
func holdRead(t *testing.T, cl clogspb.ExtentServiceClient) <-chan error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	stream, err := cl.ReadBlocks(ctx, &clogspb.ReadBlocksRequest{ExtentId: testExtent, Offset: extent.ExtentHeaderSize, WaitMs: 60_000})
	if err != nil {
		t.Fatal(err)
	}
	ended := make(chan error, 1)
	go func() {
		for {
			if _, err := stream.Recv(); err != nil {
				ended <- err
				return
			}
		}
	}()
	callCtx, callCancel := context.WithTimeout(context.Background(), rpcTimeout)
	defer callCancel()
	if _, err := cl.CommitLength(callCtx, &clogspb.CommitLengthRequest{ExtentId: testExtent}); err != nil {
		t.Fatal(err)
	}
	return ended
}

func TestShutdownTimeoutCutsLongRequests(t *testing.T) {
	p, cl := startNode(t, "--shutdown-timeout", "1s")
	ended := holdRead(t, cl)
	began := time.Now()
	code, err := p.Stop(stopTimeout)
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(began)
	if code != 0 || took < time.Second || took > 8*time.Second {
		t.Fatalf("exit %d after %v with a read in flight and --shutdown-timeout 1s; want 0 after about 1s", code, took)
	}
	if err := <-ended; status.Code(err) == codes.OK {
		t.Fatalf("the held read ended with %v", err)
	}
}

func TestSecondSignalExitsAtOnce(t *testing.T) {
	p, cl := startNode(t, "--shutdown-timeout", "1m")
	holdRead(t, cl)
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.Stderr().WaitFor("shutting down", stopTimeout); err != nil {
		t.Fatal(err)
	}
	if p.Exited() {
		t.Fatal("exited before the second signal, with a read in flight")
	}
	if err := p.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	code, err := p.Wait(stopTimeout)
	if err != nil {
		t.Fatal(err)
	}
	if code != 1 || !strings.Contains(p.Stderr().String(), "second signal") {
		t.Fatalf("exit %d after a second signal, want 1 and a log line", code)
	}
}

// TestReadAtAckedEndAnswersAtOnce: a read without wait_ms at the readable
// end of an unsealed extent, empty or not, answers at once with no blocks
// and the end, so that a reader learns it is caught up.
func TestReadAtAckedEndAnswersAtOnce(t *testing.T) {
	c := newCluster(t, 3)
	c.alloc(testExtent)
	primary := c.client(0)
	readAtEnd := func(offset uint64) {
		t.Helper()
		// Far below rpcTimeout: the answer needs no waiting.
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		stream, err := primary.ReadBlocks(ctx, &clogspb.ReadBlocksRequest{ExtentId: testExtent, Offset: offset})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := stream.Recv()
		if err != nil {
			t.Errorf("read at the end %d, no wait: %v; want no blocks at once", offset, err)
			return
		}
		if len(resp.Blocks) != 0 || resp.End != offset || resp.NextOffset != offset {
			t.Errorf("read at the end %d: %d blocks, end %d, next %d", offset, len(resp.Blocks), resp.End, resp.NextOffset)
		}
	}
	readAtEnd(extent.ExtentHeaderSize)
	ctx, cancel := context.WithTimeout(context.Background(), rpcTimeout)
	defer cancel()
	resp, err := primary.AppendBlocks(ctx, &clogspb.AppendBlocksRequest{ExtentId: testExtent, Blocks: testBlocks(0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	readAtEnd(resp.End)
}

func TestBadFlags(t *testing.T) {
	bin := proctest.Build(t, ".")
	dir := t.TempDir()
	file := filepath.Join(dir, "a-file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// Not defer: the parallel subtests run after this function returns.
	t.Cleanup(func() { busy.Close() })
	busyAddr := busy.Addr().String()
	disk := filepath.Join(dir, "disk")

	cases := []struct {
		name string
		args []string
		want []string // each must be in the error line
	}{
		{"unknown flag", []string{"--bogus"}, []string{"unknown flag: --bogus"}},
		{"argument", []string{"extra"}, []string{`unknown command "extra"`}},
		{"listen without port", []string{"--listen", "localhost"}, []string{`listen address "localhost"`, "missing port"}},
		{"http without port", []string{"--http", "nowhere"}, []string{`http address "nowhere"`}},
		{"replica timeout", []string{"--replica-timeout", "soon"}, []string{`"--replica-timeout"`, `"soon"`}},
		{"zero replica timeout", []string{"--replica-timeout", "0s"}, []string{"replica timeout 0s must be positive"}},
		{"in-flight batches", []string{"--max-inflight-batches", "0"}, []string{"max in-flight batches 0"}},
		{"zero-ahead", []string{"--zero-ahead", "1000"}, []string{"zero-ahead 1000"}},
		{"extent size unit", []string{"--max-extent-size", "2GB"}, []string{`"--max-extent-size"`, `"2GB"`}},
		{"extent size too small", []string{"--max-extent-size", "1024"}, []string{"max size 1024"}},
		{"compression", []string{"--compression", "gzip"}, []string{`compression "gzip"`}},
		{"log level", []string{"--log-level", "loud"}, []string{`level "loud"`}},
		{"log format", []string{"--log-format", "xml"}, []string{`format "xml"`}},
		{"stream manager", []string{"--sm", "127.0.0.1:3401,sm2"}, []string{`--sm address "sm2"`}},
		{"shutdown timeout", []string{"--shutdown-timeout", "-1s"}, []string{"--shutdown-timeout -1s"}},
		{"empty disk", []string{"--disk", ""}, []string{"--disk: empty path"}},
		{"disk twice", []string{"--disk", disk, "--disk", disk + "/"}, []string{"given twice"}},
		{"disk is a file", []string{"--disk", file}, []string{file, "not a directory"}},
		{"disk below a file", []string{"--disk", filepath.Join(file, "sub")}, []string{file, "not a directory"}},
		{"listen port in use", []string{"--listen", busyAddr}, []string{busyAddr, "address already in use"}},
		{"http port in use", []string{"--http", busyAddr}, []string{busyAddr, "address already in use"}},
		{"full report every", []string{"--full-report-every", "0"}, []string{"full report every 0 heartbeats"}},
		{"repair rate unit", []string{"--repair-rate", "10MB"}, []string{`"--repair-rate"`, `"10MB"`}},
		{"scrub interval", []string{"--scrub-interval", "0s"}, []string{"scrub interval 0s must be positive"}},
		{"high water", []string{"--high-water", "1.5"}, []string{"high-water mark 1.5"}},
		{"two problems", []string{"--listen", "x", "--max-inflight-batches", "0"}, []string{`listen address "x"`, "max in-flight batches 0"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// Free ports and a disk of the test's own, unless the case
			// sets them: the defaults would touch ./data and port 4001.
			args := []string{"--listen", "127.0.0.1:0", "--http", ""}
			if !slices.Contains(tc.args, "--disk") {
				args = append(args, "--disk", filepath.Join(t.TempDir(), "disk"))
			}
			args = append(args, tc.args...)
			res := proctest.Run(t, readyTimeout, bin, args...)
			lines := strings.Split(strings.TrimSpace(res.Stderr), "\n")
			last := lines[len(lines)-1]
			if res.ExitCode != 1 || !strings.HasPrefix(last, "extent-node: ") {
				t.Fatalf("exit %d, stderr:\n%s\nwant exit 1 and an error line", res.ExitCode, res.Stderr)
			}
			for _, want := range tc.want {
				if !strings.Contains(last, want) {
					t.Errorf("error line %q lacks %q", last, want)
				}
			}
			// Nothing but the node's start-up line may come before it.
			if len(lines) > 2 || (len(lines) == 2 && !strings.Contains(lines[0], "extent-node starting")) {
				t.Errorf("stderr has more than the error line:\n%s", res.Stderr)
			}
		})
	}
}

func TestVersionAndHelp(t *testing.T) {
	bin := proctest.Build(t, ".")
	res := proctest.Run(t, readyTimeout, bin, "--version")
	if res.ExitCode != 0 || !strings.HasPrefix(res.Stdout, "extent-node version ") {
		t.Fatalf("--version: exit %d, stdout %q, stderr %q", res.ExitCode, res.Stdout, res.Stderr)
	}
	res = proctest.Run(t, readyTimeout, bin, "--help")
	for _, flag := range []string{"--listen", "--http", "--sm", "--disk", "--replica-timeout", "--max-inflight-batches", "--max-extent-size",
		"--full-report-every", "--repair-rate", "--scrub-rate", "--scrub-interval", "--high-water", "--compression", "--zero-ahead", "--log-level", "--log-format", "--version"} {
		if !strings.Contains(res.Stdout, flag) {
			t.Errorf("--help lacks %s", flag)
		}
	}
	if res.ExitCode != 0 {
		t.Fatalf("--help: exit %d", res.ExitCode)
	}
}
