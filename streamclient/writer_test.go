package streamclient

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/clogs-io/clogs/extent"
	clogspb "github.com/clogs-io/clogs/proto"
)

// TestPipelinedWriterExactlyOnceInOrder: many goroutines append through
// one Writer at once, so several requests are in flight; some acks are
// lost after the replicas wrote, a node of the tail is stopped midway,
// and the tail rolls over. Every block reads back exactly once, each
// goroutine's blocks in the order it appended them, at the addresses the
// writer returned.
func TestPipelinedWriterExactlyOnceInOrder(t *testing.T) {
	c := startCluster(t, 4)
	cfg := DefaultConfig()
	cfg.MaxExtentSize = extent.ExtentHeaderSize + 120*extent.BlockSize(600)
	cfg.WriterInflight = 4
	cfg.WriterPipelineBytes = 0 // pipeline whatever is queued
	cl := c.client(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	w, err := cl.OpenWriter(ctx, "test/pipelined")
	if err != nil {
		t.Fatal(err)
	}
	first := w.layout.Extents[len(w.layout.Extents)-1]
	var mu sync.Mutex
	lost, requests := 0, 0
	cl.afterAppend = func(err error) error {
		mu.Lock()
		defer mu.Unlock()
		requests++
		if err == nil && requests%37 == 0 {
			lost++
			return status.Error(codes.Unavailable, "injected: ack lost after the replicas wrote")
		}
		return err
	}
	const writers, each = 8, 60
	acked := appendFromGoroutines(t, writers, each, func(g, i int) {
		if g == 0 && i == each/3 {
			stopNode(c, first.Replicas[1].Addr)
		}
	}, func(b extent.Block) ([]Address, error) { return w.Append(ctx, b) })
	if t.Failed() {
		return
	}
	if lost == 0 {
		t.Fatal("no ack was lost; the test did not exercise recovery")
	}
	seen := map[string]bool{}
	lastOf := map[int]int{}
	extents := map[uint64]bool{}
	for _, b := range readAll(t, cl, "test/pipelined") {
		key := string(b.UserData)
		if seen[key] {
			t.Fatalf("block %s read twice", key)
		}
		seen[key] = true
		if acked[key] != b.Address {
			t.Fatalf("block %s read at %v, the writer said %v", key, b.Address, acked[key])
		}
		var g, i int
		if _, err := fmt.Sscanf(key, "%d/%d", &g, &i); err != nil {
			t.Fatal(err)
		}
		if last, ok := lastOf[g]; ok && i != last+1 {
			t.Fatalf("writer %d: block %d follows %d", g, i, last)
		}
		lastOf[g] = i
		extents[b.Extent] = true
	}
	if len(seen) != writers*each {
		t.Fatalf("read %d blocks, appended %d", len(seen), writers*each)
	}
	if len(extents) < 3 {
		t.Fatalf("blocks in %d extents: neither the node loss nor rollovers moved the writer on", len(extents))
	}
	t.Logf("%d requests, %d acks lost, %d extents", requests, lost, len(extents))
}

// TestWriterLandsCutCallsOnce: a seal that cuts a request inside a call
// (a torn write on a replica) keeps the blocks the sealed length covers
// and leaves the rest, and every later call, to be written again.
func TestWriterLandsCutCallsOnce(t *testing.T) {
	block := func(n int) extent.Block { return extent.Block{Payload: make([]byte, n)} }
	a := &writeCall{blocks: []extent.Block{block(100), block(100)}, done: make(chan struct{})}
	b := &writeCall{blocks: []extent.Block{block(5000), block(100), block(100)}, done: make(chan struct{})}
	later := &writeCall{blocks: []extent.Block{block(1)}, done: make(chan struct{})}
	req := &writeRequest{tail: &clogspb.ExtentMeta{Id: 7}, start: 512, calls: []*writeCall{a, b, later}}
	// a's two blocks and b's first land: 512 + 2*612... the seal is
	// at the end of b's first block.
	sealed := uint64(512) + 2*extent.BlockSize(100) + extent.BlockSize(5000)
	w := &Writer{}
	rest := w.landLocked(req, sealed)
	if !slices.Equal(rest, []*writeCall{b, later}) {
		t.Fatalf("calls left to write: %v", rest)
	}
	select {
	case <-a.done:
	default:
		t.Fatal("call a landed whole but is not finished")
	}
	wantA := []Address{{7, 512}, {7, 512 + extent.BlockSize(100)}}
	if !slices.Equal(a.landed, wantA) {
		t.Fatalf("a landed at %v, want %v", a.landed, wantA)
	}
	if want := []Address{{7, 512 + 2*extent.BlockSize(100)}}; !slices.Equal(b.landed, want) {
		t.Fatalf("b landed at %v, want %v", b.landed, want)
	}
	if len(b.pending()) != 2 || len(later.landed) != 0 {
		t.Fatalf("b has %d blocks pending, later landed %d", len(b.pending()), len(later.landed))
	}
}

// testWriter is either kind of writer, for tests that hold for both.
type testWriter struct {
	append   func(ctx context.Context, blocks ...extent.Block) ([]Address, error)
	inflight func() int // requests awaiting an answer
}

// forEachWriterKind runs test as a subtest for each kind of writer.
func forEachWriterKind(t *testing.T, test func(t *testing.T, kind string)) {
	for _, kind := range []string{"single", "shared"} {
		t.Run(kind, func(t *testing.T) { test(t, kind) })
	}
}

func openTestWriter(t *testing.T, ctx context.Context, cl *Client, kind, name string) testWriter {
	t.Helper()
	if kind == "shared" {
		w, err := cl.OpenSharedWriter(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		return testWriter{w.Append, func() int { w.mu.Lock(); defer w.mu.Unlock(); return w.inflight }}
	}
	w, err := cl.OpenWriter(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	return testWriter{w.Append, func() int { w.mu.Lock(); defer w.mu.Unlock(); return w.inflight }}
}

// TestWriterCallerGivesUpBeforeSending: a call still queued when its
// caller's context ends is not written at all, by either writer.
func TestWriterCallerGivesUpBeforeSending(t *testing.T) {
	forEachWriterKind(t, testCallerGivesUpBeforeSending)
}

func testCallerGivesUpBeforeSending(t *testing.T, kind string) {
	c := startCluster(t, 3)
	cfg := DefaultConfig()
	cfg.WriterInflight = 1
	cl := c.client(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w := openTestWriter(t, ctx, cl, kind, "test/give-up")
	// Hold the only slot: the first request's answer waits for release.
	release := make(chan struct{})
	var once sync.Once
	cl.afterAppend = func(err error) error {
		once.Do(func() { <-release })
		return err
	}
	firstDone := make(chan error, 1)
	go func() {
		_, err := w.append(ctx, extent.Block{Payload: []byte("first")})
		firstDone <- err
	}()
	waitUntil(t, "the first request to be in flight", func() bool { return w.inflight() == 1 })
	giveUp, stop := context.WithCancel(ctx)
	stop()
	if _, err := w.append(giveUp, extent.Block{Payload: []byte("abandoned")}); err == nil {
		t.Fatal("append with a cancelled context succeeded")
	}
	close(release)
	if err := <-firstDone; err != nil {
		t.Fatal(err)
	}
	if _, err := w.append(ctx, extent.Block{Payload: []byte("third")}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range readAll(t, cl, "test/give-up") {
		got = append(got, string(b.Payload))
	}
	if !slices.Equal(got, []string{"first", "third"}) {
		t.Fatalf("stream holds %q, want first and third only", got)
	}
}

// appendFromGoroutines runs writers goroutines that each append `each`
// blocks, one a call, keyed "g/iii" in payload and user data; before each
// append it calls before(g, i). It returns the acknowledged addresses by
// key; a failed append is a test error and ends its goroutine.
func appendFromGoroutines(t *testing.T, writers, each int, before func(g, i int), appendBlock func(extent.Block) ([]Address, error)) map[string]Address {
	t.Helper()
	var mu sync.Mutex
	acked := map[string]Address{}
	var wg sync.WaitGroup
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				before(g, i)
				key := fmt.Sprintf("%d/%03d", g, i)
				addrs, err := appendBlock(extent.Block{Payload: []byte("payload " + key), UserData: []byte(key)})
				if err != nil {
					t.Errorf("append %s: %v", key, err)
					return
				}
				mu.Lock()
				acked[key] = addrs[0]
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return acked
}

// waitUntil polls cond until it holds, failing the test after 10 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestReaderLearnsNewExtentsFromTheWritersLayout: a reader and a writer of
// one client share the client's layout cache, so the reader crosses the
// writer's rollover without asking the manager (which is stopped by
// then); a stale answer never replaces a newer layout.
func TestReaderLearnsNewExtentsFromTheWritersLayout(t *testing.T) {
	c := startCluster(t, 3)
	cfg := DefaultConfig()
	cfg.MaxExtentSize = extent.ExtentHeaderSize + 4*extent.BlockSize(1000)
	cl := c.client(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w, err := cl.OpenWriter(ctx, "test/cache")
	if err != nil {
		t.Fatal(err)
	}
	r, err := cl.OpenReader(ctx, "test/cache", Address{}, false)
	if err != nil {
		t.Fatal(err)
	}
	const n = 10 // three extents
	for i := range n {
		if _, err := w.Append(ctx, extent.Block{Payload: make([]byte, 1000), UserData: []byte(fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
	}
	opened := r.layout.Revision
	if err := c.sm.Close(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		blocks, err := r.Next(ctx)
		if err != nil {
			t.Logf("stopped with %v", err)
			break
		}
		for _, b := range blocks {
			got = append(got, string(b.UserData))
		}
	}
	if len(got) != n {
		t.Fatalf("read %d blocks with the manager stopped, want %d (%v)", len(got), n, got)
	}
	if r.layout.Revision <= opened {
		t.Fatalf("reader's layout revision %d did not move past %d", r.layout.Revision, opened)
	}
	stale := &clogspb.StreamResponse{Stream: r.layout.Stream, Revision: opened}
	if kept := cl.noteLayout(stale); kept.Revision != r.layout.Revision {
		t.Fatalf("a stale layout (revision %d) replaced revision %d", opened, kept.Revision)
	}
}

// TestSmallCallsWaitForTheAnswerAndGoTogether: while a request is in
// flight and less than WriterPipelineBytes is queued, calls wait for its
// answer instead of going out one by one, and then go in one request.
func TestSmallCallsWaitForTheAnswerAndGoTogether(t *testing.T) {
	c := startCluster(t, 3)
	cfg := DefaultConfig()
	cfg.WriterInflight = 2
	cl := c.client(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w, err := cl.OpenWriter(ctx, "test/together")
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	var mu sync.Mutex
	requests := 0
	cl.afterAppend = func(err error) error {
		mu.Lock()
		requests++
		first := requests == 1
		mu.Unlock()
		if first {
			<-release // hold the first answer while the others queue
		}
		return err
	}
	const later = 10
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if _, err := w.Append(ctx, extent.Block{Payload: []byte("first")}); err != nil {
			t.Error(err)
		}
	}()
	waitUntil(t, "the first request in flight", func() bool { w.mu.Lock(); defer w.mu.Unlock(); return w.inflight == 1 })
	for i := range later {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := w.Append(ctx, extent.Block{Payload: fmt.Appendf(nil, "later %d", i)}); err != nil {
				t.Error(err)
			}
		}()
	}
	waitUntil(t, "the later calls queued", func() bool { w.mu.Lock(); defer w.mu.Unlock(); return len(w.queue) == later })
	w.mu.Lock()
	if w.inflight != 1 {
		t.Errorf("%d requests in flight with %d small calls queued, want 1", w.inflight, later)
	}
	w.mu.Unlock()
	close(release)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if requests != 2 {
		t.Fatalf("%d requests for 1 + %d small calls, want 2", requests, later)
	}
}

// TestReleasedCallersGoTogether: callers that keep appends in flight come
// back one by one after an answer; the writer waits for all of them and
// sends them as one request, instead of sending the first alone and the
// rest after its answer, round after round. The caller that stops
// appending holds the others only for WriterLinger.
func TestReleasedCallersGoTogether(t *testing.T) {
	forEachWriterKind(t, testReleasedCallersGoTogether)
}

func testReleasedCallersGoTogether(t *testing.T, kind string) {
	c := startCluster(t, 3)
	cfg := DefaultConfig()
	cfg.WriterLinger = 2 * time.Second // longer than any caller takes to come back
	cl := c.client(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w := openTestWriter(t, ctx, cl, kind, "test/released")
	var requests atomic.Int64
	cl.afterAppend = func(err error) error {
		requests.Add(1)
		return err
	}
	const callers, rounds = 8, 20
	var wg sync.WaitGroup
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				if _, err := w.append(ctx, extent.Block{Payload: fmt.Appendf(nil, "caller %d round %d", i, r)}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	// The first call goes alone and the callers that had not arrived
	// yet may take another request or two; from then on, one a round.
	// Sending whatever is queued makes about two a round.
	if got := requests.Load(); got > rounds+3 {
		t.Errorf("%d requests for %d callers appending %d times each, want at most %d", got, callers, rounds, rounds+3)
	}
	seen := map[string]bool{}
	for _, b := range readAll(t, cl, "test/released") {
		seen[string(b.Payload)] = true
	}
	if len(seen) != callers*rounds {
		t.Errorf("stream holds %d distinct blocks, want %d", len(seen), callers*rounds)
	}
}
