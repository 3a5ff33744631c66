package extent

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/clogs-io/clogs/extent/vfs"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// goldenBlocks are the blocks of testdata/golden-v1.hex.
var goldenBlocks = []Block{
	{Payload: []byte("hello, extent"), UserData: []byte("writer-1/seq-1")},
	{Payload: bytes.Repeat([]byte{0xAB}, 4097)},
}

// goldenFile builds a version-1 extent file byte by byte from the encoders.
func goldenFile(t *testing.T) []byte {
	t.Helper()
	out := encodeExtentHeader(Header{ExtentID: 42, Version: FormatVersion, CreatedNanos: 1_700_000_000_123_456_789})
	for _, b := range goldenBlocks {
		enc, err := EncodeBlock(b)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, enc...)
	}
	return out
}

func TestGoldenBytes(t *testing.T) {
	got := goldenFile(t)
	path := filepath.Join("testdata", "golden-v1.hex")
	if *update {
		if err := os.WriteFile(path, []byte(hex.Dump(got)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if hex.Dump(got) != string(want) {
		t.Fatalf("encoding changed: the format is frozen; diff %s against the encoder's output (-update rewrites it only for a new format version)", path)
	}
	if len(got) != 512+512+4096+512+8192 {
		t.Fatalf("golden file is %d bytes", len(got))
	}
}

func TestGoldenBytesDecode(t *testing.T) {
	mem := vfs.NewMem()
	f, err := mem.Create("golden.extent")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.WritevAt([][]byte{goldenFile(t)}, 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	e, err := Open("golden.extent", memConfig(mem))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if e.ID() != 42 || e.Header().CreatedNanos != 1_700_000_000_123_456_789 {
		t.Fatalf("header = %+v", e.Header())
	}
	assertBlocks(t, e, goldenBlocks)
}

func memConfig(mem *vfs.MemFS) Config {
	cfg := DefaultConfig()
	cfg.FS = mem
	return cfg
}

// readAll reads every block of e from offset 512 with a small buffer, so
// that chunking and large blocks are exercised.
func readAll(t *testing.T, e *Extent) []BlockAt {
	t.Helper()
	var all []BlockAt
	buf := make([]byte, 16<<10)
	off := uint64(ExtentHeaderSize)
	for {
		blocks, next, err := e.Read(off, buf)
		if err != nil {
			t.Fatalf("read at %d: %v", off, err)
		}
		if len(blocks) == 0 {
			if next != e.CommitLength() {
				t.Fatalf("read stopped at %d, commit length %d", next, e.CommitLength())
			}
			return all
		}
		for _, b := range blocks {
			all = append(all, BlockAt{Offset: b.Offset, Block: Block{
				Payload: bytes.Clone(b.Payload), UserData: bytes.Clone(b.UserData)}})
		}
		off = next
	}
}

func assertBlocks(t *testing.T, e *Extent, want []Block) {
	t.Helper()
	got := readAll(t, e)
	if len(got) != len(want) {
		t.Fatalf("read %d blocks, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i].Payload, want[i].Payload) || !bytes.Equal(got[i].UserData, want[i].UserData) {
			t.Fatalf("block %d at %d differs", i, got[i].Offset)
		}
	}
}

func randomBlock(rng *rand.Rand) Block {
	sizes := []int{1, 100, 4095, 4096, 4097, 20000, 70000}
	b := Block{Payload: make([]byte, sizes[rng.IntN(len(sizes))])}
	for i := range b.Payload {
		b.Payload[i] = byte(rng.Uint32())
	}
	if n := rng.IntN(MaxUserData + 1); rng.IntN(2) == 0 {
		b.UserData = bytes.Repeat([]byte{byte(n)}, n)
	}
	return b
}

func TestRoundTripRandomBatchesAndReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileName(7))
	e, err := Create(path, 7, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var want []Block
	next := uint64(ExtentHeaderSize)
	for batch := 0; batch < 30; batch++ {
		blocks := make([]Block, 1+rng.IntN(5))
		for i := range blocks {
			blocks[i] = randomBlock(rng)
		}
		offsets, err := e.Append(blocks...)
		if err != nil {
			t.Fatal(err)
		}
		for i, b := range blocks {
			if offsets[i] != next {
				t.Fatalf("block at %d, want %d", offsets[i], next)
			}
			next += BlockSize(len(b.Payload))
		}
		want = append(want, blocks...)
	}
	if e.CommitLength() != next {
		t.Fatalf("commit length %d, want %d", e.CommitLength(), next)
	}
	assertBlocks(t, e, want)

	// Reopen unsealed: a full scan finds everything, nothing torn.
	e = reopen(t, e)
	if e.Recovered() != nil {
		t.Fatalf("clean file reported %v", e.Recovered())
	}
	assertBlocks(t, e, want)

	if err := e.Seal(e.CommitLength()); err != nil {
		t.Fatal(err)
	}
	e = reopen(t, e)
	if length, sealed := e.Sealed(); !sealed || length != next {
		t.Fatalf("after reopen: sealed=%v at %d, want %d", sealed, length, next)
	}
	assertBlocks(t, e, want)
	if err := e.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("file still there after Remove: %v", err)
	}
}

func reopen(t *testing.T, e *Extent) *Extent {
	t.Helper()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := Open(e.Path(), e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	return again
}

func TestSealCutsUnackedTail(t *testing.T) {
	e := newMemExtent(t)
	offs, err := e.Append(Block{Payload: []byte("a")}, Block{Payload: []byte("b")}, Block{Payload: []byte("c")})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Seal(offs[2]); err != nil {
		t.Fatal(err)
	}
	if length, sealed := e.Sealed(); !sealed || length != offs[2] {
		t.Fatalf("sealed=%v at %d", sealed, length)
	}
	assertBlocks(t, e, []Block{{Payload: []byte("a")}, {Payload: []byte("b")}})
	if err := e.Seal(offs[2]); err != nil {
		t.Fatalf("sealing again at the same length: %v", err)
	}
}

func newMemExtent(t *testing.T) *Extent {
	t.Helper()
	e, err := Create("d/"+FileName(1), 1, memConfig(vfs.NewMem()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func TestBadInputChangesNothing(t *testing.T) {
	e := newMemExtent(t)
	offs, err := e.Append(Block{Payload: []byte("first")}, Block{Payload: []byte("second")})
	if err != nil {
		t.Fatal(err)
	}
	end := e.CommitLength()
	cases := []struct {
		name string
		do   func() error
		want error
	}{
		{"empty payload", func() error { _, err := e.Append(Block{}); return err }, ErrBlockSize},
		{"no blocks", func() error { _, err := e.Append(); return err }, ErrBlockSize},
		{"payload over 32 MiB", func() error { _, err := e.Append(Block{Payload: make([]byte, MaxPayload+1)}); return err }, ErrBlockSize},
		{"user data over 496", func() error {
			_, err := e.Append(Block{Payload: []byte("x"), UserData: make([]byte, MaxUserData+1)})
			return err
		}, ErrUserDataSize},
		{"one bad block fails the whole call", func() error {
			_, err := e.Append(Block{Payload: []byte("ok")}, Block{})
			return err
		}, ErrBlockSize},
		{"expected offset behind", func() error { _, err := e.AppendAt(offs[1], Block{Payload: []byte("x")}); return err }, ErrOffsetMismatch},
		{"expected offset ahead", func() error { _, err := e.AppendAt(end+4608, Block{Payload: []byte("x")}); return err }, ErrOffsetMismatch},
		{"seal beyond commit length", func() error { return e.Seal(end + 4608) }, ErrBadSealLength},
		{"seal off a block boundary", func() error { return e.Seal(offs[1] + 512) }, ErrBadSealLength},
		{"seal inside the header", func() error { return e.Seal(0) }, ErrBadSealLength},
		{"read off a block boundary", func() error { _, _, err := e.Read(offs[1]+512, make([]byte, 8192)); return err }, ErrBadOffset},
		{"read unaligned", func() error { _, _, err := e.Read(offs[0]+1, make([]byte, 8192)); return err }, ErrBadOffset},
		{"read beyond the end", func() error { _, _, err := e.Read(end+512, make([]byte, 8192)); return err }, ErrBadOffset},
	}
	for _, c := range cases {
		if err := c.do(); !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
		if e.CommitLength() != end || e.Failed() != nil {
			t.Fatalf("%s changed the extent: end %d (want %d), failed %v", c.name, e.CommitLength(), end, e.Failed())
		}
	}
	var mismatch *OffsetMismatchError
	if _, err := e.AppendAt(offs[0], Block{Payload: []byte("x")}); !errors.As(err, &mismatch) || mismatch.End != end {
		t.Fatalf("mismatch error %v does not carry the end %d", err, end)
	}
	assertBlocks(t, e, []Block{{Payload: []byte("first")}, {Payload: []byte("second")}})
}

func TestSealedRefusesAppendsAndOtherLengths(t *testing.T) {
	e := newMemExtent(t)
	offs, err := e.Append(Block{Payload: []byte("a")}, Block{Payload: []byte("b")})
	if err != nil {
		t.Fatal(err)
	}
	end := e.CommitLength()
	if err := e.Seal(end); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Append(Block{Payload: []byte("c")}); !errors.Is(err, ErrSealed) {
		t.Fatalf("append after seal: %v", err)
	}
	if _, err := e.AppendAt(end, Block{Payload: []byte("c")}); !errors.Is(err, ErrSealed) {
		t.Fatalf("append-at after seal: %v", err)
	}
	if err := e.Seal(offs[1]); !errors.Is(err, ErrSealConflict) {
		t.Fatalf("seal shorter than sealed: %v", err)
	}
	if length, _ := e.Sealed(); length != end {
		t.Fatalf("sealed length moved to %d", length)
	}
}

func TestAppendAtExactlyOnce(t *testing.T) {
	e := newMemExtent(t)
	offs, err := e.AppendAt(ExtentHeaderSize, Block{Payload: []byte("one")})
	if err != nil || offs[0] != ExtentHeaderSize {
		t.Fatalf("append at 512: %v %v", offs, err)
	}
	// A retry of the same append at the same offset must not land twice.
	if _, err := e.AppendAt(ExtentHeaderSize, Block{Payload: []byte("one")}); !errors.Is(err, ErrOffsetMismatch) {
		t.Fatalf("retry: %v", err)
	}
	if _, err := e.AppendAt(e.CommitLength(), Block{Payload: []byte("two")}); err != nil {
		t.Fatal(err)
	}
	assertBlocks(t, e, []Block{{Payload: []byte("one")}, {Payload: []byte("two")}})
}

func TestMaxSizeRefusesOverflow(t *testing.T) {
	cfg := memConfig(vfs.NewMem())
	cfg.MaxSize = ExtentHeaderSize + 2*BlockSize(1)
	e, err := Create("x", 3, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if _, err := e.Append(Block{Payload: []byte("a")}, Block{Payload: []byte("b")}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Append(Block{Payload: []byte("c")}); !errors.Is(err, ErrFull) {
		t.Fatalf("append past max size: %v", err)
	}
	if e.Failed() != nil {
		t.Fatal("a full extent must not be marked failed")
	}
}

func TestClosedExtentRefusesEverything(t *testing.T) {
	e := newMemExtent(t)
	if _, err := e.Append(Block{Payload: []byte("a")}); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if _, err := e.Append(Block{Payload: []byte("b")}); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}
	if _, _, err := e.Read(ExtentHeaderSize, make([]byte, 8192)); !errors.Is(err, ErrClosed) {
		t.Fatalf("read after close: %v", err)
	}
	if err := e.Seal(e.CommitLength()); !errors.Is(err, ErrClosed) {
		t.Fatalf("seal after close: %v", err)
	}
}

func TestLargeBlockReadWithSmallBuffer(t *testing.T) {
	e := newMemExtent(t)
	big := Block{Payload: bytes.Repeat([]byte("0123456789"), 300_000)}
	if _, err := e.Append(Block{Payload: []byte("small")}, big, Block{Payload: []byte("after")}); err != nil {
		t.Fatal(err)
	}
	assertBlocks(t, e, []Block{{Payload: []byte("small")}, big, {Payload: []byte("after")}})
}

func TestMaxPayloadBlock(t *testing.T) {
	e := newMemExtent(t)
	b := Block{Payload: bytes.Repeat([]byte{7}, MaxPayload), UserData: bytes.Repeat([]byte{9}, MaxUserData)}
	if _, err := e.Append(b); err != nil {
		t.Fatal(err)
	}
	assertBlocks(t, e, []Block{b})
}

// TestConcurrentAppendersAndReaders runs many appenders and readers on one
// extent: offsets are distinct and contiguous, every block reads back, and
// readers never see a block that is not yet acknowledged... or garbage.
func TestConcurrentAppendersAndReaders(t *testing.T) {
	const appenders, perAppender = 16, 40
	e, err := Create(filepath.Join(t.TempDir(), FileName(9)), 9, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	stop := make(chan struct{})
	readerErrs := make(chan error, 4)
	for range 4 {
		go func() { readerErrs <- tailUntil(e, stop) }()
	}
	written := appendConcurrently(t, e, appenders, perAppender, func(w, i int) Block {
		return Block{Payload: fmt.Appendf(nil, "writer %d block %d %s", w, i, bytes.Repeat([]byte{'x'}, i*97)), UserData: fmt.Appendf(nil, "%d/%d", w, i)}
	})
	close(stop)
	for range 4 {
		if err := <-readerErrs; err != nil {
			t.Fatal(err)
		}
	}
	checkContiguous(t, e, written, appenders*perAppender)
}

// tailUntil reads the extent over and over until stop, checking that every
// block decodes.
func tailUntil(e *Extent, stop chan struct{}) error {
	buf := make([]byte, 64<<10)
	off := uint64(ExtentHeaderSize)
	for {
		blocks, next, err := e.Read(off, buf)
		if err != nil {
			return err
		}
		for _, b := range blocks {
			if !bytes.HasPrefix(b.Payload, []byte("writer ")) {
				return fmt.Errorf("garbage block at %d", b.Offset)
			}
		}
		off = next
		select {
		case <-stop:
			return nil
		default:
		}
	}
}

// appendConcurrently runs appenders goroutines that each append
// perAppender blocks, block(w, i) for appender w, and returns the blocks
// by the offset they landed at, once every appender is done; a failed
// append is a test error and ends its appender.
func appendConcurrently(t *testing.T, e *Extent, appenders, perAppender int, block func(w, i int) Block) map[uint64]Block {
	t.Helper()
	var mu sync.Mutex
	written := map[uint64]Block{}
	var wg sync.WaitGroup
	for w := range appenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perAppender {
				b := block(w, i)
				offs, err := e.Append(b)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				written[offs[0]] = b
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return written
}

// checkContiguous checks that the extent holds exactly the written blocks,
// want of them, one after another from the header on.
func checkContiguous(t *testing.T, e *Extent, written map[uint64]Block, want int) {
	t.Helper()
	got := readAll(t, e)
	if len(got) != want || len(written) != want {
		t.Fatalf("read %d blocks, %d distinct offsets, want %d", len(got), len(written), want)
	}
	next := uint64(ExtentHeaderSize)
	for _, b := range got {
		w, ok := written[b.Offset]
		if !ok || b.Offset != next || !bytes.Equal(w.Payload, b.Payload) || !bytes.Equal(w.UserData, b.UserData) {
			t.Fatalf("block at %d (expected next %d) does not match what was appended there", b.Offset, next)
		}
		next += BlockSize(len(b.Payload))
	}
}

func TestConcurrentAppendsAreGroupCommitted(t *testing.T) {
	mem := vfs.NewMem()
	counting := vfs.NewErrorFS(mem, -1)
	var syncs, writes int64
	var mu sync.Mutex
	counting.SetBeforeOp(func(op string, _ int64) {
		mu.Lock()
		defer mu.Unlock()
		switch op {
		case "Datasync":
			syncs++
		case "WritevAt":
			writes++
		}
	})
	cfg := DefaultConfig()
	cfg.FS = counting
	e, err := Create("g", 1, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	// Hold the leader inside its write so that the others queue up.
	const n = 32
	var wg sync.WaitGroup
	e.mu.Lock()
	e.writing = true
	e.mu.Unlock()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.Append(Block{Payload: []byte{byte(i)}}); err != nil {
				t.Error(err)
			}
		}()
	}
	waitQueued(e, n)
	mu.Lock()
	writes, syncs = 0, 0
	mu.Unlock()
	// Hand leadership to the first waiter, as a finishing leader would.
	e.mu.Lock()
	e.pending[0].wake <- false
	e.mu.Unlock()
	wg.Wait()
	if writes != 1 || syncs != 1 {
		t.Fatalf("%d queued appends took %d writes and %d syncs, want 1 and 1", n, writes, syncs)
	}
}

func waitQueued(e *Extent, n int) {
	for {
		e.mu.Lock()
		queued := len(e.pending)
		e.mu.Unlock()
		if queued == n {
			return
		}
		runtime.Gosched()
	}
}

// TestAppendQueuedBehindFailedSyncFails: requests that queued while a
// batch's fdatasync failed must not be written after it (the kernel may
// have dropped the failed pages); they fail with ErrFailed.
func TestAppendQueuedBehindFailedSyncFails(t *testing.T) {
	mem := vfs.NewMem()
	efs := vfs.NewErrorFS(mem, -1)
	cfg := memConfig(mem)
	cfg.FS = efs
	e, err := Create("q", 1, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if _, err := e.Append(Block{Payload: []byte("acked")}); err != nil {
		t.Fatal(err)
	}
	// The next batch is WritevAt (op n) and Datasync (op n+1). Before the
	// Datasync runs, queue another append behind it; then fail the sync.
	queued := make(chan error, 1)
	efs.SetBeforeOp(func(op string, idx int64) {
		if op != "Datasync" {
			return
		}
		efs.SetBeforeOp(nil)
		go func() { _, err := e.Append(Block{Payload: []byte("queued")}); queued <- err }()
		waitQueued(e, 1)
	})
	efs.SetFailAt(efs.Ops() + 1)
	if _, err := e.Append(Block{Payload: []byte("lost")}); !errors.Is(err, vfs.ErrInjected) || !errors.Is(err, ErrFailed) {
		t.Fatalf("append whose sync failed: %v", err)
	}
	if err := <-queued; !errors.Is(err, ErrFailed) {
		t.Fatalf("append queued behind the failure: %v", err)
	}
	assertBlocks(t, e, []Block{{Payload: []byte("acked")}})
}

// TestSubmitAtPipelines: appends submitted back to back, before any is
// durable, land in submission order at their expected offsets; a wrong
// expected offset fails alone and is not written.
func TestSubmitAtPipelines(t *testing.T) {
	e := newMemExtent(t)
	var pending []*PendingAppend
	var want []Block
	next := uint64(ExtentHeaderSize)
	for i := range 20 {
		b := Block{Payload: bytes.Repeat([]byte{byte(i)}, 100*i+1)}
		pending = append(pending, e.SubmitAt(next, b))
		want = append(want, b)
		next += BlockSize(len(b.Payload))
	}
	wrong := e.SubmitAt(ExtentHeaderSize, Block{Payload: []byte("stale")})
	results := make(chan error, len(pending))
	for i, p := range pending {
		go func() {
			offs, err := p.Wait()
			if err == nil && offs[0] != pendingOffset(want, i) {
				err = fmt.Errorf("append %d landed at %d", i, offs[0])
			}
			results <- err
		}()
	}
	for range pending {
		if err := <-results; err != nil {
			t.Fatal(err)
		}
	}
	if _, err := wrong.Wait(); !errors.Is(err, ErrOffsetMismatch) {
		t.Fatalf("stale submit: %v", err)
	}
	assertBlocks(t, e, want)
}

func pendingOffset(blocks []Block, i int) uint64 {
	off := uint64(ExtentHeaderSize)
	for _, b := range blocks[:i] {
		off += BlockSize(len(b.Payload))
	}
	return off
}
