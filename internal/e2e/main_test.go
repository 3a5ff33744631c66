package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"testing"
	"time"

	"github.com/clogs-io/clogs/extent"
	"github.com/clogs-io/clogs/internal/proctest"
	"github.com/clogs-io/clogs/streamclient"
)

// TestMain removes the binaries proctest built. No goleak: what these
// tests start are processes, which proctest and the tests' cleanups end.
func TestMain(m *testing.M) {
	code := m.Run()
	proctest.RemoveBuilds()
	os.Exit(code)
}

// Bounds on waits; generous, because the commands run with the race
// detector when the tests do.
const (
	// readyTimeout: a manager's embedded etcd must start and elect itself.
	readyTimeout = 60 * time.Second
	stopTimeout  = 20 * time.Second
	// aliveTimeout: nodes register and heartbeat once the manager leads.
	aliveTimeout = 30 * time.Second
	pollEvery    = 100 * time.Millisecond
)

// newClient makes a streamclient for the managers at addrs, with short
// call and dial timeouts so that a dead node costs seconds, not tens.
func newClient(t *testing.T, addrs ...string) *streamclient.Client {
	t.Helper()
	cfg := streamclient.DefaultConfig()
	cfg.Managers = addrs
	cfg.CallTimeout = 5 * time.Second
	cfg.Conn.DialTimeout = 2 * time.Second
	cfg.Attempts = 10
	cl, err := streamclient.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// testContext is bounded by limit and by the test's own deadline.
func testContext(t *testing.T, limit time.Duration) context.Context {
	deadline := time.Now().Add(limit)
	if d, ok := t.Deadline(); ok && d.Before(deadline) {
		deadline = d.Add(-5 * time.Second) // leave time for cleanups and logs
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	t.Cleanup(cancel)
	return ctx
}

// waitAlive polls the leading manager until want nodes are alive, and
// returns the node IDs by address.
func waitAlive(ctx context.Context, t *testing.T, cl *streamclient.Client, want int, at ...string) map[string]uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, aliveTimeout)
	defer cancel()
	for {
		callCtx, callCancel := context.WithTimeout(ctx, 2*time.Second)
		resp, err := cl.NodesInfo(callCtx)
		callCancel()
		ids := map[string]uint64{}
		for _, st := range resp.GetNodes() {
			if st.Alive {
				ids[st.Node.Addr] = st.Node.Id
			}
		}
		if len(ids) >= want && allPresent(ids, at) {
			return ids
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d of %d nodes alive after %v (last error %v)", len(ids), want, aliveTimeout, err)
		case <-time.After(pollEvery):
		}
	}
}

// allPresent reports whether every address in at is a key of ids.
func allPresent(ids map[string]uint64, at []string) bool {
	for _, addr := range at {
		if _, ok := ids[addr]; !ok {
			return false
		}
	}
	return true
}

// testBlock is block number seq of a test stream: the number is in the user
// data and repeated through a payload of 12 bytes to 12 KiB, so that blocks
// straddle pages and a misplaced block shows.
func testBlock(seq int) extent.Block {
	tag := fmt.Sprintf("seq=%08d;", seq)
	payload := bytes.Repeat([]byte(tag), 1+(seq*7919)%1000)
	return extent.Block{Payload: payload, UserData: []byte(tag)}
}

// readAll reads stream name from its start to its end.
func readAll(ctx context.Context, t *testing.T, cl *streamclient.Client, name string) []streamclient.Block {
	t.Helper()
	blocks, err := readStream(ctx, cl, name)
	if err != nil {
		t.Fatal(err)
	}
	return blocks
}

// readStream reads stream name from its start to its end.
func readStream(ctx context.Context, cl *streamclient.Client, name string) ([]streamclient.Block, error) {
	r, err := cl.OpenReader(ctx, name, streamclient.Address{}, false)
	if err != nil {
		return nil, fmt.Errorf("open reader of %s: %w", name, err)
	}
	var out []streamclient.Block
	for {
		blocks, err := r.Next(ctx)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("read %s after %d blocks, at %v: %w", name, len(out), r.Position(), err)
		}
		out = append(out, blocks...)
	}
}

// checkBlocks checks that got is exactly block 0, 1, … len(acked)-1, each at
// the address its append was acknowledged with.
func checkBlocks(t *testing.T, what string, got []streamclient.Block, acked []streamclient.Address) {
	t.Helper()
	for i := range min(len(got), len(acked)) {
		want := testBlock(i)
		b := got[i]
		if !bytes.Equal(b.UserData, want.UserData) || !bytes.Equal(b.Payload, want.Payload) || b.Address != acked[i] {
			t.Fatalf("%s: block %d is %q at %v, want %q acknowledged at %v (a gap, a duplicate or a reorder)",
				what, i, b.UserData, b.Address, want.UserData, acked[i])
		}
	}
	if len(got) != len(acked) {
		t.Fatalf("%s: read %d blocks, %d were acknowledged", what, len(got), len(acked))
	}
}
