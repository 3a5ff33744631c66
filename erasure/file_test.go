package erasure

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/clogs-io/clogs/extent/vfs"
)

var fileCoding = Params{DataShards: 2, ParityShards: 1, ChunkSize: 512}

func shardPath(i int) string { return fmt.Sprintf("disk/000000000000002a.shard%d", i) }

// encodeToFiles is how a node writes shard files: create, encode, commit
// each; on any failure abort them all.
func encodeToFiles(fsys vfs.FS, src []byte, params Params) (err error) {
	var files []*FileWriter
	defer func() {
		if err != nil {
			for _, f := range files {
				f.Abort()
			}
		}
	}()
	writers := make([]io.Writer, params.Shards())
	for i := range writers {
		f, err := CreateFile(fsys, shardPath(i))
		if err != nil {
			return err
		}
		files = append(files, f)
		writers[i] = f
	}
	if err := Encode(bytes.NewReader(src), 42, uint64(len(src)), params, writers); err != nil {
		return err
	}
	for _, f := range files {
		if err := f.Commit(); err != nil {
			return err
		}
	}
	return nil
}

// openFiles opens and verifies every shard file; a missing file gives a
// nil shard, a refused one an error.
func openFiles(t *testing.T, fsys vfs.FS, n int) ([]*Shard, error) {
	t.Helper()
	shards := make([]*Shard, n)
	names, _ := fsys.List("disk")
	for i := range shards {
		if !containsName(names, shardPath(i)[len("disk/"):]) {
			continue
		}
		s, err := OpenFile(fsys, shardPath(i))
		if err != nil {
			return nil, err
		}
		t.Cleanup(func() { s.Close() })
		if err := s.Verify(); err != nil {
			return nil, err
		}
		shards[i] = s
	}
	return shards, nil
}

func containsName(names []string, name string) bool {
	for _, n := range names {
		if n == name {
			return true
		}
	}
	return false
}

func TestFilesRoundTrip(t *testing.T) {
	mem := vfs.NewMem()
	src := randomBytes(rand.New(rand.NewPCG(19, 20)), 7777)
	if err := encodeToFiles(mem, src, fileCoding); err != nil {
		t.Fatal(err)
	}
	shards, err := openFiles(t, mem.Crash(), fileCoding.Shards())
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := ReadRange(without(shards, 0), 0, uint64(len(src)))
	if err != nil || !bytes.Equal(got, src) {
		t.Fatalf("read after a crash: %v", err)
	}
}

// TestFilesErrorAtEveryOp fails each filesystem operation in turn: the
// failed encoding leaves no shard file behind, and the first run that
// meets no failure leaves all of them whole.
func TestFilesErrorAtEveryOp(t *testing.T) {
	src := randomBytes(rand.New(rand.NewPCG(21, 22)), 3000)
	want := encodeBytes(t, src, 42, fileCoding)
	for failAt := int64(0); ; failAt++ {
		mem := vfs.NewMem()
		efs := vfs.NewErrorFS(mem, failAt)
		err := encodeToFiles(efs, src, fileCoding)
		if !efs.Injected() {
			if err != nil {
				t.Fatalf("no failure injected, yet: %v", err)
			}
			checkFiles(t, mem, want)
			if failAt < 10 {
				t.Fatalf("only %d operations", failAt)
			}
			return
		}
		if !errors.Is(err, vfs.ErrInjected) {
			t.Fatalf("fail at %d: error %v", failAt, err)
		}
		if names, _ := mem.List("disk"); len(names) != 0 {
			t.Fatalf("fail at %d: left %q", failAt, names)
		}
	}
}

func checkFiles(t *testing.T, fsys vfs.FS, want [][]byte) {
	t.Helper()
	for i, w := range want {
		checkFile(t, fsys, i, w)
	}
}

// checkFile checks that shard file i holds exactly want.
func checkFile(t *testing.T, fsys vfs.FS, i int, want []byte) {
	t.Helper()
	f, err := fsys.OpenReadOnly(shardPath(i))
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(want)+1)
	n, _ := f.ReadAt(got, 0)
	f.Close()
	if !bytes.Equal(got[:n], want) {
		t.Fatalf("shard %d differs from the encoding (%d bytes, want %d)", i, n, len(want))
	}
}

// TestFilesCrashAtEveryOp crashes before each filesystem operation,
// keeping a random part of the unsynced writes: every shard file left is
// either refused (truncated, not a shard, a bad chunk) or exactly the
// encoding; after the commits, all are there.
func TestFilesCrashAtEveryOp(t *testing.T) {
	src := randomBytes(rand.New(rand.NewPCG(23, 24)), 3000)
	want := encodeBytes(t, src, 42, fileCoding)
	rng := rand.New(rand.NewPCG(25, 26))
	mem := vfs.NewMem()
	efs := vfs.NewErrorFS(mem, -1)
	var crashes []*vfs.MemFS
	efs.SetBeforeOp(func(string, int64) {
		crashes = append(crashes, mem.Crash(), mem.CrashTorn(rng))
	})
	if err := encodeToFiles(efs, src, fileCoding); err != nil {
		t.Fatal(err)
	}
	crashes = append(crashes, mem.Crash())
	refused, whole := 0, 0
	for i, crashed := range crashes {
		names, _ := crashed.List("disk")
		for _, name := range names {
			var index int
			if _, err := fmt.Sscanf(name, "000000000000002a.shard%d", &index); err != nil {
				t.Fatalf("crash %d: file %q", i, name)
			}
			s, err := OpenFile(crashed, "disk/"+name)
			if err == nil {
				err = s.Verify()
				s.Close()
			}
			switch {
			case errors.Is(err, ErrBadHeader) || errors.Is(err, ErrCorrupt):
				refused++
			case err != nil:
				t.Fatalf("crash %d: %s: %v", i, name, err)
			default:
				checkFile(t, crashed, index, want[index])
				whole++
			}
		}
	}
	if refused == 0 || whole == 0 {
		t.Fatalf("%d crashes left %d refused and %d whole files; the test saw too little", len(crashes), refused, whole)
	}
	if _, err := openFiles(t, crashes[len(crashes)-1], fileCoding.Shards()); err != nil {
		t.Fatal(err)
	}
}

// TestEncodeErrors: bad arguments and a source shorter than the sealed
// length fail the encoding.
func TestEncodeErrors(t *testing.T) {
	writers := func(n int) []io.Writer {
		w := make([]io.Writer, n)
		for i := range w {
			w[i] = io.Discard
		}
		return w
	}
	src := bytes.NewReader(make([]byte, 1000))
	if err := Encode(src, 1, 1000, fileCoding, writers(2)); !errors.Is(err, ErrBadParams) {
		t.Errorf("two writers for 2+1: %v", err)
	}
	if err := Encode(src, 1, 0, fileCoding, writers(3)); !errors.Is(err, ErrBadParams) {
		t.Errorf("length 0: %v", err)
	}
	if err := Encode(src, 1, 1000, Params{DataShards: 2, ParityShards: 1, ChunkSize: 100}, writers(3)); !errors.Is(err, ErrBadParams) {
		t.Errorf("chunk size 100: %v", err)
	}
	if err := Encode(src, 1, 1001, fileCoding, writers(3)); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("short source: %v", err)
	}
	for failAt := range 6 {
		w := writers(3)
		w[failAt%3] = &failingWriter{failAt: failAt / 3}
		if err := Encode(src, 1, 1000, fileCoding, w); !errors.Is(err, errWrite) {
			t.Errorf("writer %d fails write %d: %v", failAt%3, failAt/3, err)
		}
	}
}
