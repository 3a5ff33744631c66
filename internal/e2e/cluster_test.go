package e2e

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/clogs-io/clogs/conn"
	"github.com/clogs-io/clogs/extent"
	"github.com/clogs-io/clogs/internal/proctest"
	clogspb "github.com/clogs-io/clogs/proto"
	"github.com/clogs-io/clogs/streamclient"
)

// cluster is a stream manager and extent-nodes as real processes. Their
// addresses and directories stay the same across restarts unless a test
// moves a node.
type cluster struct {
	t                *testing.T
	smBin, nodeBin   string
	smAddr           string // gRPC
	clientURL, peer  string // the embedded etcd member's
	smDir            string
	sm               *proctest.Process
	nodeAddrs, nDirs []string
	nodes            []*proctest.Process
	pool             *conn.Pool // for the nodes' ExtentService
	// smFlags and nodeFlags are added to every start of the manager and
	// of each node.
	smFlags, nodeFlags []string
}

func startCluster(t *testing.T, nodes int) *cluster {
	t.Helper()
	return startClusterWith(t, nodes, nil, nil)
}

// startClusterWith is startCluster with extra flags for the manager and
// the nodes.
func startClusterWith(t *testing.T, nodes int, smFlags, nodeFlags []string) *cluster {
	t.Helper()
	addrs := proctest.FreeAddrs(t, 3+nodes)
	root := t.TempDir()
	c := &cluster{
		t: t, smBin: proctest.Build(t, "github.com/clogs-io/clogs/cmd/stream-manager"),
		nodeBin: proctest.Build(t, "github.com/clogs-io/clogs/cmd/extent-node"),
		smAddr:  addrs[0], clientURL: "http://" + addrs[1], peer: "http://" + addrs[2],
		smDir: filepath.Join(root, "sm1"), nodeAddrs: addrs[3:], nodes: make([]*proctest.Process, nodes),
		smFlags: smFlags, nodeFlags: nodeFlags,
	}
	for i := range nodes {
		c.nDirs = append(c.nDirs, filepath.Join(root, fmt.Sprintf("node%d", i+1)))
	}
	cfg := conn.DefaultConfig()
	cfg.DialTimeout = 2 * time.Second
	pool, err := conn.NewPool(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.pool = pool
	t.Cleanup(func() { pool.Close() })
	c.startAll()
	return c
}

// startAll starts the manager, then every node, and waits until each
// accepts connections.
func (c *cluster) startAll() {
	c.t.Helper()
	c.sm = proctest.Start(c.t, "sm1", c.smBin, append([]string{
		"--name", "sm1", "--listen", c.smAddr, "--http", "", "--data-dir", c.smDir,
		"--etcd-client-url", c.clientURL, "--etcd-peer-url", c.peer, "--initial-cluster", "sm1=" + c.peer,
		"--session-ttl", "2s", "--node-dead-after", "3s", "--seal-timeout", "2s"}, c.smFlags...)...)
	if err := c.sm.WaitReady(c.smAddr, readyTimeout); err != nil {
		c.t.Fatal(err)
	}
	for i := range c.nodes {
		c.launchNode(i)
	}
	for i, p := range c.nodes {
		if err := p.WaitReady(c.nodeAddrs[i], readyTimeout); err != nil {
			c.t.Fatal(err)
		}
	}
}

// launchNode starts node i on its address and disk.
func (c *cluster) launchNode(i int) {
	c.t.Helper()
	c.nodes[i] = proctest.Start(c.t, fmt.Sprintf("node%d", i+1), c.nodeBin, append([]string{
		"--listen", c.nodeAddrs[i], "--http", "", "--sm", c.smAddr, "--disk", c.nDirs[i],
		"--heartbeat-interval", "200ms", "--replica-timeout", "2s"}, c.nodeFlags...)...)
	// A connection to the previous process would wait out gRPC's backoff.
	c.pool.Remove(c.nodeAddrs[i])
}

// stopAll sends SIGTERM to every process still running, all at once, and
// checks that each exits 0.
func (c *cluster) stopAll() {
	c.t.Helper()
	var wg sync.WaitGroup
	for _, p := range append([]*proctest.Process{c.sm}, c.nodes...) {
		if p.Exited() {
			continue
		}
		wg.Go(func() {
			if code, err := p.Stop(stopTimeout); err != nil || code != 0 {
				c.t.Errorf("%s after SIGTERM: exit %d, %v; want 0", p.Name(), code, err)
			}
		})
	}
	wg.Wait()
}

// node returns the index of the node at addr.
func (c *cluster) node(addr string) int {
	c.t.Helper()
	i := slices.Index(c.nodeAddrs, addr)
	if i < 0 {
		c.t.Fatalf("no node at %s", addr)
	}
	return i
}

// commitLength asks node i for extent id's commit length, without fencing.
func (c *cluster) commitLength(ctx context.Context, i int, id uint64) (*clogspb.CommitLengthResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cc, err := c.pool.Get(ctx, c.nodeAddrs[i])
	if err != nil {
		return nil, err
	}
	return clogspb.NewExtentServiceClient(cc).CommitLength(ctx, &clogspb.CommitLengthRequest{ExtentId: id})
}

// sealedFile reads extent id's file on node i's disk and checks that it is
// sealed on disk at length: the file is that long and the sealed-length
// attribute says so.
func (c *cluster) sealedFile(i int, id, length uint64) []byte {
	c.t.Helper()
	path := filepath.Join(c.nDirs[i], extent.FileName(id))
	b, err := os.ReadFile(path)
	if err != nil {
		c.t.Fatal(err)
	}
	attr := make([]byte, 32)
	n, err := unix.Getxattr(path, extent.SealedXattr, attr)
	if err != nil {
		c.t.Fatalf("node%d, extent %d: %s: %v", i+1, id, extent.SealedXattr, err)
	}
	if got := string(attr[:n]); got != strconv.FormatUint(length, 10) || uint64(len(b)) != length {
		c.t.Fatalf("node%d, extent %d: %d bytes, sealed-length attribute %q; want sealed at %d", i+1, id, len(b), got, length)
	}
	return b
}

// writer appends numbered blocks to one stream from one goroutine and
// records the address of each acknowledged one.
type writer struct {
	mu      sync.Mutex
	acked   []streamclient.Address // guarded by mu; acked[seq]
	slowest time.Duration          // guarded by mu
	slowSeq int                    // guarded by mu
	done    chan struct{}
	err     error // set before done is closed
}

// startWriter appends blocks 0 … total-1 to w, one at a time, until one
// fails or ctx ends.
func startWriter(ctx context.Context, w *streamclient.Writer, total int) *writer {
	wr := &writer{done: make(chan struct{})}
	go func() {
		defer close(wr.done)
		for seq := range total {
			began := time.Now()
			addrs, err := w.Append(ctx, testBlock(seq))
			if err != nil {
				wr.err = fmt.Errorf("append of block %d: %w", seq, err)
				return
			}
			wr.record(addrs[0], time.Since(began))
		}
	}()
	return wr
}

func (wr *writer) record(addr streamclient.Address, took time.Duration) {
	wr.mu.Lock()
	defer wr.mu.Unlock()
	if took > wr.slowest {
		wr.slowest, wr.slowSeq = took, len(wr.acked)
	}
	wr.acked = append(wr.acked, addr)
}

func (wr *writer) count() int {
	wr.mu.Lock()
	defer wr.mu.Unlock()
	return len(wr.acked)
}

// waitFor waits until n blocks are acknowledged, failing the test if the
// writer stops or ctx ends first.
func (wr *writer) waitFor(ctx context.Context, t *testing.T, n int) {
	t.Helper()
	for wr.count() < n {
		select {
		case <-wr.done:
			if wr.count() < n {
				t.Fatalf("the writer stopped after %d blocks: %v", wr.count(), wr.err)
			}
		case <-ctx.Done():
			t.Fatalf("%d of %d blocks acknowledged: %v", wr.count(), n, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// wait waits for the writer to finish and returns every acknowledged
// address.
func (wr *writer) wait(t *testing.T) []streamclient.Address {
	t.Helper()
	<-wr.done
	if wr.err != nil {
		t.Fatalf("the writer did not survive: %v (after %d blocks)", wr.err, wr.count())
	}
	wr.mu.Lock()
	defer wr.mu.Unlock()
	t.Logf("slowest append: block %d, %v", wr.slowSeq, wr.slowest.Round(time.Millisecond))
	return slices.Clone(wr.acked)
}

// TestKillPrimaryMidWrite: kill -9 of the node holding the tail's primary
// while a single writer appends costs the writer a few seconds, never a
// block: every acknowledged block reads back exactly once and in order,
// the old tail is sealed with identical replicas, and writing goes on in a
// new extent. All of it reads back again after a restart of everything.
func TestKillPrimaryMidWrite(t *testing.T) {
	const (
		stream     = "e2e/kill-primary"
		beforeKill = 100
		total      = 200
	)
	ctx := testContext(t, 80*time.Second)
	c := startCluster(t, 4)
	cl := newClient(t, c.smAddr)
	nodeIDs := waitAlive(ctx, t, cl, 4)

	w, err := cl.OpenWriter(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	wr := startWriter(ctx, w, total)
	wr.waitFor(ctx, t, beforeKill)
	oldTail, victim := c.killTailPrimary(ctx, cl, stream)
	ackedAtKill := wr.count()
	acked := wr.wait(t)
	t.Logf("killed node%d, the primary of extent %d, after %d acknowledged blocks", victim+1, oldTail, ackedAtKill)
	if ackedAtKill >= total {
		t.Fatalf("the writer was done before the kill")
	}

	checkBlocks(t, "after the kill", readAll(ctx, t, cl, stream), acked)
	layout, err := cl.StreamInfo(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	sealed := checkSealedTail(t, layout, oldTail, victim, c, acked)
	c.checkLiveReplicas(sealed, victim)

	other := c.node(sealed.Replicas[1].Addr) // a replica that stayed up
	c.stopAll()
	// Fresh node ports: the old ones may have been taken meanwhile by
	// other tests, and nodes are found by ID, not address.
	for i := range c.nodeAddrs {
		c.nodeAddrs[i] = proctest.FreeAddr(t)
	}
	c.startAll()
	cl = newClient(t, c.smAddr)
	if again := waitAlive(ctx, t, cl, 4, c.nodeAddrs...); !slices.Equal(sortedIDs(again), sortedIDs(nodeIDs)) {
		t.Fatalf("node IDs before the restart %v, after %v; want the same", nodeIDs, again)
	}
	checkBlocks(t, "after the restart", readAfterRestart(ctx, t, cl, stream), acked)
	c.checkRestartedReplica(ctx, sealed, victim, other)
}

// sortedIDs returns the node IDs of an address-to-ID map, sorted.
func sortedIDs(ids map[string]uint64) []uint64 {
	return slices.Sorted(maps.Values(ids))
}

// readAfterRestart reads the stream back after every process restarted,
// trying for up to 10s. Its tail is unsealed, and every replica of it comes
// back recovering (its replica set and acked end died with the process),
// so the reader has the manager seal it before it can read it.
func readAfterRestart(ctx context.Context, t *testing.T, cl *streamclient.Client, stream string) []streamclient.Block {
	t.Helper()
	readCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var err error
	for readCtx.Err() == nil {
		var blocks []streamclient.Block
		if blocks, err = readStream(readCtx, cl, stream); err == nil {
			return blocks
		}
		select {
		case <-readCtx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
	t.Errorf("after a restart of every process, a reader cannot read the acknowledged blocks of the unsealed tail "+
		"until a writer seals it: %v", err)
	if _, err := cl.OpenWriter(ctx, stream); err != nil { // seals the tail
		t.Fatal(err)
	}
	return readAll(ctx, t, cl, stream)
}

// killTailPrimary kills -9 the node holding the primary of the stream's
// tail, and returns the tail's ID and the node's index.
func (c *cluster) killTailPrimary(ctx context.Context, cl *streamclient.Client, stream string) (uint64, int) {
	c.t.Helper()
	layout, err := cl.StreamInfo(ctx, stream)
	if err != nil {
		c.t.Fatal(err)
	}
	tail := layout.Extents[len(layout.Extents)-1]
	victim := c.node(tail.Replicas[0].Addr)
	c.nodes[victim].Kill()
	return tail.Id, victim
}

// checkSealedTail checks the metadata after the kill: the old tail is
// sealed, not cut short of an acknowledged block, and later blocks are in
// newer extents, none on the killed node. It returns the old tail.
func checkSealedTail(t *testing.T, layout *clogspb.StreamResponse, oldTail uint64, victim int, c *cluster, acked []streamclient.Address) *clogspb.ExtentMeta {
	t.Helper()
	at := slices.IndexFunc(layout.Extents, func(e *clogspb.ExtentMeta) bool { return e.Id == oldTail })
	if at < 0 {
		t.Fatalf("extent %d left the stream", oldTail)
	}
	tail := layout.Extents[at]
	if !tail.Sealed {
		t.Fatalf("extent %d, the tail at the kill, is not sealed: %v", oldTail, tail)
	}
	inTail, after := 0, 0
	for seq, a := range acked {
		switch i := slices.IndexFunc(layout.Extents, func(e *clogspb.ExtentMeta) bool { return e.Id == a.Extent }); {
		case a.Extent == oldTail:
			inTail++
			if end := a.Offset + extent.BlockSize(len(testBlock(seq).Payload)); end > tail.SealedLength {
				t.Fatalf("block %d ends at %d in extent %d, sealed at %d", seq, end, oldTail, tail.SealedLength)
			}
		case i > at:
			after++
		}
	}
	t.Logf("extent %d sealed at %d with %d blocks; %d blocks in %d newer extents",
		oldTail, tail.SealedLength, inTail, after, len(layout.Extents)-at-1)
	if inTail == 0 || after == 0 || acked[len(acked)-1].Extent == oldTail {
		t.Fatalf("%d blocks in extent %d, %d after it: writing did not go on in a new extent", inTail, oldTail, after)
	}
	for _, e := range layout.Extents[at+1:] {
		for _, r := range e.Replicas {
			if r.Addr == c.nodeAddrs[victim] {
				t.Errorf("extent %d, made after the kill, has a replica on the killed node%d", e.Id, victim+1)
			}
		}
	}
	return tail
}

// checkLiveReplicas checks that the replicas of e on live nodes are sealed
// on disk at its sealed length and byte-identical after the extent header
// (which holds each replica's own creation time).
func (c *cluster) checkLiveReplicas(e *clogspb.ExtentMeta, victim int) {
	c.t.Helper()
	if c.node(e.Replicas[0].Addr) != victim {
		c.t.Fatalf("extent %d's primary is %s, not the killed node%d", e.Id, e.Replicas[0].Addr, victim+1)
	}
	var first []byte
	for _, r := range e.Replicas[1:] {
		i := c.node(r.Addr)
		b := c.sealedFile(i, e.Id, e.SealedLength)
		if first == nil {
			first = b
		} else if !bytes.Equal(b[extent.ExtentHeaderSize:], first[extent.ExtentHeaderSize:]) {
			c.t.Fatalf("the live replicas of extent %d differ below its sealed length %d", e.Id, e.SealedLength)
		}
	}
}

// checkRestartedReplica: the killed node's replica of e, back after the
// restart, is sealed by the manager's heartbeat answer at e's sealed length
// and is then identical to the others; unless it is shorter than that
// length (the node died before its own write of the last blocks was
// durable), which needs a repair rather than a seal.
func (c *cluster) checkRestartedReplica(ctx context.Context, e *clogspb.ExtentMeta, victim, other int) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		resp, err := c.commitLength(ctx, victim, e.Id)
		switch {
		case err == nil && resp.Sealed:
			b := c.sealedFile(victim, e.Id, e.SealedLength)
			survivor := c.sealedFile(other, e.Id, e.SealedLength)
			if !bytes.Equal(b[extent.ExtentHeaderSize:], survivor[extent.ExtentHeaderSize:]) {
				c.t.Fatalf("the restarted node%d's replica of extent %d differs from the others below the sealed length", victim+1, e.Id)
			}
			c.t.Logf("the restarted node%d's replica of extent %d is sealed at %d and identical to the others", victim+1, e.Id, e.SealedLength)
			return
		case err == nil && resp.Length < e.SealedLength:
			c.t.Logf("the restarted node%d's replica of extent %d ends at %d, short of the sealed length %d: it awaits repair",
				victim+1, e.Id, resp.Length, e.SealedLength)
			return
		}
		select {
		case <-ctx.Done():
			c.t.Fatalf("the restarted node%d's replica of extent %d is not sealed at %d: %v, %v", victim+1, e.Id, e.SealedLength, resp, err)
		case <-time.After(pollEvery):
		}
	}
}

// TestNodeMovesAddress: a node restarted at another address keeps its node
// ID (its UUID is on its disk), and the stream layouts follow it: every
// replica is listed at its node's current address, so that readers, seals
// and writers reach it there.
func TestNodeMovesAddress(t *testing.T) {
	const stream = "e2e/moved"
	ctx := testContext(t, 60*time.Second)
	c := startCluster(t, 3)
	cl := newClient(t, c.smAddr)
	before := waitAlive(ctx, t, cl, 3)
	w, err := cl.OpenWriter(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	acked := startWriter(ctx, w, 10).wait(t)

	// Move a secondary of the tail, so that the tail stays readable from
	// its primary.
	layout, err := cl.StreamInfo(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	moved := c.node(layout.Extents[len(layout.Extents)-1].Replicas[2].Addr)
	if code, err := c.nodes[moved].Stop(stopTimeout); err != nil || code != 0 {
		t.Fatalf("node%d after SIGTERM: exit %d, %v", moved+1, code, err)
	}
	oldAddr := c.nodeAddrs[moved]
	c.nodeAddrs[moved] = proctest.FreeAddr(t)
	c.launchNode(moved)
	if err := c.nodes[moved].WaitReady(c.nodeAddrs[moved], readyTimeout); err != nil {
		t.Fatal(err)
	}
	// Until the node re-registers, its record (alive for a while yet)
	// still shows the old address: wait for the new one.
	after := waitAlive(ctx, t, cl, 3, c.nodeAddrs[moved])
	if id := after[c.nodeAddrs[moved]]; id != before[oldAddr] {
		t.Fatalf("node%d moved from %s to %s: node ID %d, was %d", moved+1, oldAddr, c.nodeAddrs[moved], id, before[oldAddr])
	}
	checkBlocks(t, "after a node moved", readAll(ctx, t, cl, stream), acked)
	checkReplicaAddrs(ctx, t, cl, stream, after)
}

// checkReplicaAddrs checks that the stream's layout lists every replica at
// its node's current address (addrs: node ID by alive address).
func checkReplicaAddrs(ctx context.Context, t *testing.T, cl *streamclient.Client, stream string, addrs map[string]uint64) {
	t.Helper()
	current := map[uint64]string{}
	for addr, id := range addrs {
		current[id] = addr
	}
	layout, err := cl.StreamInfo(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range layout.Extents {
		for _, r := range e.Replicas {
			if r.Addr != current[r.NodeId] {
				t.Errorf("extent %d lists its replica on node %d at %s; the node is at %s now", e.Id, r.NodeId, r.Addr, current[r.NodeId])
			}
		}
	}
}

// TestIdleWriterPrimaryDies: the tail's primary dies while its writer is
// idle, so the writer's next append meets a connection that is down
// rather than one that breaks. The append still succeeds (on a new
// extent), as it does when the node dies mid-write.
func TestIdleWriterPrimaryDies(t *testing.T) {
	const stream = "e2e/idle-writer"
	ctx := testContext(t, 60*time.Second)
	c := startCluster(t, 4)
	cl := newClient(t, c.smAddr)
	waitAlive(ctx, t, cl, 4)
	w, err := cl.OpenWriter(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	acked := startWriter(ctx, w, 5).wait(t)
	_, victim := c.killTailPrimary(ctx, cl, stream)
	// Long enough for the client to see its connection to the node drop.
	time.Sleep(500 * time.Millisecond)
	began := time.Now()
	addrs, err := w.Append(ctx, testBlock(len(acked)))
	if err != nil {
		t.Fatalf("append %v after node%d, the tail's primary, died while the writer was idle: %v",
			time.Since(began).Round(time.Millisecond), victim+1, err)
	}
	checkBlocks(t, "after an idle writer's primary died", readAll(ctx, t, cl, stream), append(acked, addrs[0]))
}
