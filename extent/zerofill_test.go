package extent

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/clogs-io/clogs/extent/vfs"
)

// waitWriterIdle waits until no batch leader or zero fill holds the writer
// role.
func waitWriterIdle(e *Extent) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for e.writing {
		e.idle.Wait()
	}
}

func zeroAheadConfig(mem *vfs.MemFS, ahead uint64) Config {
	cfg := memConfig(mem)
	cfg.ZeroAhead = ahead
	return cfg
}

// fileSize is the size of the extent's file.
func fileSize(t *testing.T, e *Extent) uint64 {
	t.Helper()
	size, err := e.f.Size()
	if err != nil {
		t.Fatal(err)
	}
	return uint64(size)
}

// assertZerosPastEnd checks that the file holds only zeros past the commit
// length.
func assertZerosPastEnd(t *testing.T, e *Extent) {
	t.Helper()
	end, size := e.CommitLength(), fileSize(t, e)
	tail := make([]byte, size-end)
	if _, err := e.f.ReadAt(tail, int64(end)); err != nil {
		t.Fatal(err)
	}
	if i := bytes.IndexFunc(tail, func(r rune) bool { return r != 0 }); i >= 0 {
		t.Fatalf("non-zero byte at %d, past the commit length %d", end+uint64(i), end)
	}
}

func TestZeroAheadFillsWhileIdleAndOpenCutsIt(t *testing.T) {
	const ahead = 512 << 10 // a quarter of it is above randomBlock's largest
	mem := vfs.NewMem()
	e, err := Create("d/"+FileName(1), 1, zeroAheadConfig(mem, ahead))
	if err != nil {
		t.Fatal(err)
	}
	want := []Block{{Payload: []byte("first")}}
	if _, err := e.Append(want[0]); err != nil {
		t.Fatal(err)
	}
	waitWriterIdle(e)
	if got, full := fileSize(t, e), alignUp(e.CommitLength(), PayloadAlign)+ahead; got != full {
		t.Fatalf("file size %d after an idle moment, want %d (zeros %d bytes ahead)", got, full, ahead)
	}
	assertZerosPastEnd(t, e)

	// Appends land in the zeros, at the offsets they would have had anyway,
	// and the zeros keep at least half of ZeroAhead ahead of the end.
	rng := rand.New(rand.NewPCG(3, 4))
	next := e.CommitLength()
	for range 40 {
		b := randomBlock(rng)
		offs, err := e.Append(b)
		if err != nil {
			t.Fatal(err)
		}
		if offs[0] != next {
			t.Fatalf("block at %d, want %d", offs[0], next)
		}
		next += BlockSize(len(b.Payload))
		want = append(want, b)
		waitWriterIdle(e)
		if size := fileSize(t, e); size < next+ahead/2 || size > alignUp(next, PayloadAlign)+ahead {
			t.Fatalf("file size %d with the end at %d: zeros ahead not within [%d, %d]", size, next, ahead/2, ahead)
		}
		assertZerosPastEnd(t, e)
	}
	assertBlocks(t, e, want)

	// A batch larger than a quarter of ZeroAhead appends past the zeros
	// and is not followed by more: the zeros would cost as much as it.
	large := []Block{{Payload: make([]byte, 200<<10)}, {Payload: make([]byte, 200<<10)}, {Payload: make([]byte, 200<<10)}}
	if _, err := e.Append(large...); err != nil {
		t.Fatal(err)
	}
	want = append(want, large...)
	next = e.CommitLength()
	waitWriterIdle(e)
	if size := fileSize(t, e); size != next {
		t.Fatalf("file size %d after a %d-byte batch, want its end %d", size, 3*BlockSize(200<<10), next)
	}

	e = reopen(t, e)
	if e.Recovered() != nil {
		t.Fatalf("zeros past the end reported as %v", e.Recovered())
	}
	if e.CommitLength() != next || fileSize(t, e) != next {
		t.Fatalf("after reopen: commit length %d, file size %d, want both %d", e.CommitLength(), fileSize(t, e), next)
	}
	assertBlocks(t, e, want)

	// Reopened, it fills again; a seal cuts the zeros.
	if _, err := e.Append(Block{Payload: []byte("last")}); err != nil {
		t.Fatal(err)
	}
	waitWriterIdle(e)
	if fileSize(t, e) <= e.CommitLength() {
		t.Fatalf("no zeros ahead after reopening")
	}
	if err := e.Seal(e.CommitLength()); err != nil {
		t.Fatal(err)
	}
	if fileSize(t, e) != e.CommitLength() {
		t.Fatalf("sealed at %d, file size %d", e.CommitLength(), fileSize(t, e))
	}
	e = reopen(t, e)
	if length, sealed := e.Sealed(); !sealed || length != fileSize(t, e) {
		t.Fatalf("after reopen: sealed=%v at %d, file size %d", sealed, length, fileSize(t, e))
	}
	e.Close()
}

