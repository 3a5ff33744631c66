package e2e

// The fault suite (make test-faults; part of make test): real processes on
// 127.0.0.1, kill -9, bounded loops. A single writer appends numbered
// blocks while nodes, or the leading stream manager, are killed and
// restarted; afterwards every acknowledged block is in the stream exactly
// once and in order, and — for node kills — the reconciliation loop brings
// every sealed extent back to three identical replicas in bounded time.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clogs-io/clogs/conn"
	"github.com/clogs-io/clogs/extent"
	"github.com/clogs-io/clogs/internal/proctest"
	clogspb "github.com/clogs-io/clogs/proto"
	"github.com/clogs-io/clogs/streamclient"
	"github.com/clogs-io/clogs/streammanager"
)

// healingFlags make the manager heal in seconds rather than minutes.
var (
	healingSMFlags   = []string{"--reconcile-interval", "200ms", "--replica-dead-after", "4s", "--gc-grace", "3s"}
	healingNodeFlags = []string{"--full-report-every", "2"}
)

// faultClient is a client whose writer rolls over every ~256 KiB, so that
// a run crosses many extents and seals.
func faultClient(t *testing.T, managers ...string) *streamclient.Client {
	t.Helper()
	cfg := streamclient.DefaultConfig()
	cfg.Managers = managers
	cfg.MaxExtentSize = 256 << 10
	cfg.CallTimeout = 3 * time.Second
	cfg.Conn.DialTimeout = time.Second
	cfg.Attempts = 20
	cfg.MaxBackoff = time.Second
	cl, err := streamclient.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// chaosWriter appends testBlock(0), testBlock(1), … until stopped. An
// append that fails without landing (the writer knows) is tried again;
// one whose outcome is unknown ends the run, since the test could no
// longer say what the stream must hold.
type chaosWriter struct {
	mu      sync.Mutex
	acked   []streamclient.Address // guarded by mu
	ackedAt []time.Time            // guarded by mu
	retries int                    // guarded by mu
	stop    chan struct{}
	done    chan struct{}
	err     error // set before done is closed
}

func startChaosWriter(ctx context.Context, w *streamclient.Writer) *chaosWriter {
	cw := &chaosWriter{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(cw.done)
		for seq := 0; ; {
			select {
			case <-cw.stop:
				return
			default:
			}
			addrs, err := w.Append(ctx, testBlock(seq))
			switch {
			case err == nil:
				cw.mu.Lock()
				cw.acked = append(cw.acked, addrs[0])
				cw.ackedAt = append(cw.ackedAt, time.Now())
				cw.mu.Unlock()
				seq++
			case errors.Is(err, streamclient.ErrOutcomeUnknown) || ctx.Err() != nil:
				cw.err = fmt.Errorf("append of block %d: %w", seq, err)
				return
			default:
				cw.mu.Lock()
				cw.retries++
				cw.mu.Unlock()
			}
		}
	}()
	return cw
}

func (cw *chaosWriter) count() int {
	cw.mu.Lock()
	defer cw.mu.Unlock()
	return len(cw.acked)
}

// progress waits until n more blocks are acknowledged than now.
func (cw *chaosWriter) progress(ctx context.Context, t *testing.T, n int, what string) {
	t.Helper()
	want := cw.count() + n
	for cw.count() < want {
		select {
		case <-cw.done:
			t.Fatalf("%s: the writer stopped after %d blocks: %v", what, cw.count(), cw.err)
		case <-ctx.Done():
			t.Fatalf("%s: %d of %d blocks acknowledged: %v", what, cw.count(), want, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// finish stops the writer and returns what it acknowledged and when.
func (cw *chaosWriter) finish(t *testing.T) ([]streamclient.Address, []time.Time) {
	t.Helper()
	close(cw.stop)
	<-cw.done
	if cw.err != nil {
		t.Fatalf("the writer did not survive: %v (after %d blocks)", cw.err, cw.count())
	}
	cw.mu.Lock()
	defer cw.mu.Unlock()
	t.Logf("%d blocks acknowledged, %d appends retried", len(cw.acked), cw.retries)
	return slices.Clone(cw.acked), slices.Clone(cw.ackedAt)
}

// killNodes kills nodes idx with SIGKILL and starts them again on the
// same disks and addresses once the manager counts them dead. With one
// node down the writer must keep going meanwhile; with two, the tail may
// have lost two of its three replicas and cannot be sealed until one
// returns (DESIGN.md: a seal needs two answers), so it need not.
func (c *cluster) killNodes(ctx context.Context, t *testing.T, cl *streamclient.Client, cw *chaosWriter, idx ...int) {
	t.Helper()
	for _, i := range idx {
		c.nodes[i].Kill()
	}
	if len(idx) == 1 {
		cw.progress(ctx, t, 30, fmt.Sprintf("with node %d dead", idx[0]))
	}
	c.waitDead(ctx, t, cl, idx...)
	for _, i := range idx {
		c.launchNode(i)
	}
	for _, i := range idx {
		if err := c.nodes[i].WaitReady(c.nodeAddrs[i], readyTimeout); err != nil {
			t.Fatal(err)
		}
	}
	cw.progress(ctx, t, 30, fmt.Sprintf("after nodes %v came back", idx))
}

// waitDead waits until the manager no longer counts nodes idx alive.
func (c *cluster) waitDead(ctx context.Context, t *testing.T, cl *streamclient.Client, idx ...int) {
	t.Helper()
	deadCtx, cancel := context.WithTimeout(ctx, aliveTimeout)
	defer cancel()
	for {
		callCtx, callCancel := context.WithTimeout(deadCtx, 2*time.Second)
		resp, err := cl.NodesInfo(callCtx)
		callCancel()
		alive := 0
		for _, st := range resp.GetNodes() {
			for _, i := range idx {
				if st.Alive && st.Node.Addr == c.nodeAddrs[i] {
					alive++
				}
			}
		}
		if err == nil && alive == 0 {
			return
		}
		select {
		case <-deadCtx.Done():
			t.Fatalf("nodes %v still count as alive: %v", idx, err)
		case <-time.After(pollEvery):
		}
	}
}

// waitHealed waits until every sealed extent of stream has three replicas
// that read back the same blocks, as many as its sealed length holds.
func waitHealed(ctx context.Context, t *testing.T, c *cluster, cl *streamclient.Client, stream string) {
	t.Helper()
	healCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var last error
	for healCtx.Err() == nil {
		if last = c.sealedReplicasAgree(healCtx, cl, stream); last == nil {
			return
		}
		select {
		case <-healCtx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
	t.Fatalf("replicas not healed within 60s: %v", last)
}

// sealedReplicasAgree checks every sealed extent of stream once.
func (c *cluster) sealedReplicasAgree(ctx context.Context, cl *streamclient.Client, stream string) error {
	layout, err := cl.StreamInfo(ctx, stream)
	if err != nil {
		return err
	}
	for _, e := range layout.Extents {
		if !e.Sealed {
			continue
		}
		if len(e.Replicas) != 3 {
			return fmt.Errorf("extent %d has %d replicas", e.Id, len(e.Replicas))
		}
		var first [][]byte
		for _, r := range e.Replicas {
			blocks, end, err := c.readReplica(ctx, r.Addr, e.Id)
			if err != nil {
				return fmt.Errorf("extent %d on %s: %w", e.Id, r.Addr, err)
			}
			if end != e.SealedLength {
				return fmt.Errorf("extent %d on %s ends at %d, sealed at %d", e.Id, r.Addr, end, e.SealedLength)
			}
			if first == nil {
				first = blocks
			} else if !slices.EqualFunc(blocks, first, bytes.Equal) {
				return fmt.Errorf("extent %d: the replica on %s differs", e.Id, r.Addr)
			}
		}
	}
	return nil
}

// readReplica reads a sealed extent whole from the node at addr and
// returns its payloads and where they end.
func (c *cluster) readReplica(ctx context.Context, addr string, id uint64) ([][]byte, uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cc, err := c.pool.Get(ctx, addr)
	if err != nil {
		return nil, 0, err
	}
	stream, err := clogspb.NewExtentServiceClient(cc).ReadBlocks(ctx, &clogspb.ReadBlocksRequest{ExtentId: id, Offset: extent.ExtentHeaderSize, MaxBytes: 64 << 20})
	if err != nil {
		return nil, 0, err
	}
	var blocks [][]byte
	end := uint64(extent.ExtentHeaderSize)
	for {
		msg, err := stream.Recv()
		if err == io.EOF {
			return blocks, end, nil
		}
		if err != nil {
			return nil, 0, err
		}
		if !msg.Sealed {
			return nil, 0, fmt.Errorf("not sealed")
		}
		for _, b := range msg.Blocks {
			blocks = append(blocks, b.Payload)
		}
		end = msg.NextOffset
	}
}

// TestFaultsKillNodesOneAtATime: four nodes; each in turn is killed -9
// and restarted while a single writer appends. Every acknowledged block is
// there once and in order, and every sealed extent heals to three
// identical replicas.
func TestFaultsKillNodesOneAtATime(t *testing.T) {
	const stream = "faults/one-at-a-time"
	ctx := testContext(t, 4*time.Minute)
	c := startClusterWith(t, 4, healingSMFlags, healingNodeFlags)
	cl := faultClient(t, c.smAddr)
	waitAlive(ctx, t, cl, 4)
	w, err := cl.OpenWriter(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	cw := startChaosWriter(ctx, w)
	cw.progress(ctx, t, 50, "before any kill")
	for round := range 4 {
		c.killNodes(ctx, t, cl, cw, round)
	}
	acked, _ := cw.finish(t)
	checkBlocks(t, "after the kills", readAll(ctx, t, cl, stream), acked)
	waitHealed(ctx, t, c, cl, stream)
}

// TestFaultsKillTwoNodesAtOnce: five nodes; two at a time are killed -9
// and restarted while a single writer appends.
func TestFaultsKillTwoNodesAtOnce(t *testing.T) {
	const stream = "faults/two-at-once"
	ctx := testContext(t, 4*time.Minute)
	c := startClusterWith(t, 5, healingSMFlags, healingNodeFlags)
	cl := faultClient(t, c.smAddr)
	waitAlive(ctx, t, cl, 5)
	w, err := cl.OpenWriter(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	cw := startChaosWriter(ctx, w)
	cw.progress(ctx, t, 50, "before any kill")
	for _, pair := range [][]int{{0, 1}, {2, 3}, {4, 0}} {
		c.killNodes(ctx, t, cl, cw, pair...)
	}
	acked, _ := cw.finish(t)
	checkBlocks(t, "after the kills", readAll(ctx, t, cl, stream), acked)
	waitHealed(ctx, t, c, cl, stream)
}

// haCluster is three stream managers forming one embedded etcd cluster
// and three extent-nodes, as processes.
type haCluster struct {
	*cluster
	managers []*proctest.Process
	smAddrs  []string
	smHTTP   []string
}

func startHACluster(t *testing.T) *haCluster {
	t.Helper()
	addrs := proctest.FreeAddrs(t, 3*4+3)
	root := t.TempDir()
	h := &haCluster{cluster: &cluster{t: t, nodeBin: proctest.Build(t, "github.com/clogs-io/clogs/cmd/extent-node"),
		nodeAddrs: addrs[12:], nodes: make([]*proctest.Process, 3)}}
	smBin := proctest.Build(t, "github.com/clogs-io/clogs/cmd/stream-manager")
	var members []string
	for i := range 3 {
		members = append(members, fmt.Sprintf("sm%d=http://%s", i+1, addrs[4*i+3]))
	}
	for i := range 3 {
		grpcAddr, httpAddr, client, peer := addrs[4*i], addrs[4*i+1], addrs[4*i+2], addrs[4*i+3]
		h.smAddrs, h.smHTTP = append(h.smAddrs, grpcAddr), append(h.smHTTP, httpAddr)
		h.managers = append(h.managers, proctest.Start(t, fmt.Sprintf("sm%d", i+1), smBin,
			"--name", fmt.Sprintf("sm%d", i+1), "--listen", grpcAddr, "--http", httpAddr,
			"--data-dir", filepath.Join(root, fmt.Sprintf("sm%d", i+1)),
			"--etcd-client-url", "http://"+client, "--etcd-peer-url", "http://"+peer,
			"--initial-cluster", strings.Join(members, ","),
			"--session-ttl", "2s", "--node-dead-after", "3s", "--seal-timeout", "2s"))
	}
	for i, p := range h.managers {
		if err := p.WaitReady(h.smAddrs[i], readyTimeout); err != nil {
			t.Fatal(err)
		}
	}
	h.smAddr = strings.Join(h.smAddrs, ",")
	for i := range 3 {
		h.nDirs = append(h.nDirs, filepath.Join(root, fmt.Sprintf("node%d", i+1)))
	}
	cfg := conn.DefaultConfig()
	cfg.DialTimeout = 2 * time.Second
	pool, err := conn.NewPool(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Close() })
	h.pool = pool
	for i := range 3 {
		h.launchNode(i)
	}
	for i, p := range h.nodes {
		if err := p.WaitReady(h.nodeAddrs[i], readyTimeout); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

// leader returns the index of the manager that leads, by their /status.
func (h *haCluster) leader(ctx context.Context, t *testing.T) int {
	t.Helper()
	web := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for ctx.Err() == nil {
		for i, addr := range h.smHTTP {
			if h.managers[i].Exited() {
				continue
			}
			resp, err := web.Get("http://" + addr + "/status")
			if err != nil {
				continue
			}
			var st streammanager.Status
			err = json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
			if err == nil && st.IsLeader {
				return i
			}
		}
		time.Sleep(pollEvery)
	}
	t.Fatal("no manager leads")
	return -1
}

// TestFaultsKillLeaderManager: three managers; the leader is killed -9
// while a single writer appends (rolling over often, so it needs a
// manager). Appends resume within 10 s and nothing acknowledged is lost.
func TestFaultsKillLeaderManager(t *testing.T) {
	const stream = "faults/leader"
	ctx := testContext(t, 4*time.Minute)
	h := startHACluster(t)
	cl := faultClient(t, h.smAddrs...)
	waitAlive(ctx, t, cl, 3)
	w, err := cl.OpenWriter(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	cw := startChaosWriter(ctx, w)
	cw.progress(ctx, t, 50, "before the kill")
	victim := h.leader(ctx, t)
	killedAt := time.Now()
	h.managers[victim].Kill()
	t.Logf("killed sm%d, the leader", victim+1)
	cw.progress(ctx, t, 200, "after the leader died")
	newLeader := h.leader(ctx, t)
	acked, ackedAt := cw.finish(t)
	if newLeader == victim {
		t.Fatal("the killed manager still leads")
	}
	gap := longestGapAfter(ackedAt, killedAt)
	t.Logf("sm%d leads now; the longest pause between acknowledgements after the kill was %v", newLeader+1, gap.Round(time.Millisecond))
	if gap > 10*time.Second {
		t.Fatalf("appends paused for %v after the leader died; want them back within 10s", gap)
	}
	checkBlocks(t, "after the leader died", readAll(ctx, t, cl, stream), acked)
}

// longestGapAfter is the longest time without an acknowledgement from
// since on.
func longestGapAfter(at []time.Time, since time.Time) time.Duration {
	var longest time.Duration
	prev := since
	for _, a := range at {
		if a.Before(since) {
			continue
		}
		longest = max(longest, a.Sub(prev))
		prev = a
	}
	return longest
}