// A crash keeps any prefix of the unsynced zero writes; none of them is a
// torn tail, and every acknowledged block survives.
func TestZeroAheadCrashImagesAreClean(t *testing.T) {
	mem := vfs.NewMem()
	path := "d/" + FileName(2)
	e, err := Create(path, 2, zeroAheadConfig(mem, 512<<10))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	rng := rand.New(rand.NewPCG(5, 6))
	var acked []Block
	for round := range 6 {
		b := randomBlock(rng)
		if _, err := e.Append(b); err != nil {
			t.Fatal(err)
		}
		acked = append(acked, b)
		waitWriterIdle(e)
		images := []*vfs.MemFS{mem.Crash()}
		for range 8 {
			images = append(images, mem.CrashTorn(rng))
		}
		for i, img := range images {
			again, err := Open(path, zeroAheadConfig(img, 512<<10))
			if err != nil {
				t.Fatalf("round %d image %d: %v", round, i, err)
			}
			if again.Recovered() != nil {
				t.Fatalf("round %d image %d: zeros reported as %v", round, i, again.Recovered())
			}
			assertBlocks(t, again, acked)
			again.Close()
		}
	}
}

// Zeros past the end are told apart from a torn write: one non-zero byte
// among them makes it a torn tail again, for Open and for Inspect.
func TestZeroTailWithGarbageIsTorn(t *testing.T) {
	mem := vfs.NewMem()
	path := "d/" + FileName(3)
	e, err := Create(path, 3, zeroAheadConfig(mem, 64<<10))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Append(Block{Payload: []byte("kept")}); err != nil {
		t.Fatal(err)
	}
	waitWriterIdle(e)
	end, size := e.CommitLength(), fileSize(t, e)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}

	r, err := Inspect(mem, path, nil)
	if err != nil || r.Problem != nil || r.ValidEnd != end || r.Size != size {
		t.Fatalf("inspect of a zero tail: %+v, %v; want no problem, valid end %d, size %d", r, err, end, size)
	}

	f, err := mem.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.WritevAt([][]byte{{0xff}}, int64(size-1)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	r, err = Inspect(mem, path, nil)
	var torn *TornTailError
	if err != nil || !errors.As(r.Problem, &torn) || torn.Offset != end {
		t.Fatalf("inspect with a stray byte in the zeros: %+v, %v; want a torn tail at %d", r, err, end)
	}
	again, err := Open(path, zeroAheadConfig(mem, 64<<10))
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if torn := again.Recovered(); torn == nil || torn.Offset != end || torn.Dropped != size-end {
		t.Fatalf("open with a stray byte in the zeros: recovered %v, want a torn tail at %d of %d bytes", torn, end, size-end)
	}
	assertBlocks(t, again, []Block{{Payload: []byte("kept")}})
}

// Appenders racing the fill never lose a block to it.
func TestZeroAheadWithConcurrentAppenders(t *testing.T) {
	mem := vfs.NewMem()
	e, err := Create("d/"+FileName(4), 4, zeroAheadConfig(mem, 16<<10))
	if err != nil {
		t.Fatal(err)
	}
	const writers, perWriter = 6, 40
	rngs := make([]*rand.Rand, writers) // one per appender, used by it alone
	for w := range rngs {
		rngs[w] = rand.New(rand.NewPCG(uint64(w), 7))
	}
	written := appendConcurrently(t, e, writers, perWriter, func(w, _ int) Block { return randomBlock(rngs[w]) })
	checkContiguous(t, e, written, writers*perWriter)
	waitWriterIdle(e)
	assertZerosPastEnd(t, e)
	e = reopen(t, e)
	defer e.Close()
	if e.Recovered() != nil {
		t.Fatalf("reopen reported %v", e.Recovered())
	}
	checkContiguous(t, e, written, writers*perWriter)
}

// A zero write that fails stops the filling of that extent and nothing
// else: appends go on past the end, as without ZeroAhead.
func TestZeroFillFailureOnlyStopsFilling(t *testing.T) {
	efs := vfs.NewErrorFS(vfs.NewMem(), -1)
	cfg := DefaultConfig()
	cfg.FS, cfg.ZeroAhead = efs, 64<<10
	e, err := Create("d/"+FileName(5), 5, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	// The append is one WritevAt and one Datasync; the fill's first write
	// comes next.
	efs.SetFailAt(efs.Ops() + 2)
	want := []Block{{Payload: []byte("one")}}
	if _, err := e.Append(want[0]); err != nil {
		t.Fatal(err)
	}
	waitWriterIdle(e)
	if !efs.Injected() {
		t.Fatal("the zero write was not the failing operation")
	}
	if err := e.Failed(); err != nil {
		t.Fatalf("a failed zero write failed the extent: %v", err)
	}
	want = append(want, Block{Payload: []byte("two")})
	if _, err := e.Append(want[1]); err != nil {
		t.Fatal(err)
	}
	waitWriterIdle(e)
	if size := fileSize(t, e); size > alignUp(e.CommitLength(), PayloadAlign) {
		t.Fatalf("filling went on after a failed write: file size %d, end %d", size, e.CommitLength())
	}
	assertBlocks(t, e, want)
}

func TestZeroAheadMustBeAligned(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ZeroAhead = 1000
	if err := cfg.Validate(); err == nil {
		t.Fatal("zero-ahead of 1000 bytes accepted")
	}
}
