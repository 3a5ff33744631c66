package vfs

import (
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"slices"
	"sync"
	"syscall"
	"testing"
)

func mustCreate(t *testing.T, m FS, name string) File {
	t.Helper()
	f, err := m.Create(name)
	if err != nil {
		t.Fatalf("Create(%q): %v", name, err)
	}
	return f
}

func mustOpen(t *testing.T, m FS, name string) File {
	t.Helper()
	f, err := m.Open(name)
	if err != nil {
		t.Fatalf("Open(%q): %v", name, err)
	}
	return f
}

func mustWrite(t *testing.T, f File, off int64, s string) {
	t.Helper()
	if err := f.WritevAt([][]byte{[]byte(s)}, off); err != nil {
		t.Fatalf("WritevAt(%q, %d): %v", s, off, err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// readAll returns the whole content of an open file.
func readAll(t *testing.T, f File) string {
	t.Helper()
	size, err := f.Size()
	must(t, err)
	buf := make([]byte, size)
	if _, err := f.ReadAt(buf, 0); err != nil {
		t.Fatalf("ReadAt: %v", err)
	}
	return string(buf)
}

// contents returns every file in dir with its content.
func contents(t *testing.T, m *MemFS, dir string) map[string]string {
	t.Helper()
	names, err := m.List(dir)
	must(t, err)
	out := map[string]string{}
	for _, name := range names {
		f, err := m.OpenReadOnly(dir + "/" + name)
		if errors.Is(err, syscall.EISDIR) {
			continue
		}
		must(t, err)
		out[name] = readAll(t, f)
		must(t, f.Close())
	}
	return out
}

// createSynced creates d/name with content, all durable.
func createSynced(t *testing.T, m *MemFS, name, content string) File {
	t.Helper()
	f := mustCreate(t, m, "d/"+name)
	mustWrite(t, f, 0, content)
	must(t, f.Sync())
	must(t, m.SyncDir("d"))
	return f
}

func TestMemCrash(t *testing.T) {
	tests := []struct {
		name  string
		steps func(t *testing.T, m *MemFS)
		want  map[string]string
	}{
		{"unsynced write vanishes", func(t *testing.T, m *MemFS) {
			f := mustCreate(t, m, "d/a")
			must(t, m.SyncDir("d"))
			mustWrite(t, f, 0, "hello")
		}, map[string]string{"a": ""}},
		{"datasync keeps data", func(t *testing.T, m *MemFS) {
			f := createSynced(t, m, "a", "")
			mustWrite(t, f, 0, "hello")
			must(t, f.Datasync())
		}, map[string]string{"a": "hello"}},
		{"write after datasync vanishes", func(t *testing.T, m *MemFS) {
			f := createSynced(t, m, "a", "hello")
			mustWrite(t, f, 5, " world")
			mustWrite(t, f, 0, "J")
		}, map[string]string{"a": "hello"}},
		{"created without SyncDir vanishes", func(t *testing.T, m *MemFS) {
			f := mustCreate(t, m, "d/a")
			mustWrite(t, f, 0, "hello")
			must(t, f.Sync())
		}, map[string]string{}},
		{"removed without SyncDir reappears", func(t *testing.T, m *MemFS) {
			createSynced(t, m, "a", "hello")
			must(t, m.Remove("d/a"))
		}, map[string]string{"a": "hello"}},
		{"removed with SyncDir is gone", func(t *testing.T, m *MemFS) {
			createSynced(t, m, "a", "hello")
			must(t, m.Remove("d/a"))
			must(t, m.SyncDir("d"))
		}, map[string]string{}},
		{"recreated without SyncDir keeps old file", func(t *testing.T, m *MemFS) {
			createSynced(t, m, "a", "old")
			must(t, m.Remove("d/a"))
			f := mustCreate(t, m, "d/a")
			mustWrite(t, f, 0, "new")
			must(t, f.Sync())
		}, map[string]string{"a": "old"}},
		{"SyncDir of another dir does not help", func(t *testing.T, m *MemFS) {
			mustCreate(t, m, "d/a")
			must(t, m.MkdirAll("e", 0o755))
			must(t, m.SyncDir("e"))
		}, map[string]string{}},
		{"unsynced truncate vanishes", func(t *testing.T, m *MemFS) {
			f := createSynced(t, m, "a", "hello")
			must(t, f.Truncate(2))
		}, map[string]string{"a": "hello"}},
		{"synced truncate stays", func(t *testing.T, m *MemFS) {
			f := createSynced(t, m, "a", "hello")
			must(t, f.Truncate(2))
			must(t, f.Datasync())
		}, map[string]string{"a": "he"}},
		{"truncate down and up zero-fills", func(t *testing.T, m *MemFS) {
			f := createSynced(t, m, "a", "hello")
			must(t, f.Truncate(2))
			must(t, f.Truncate(4))
			must(t, f.Datasync())
		}, map[string]string{"a": "he\x00\x00"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMem()
			must(t, m.MkdirAll("d", 0o755))
			tt.steps(t, m)
			if got := contents(t, m.Crash(), "d"); !equalMaps(got, tt.want) {
				t.Errorf("after crash: got %q, want %q", got, tt.want)
			}
		})
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || v != w {
			return false
		}
	}
	return true
}

func TestMemCrashXattrs(t *testing.T) {
	tests := []struct {
		name string
		sync func(File) error
		want string // "" means not set
	}{
		{"no sync loses xattr", func(File) error { return nil }, ""},
		{"Datasync loses xattr", File.Datasync, ""},
		{"Sync keeps xattr", File.Sync, "v1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMem()
			f := mustCreate(t, m, "a")
			must(t, m.SyncDir("."))
			mustWrite(t, f, 0, "data")
			must(t, f.SetXattr("user.k", []byte("v1")))
			if got, err := f.GetXattr("user.k"); err != nil || string(got) != "v1" {
				t.Fatalf("GetXattr before crash = %q, %v", got, err)
			}
			must(t, tt.sync(f))
			g := mustOpen(t, m.Crash(), "a")
			got, err := g.GetXattr("user.k")
			switch {
			case tt.want == "" && !errors.Is(err, ErrNoXattr):
				t.Errorf("GetXattr = %q, %v; want ErrNoXattr", got, err)
			case tt.want != "" && (err != nil || string(got) != tt.want):
				t.Errorf("GetXattr = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestMemSyncKeepsXattrValueAtSyncTime(t *testing.T) {
	m := NewMem()
	f := mustCreate(t, m, "a")
	must(t, m.SyncDir("."))
	must(t, f.SetXattr("user.k", []byte("v1")))
	must(t, f.Sync())
	must(t, f.SetXattr("user.k", []byte("v2")))
	must(t, f.Datasync())
	got, err := mustOpen(t, m.Crash(), "a").GetXattr("user.k")
	if err != nil || string(got) != "v1" {
		t.Errorf("GetXattr after crash = %q, %v; want v1", got, err)
	}
}

// unsyncedStream makes d/a durable as "ab" followed by three unsynced
// operations of 4, 1 and 2 units: write "cdef"@2, truncate 3, write "XY"@0.
func unsyncedStream(t *testing.T) *MemFS {
	m := NewMem()
	f := createSynced(t, m, "a", "ab")
	mustWrite(t, f, 2, "cdef")
	must(t, f.Truncate(3))
	mustWrite(t, f, 0, "XY")
	return m
}

func TestMemCrashKeepingUnsynced(t *testing.T) {
	tests := []struct {
		keep int
		want string
	}{
		{-1, "ab"},
		{0, "ab"},
		{1, "abc"},
		{2, "abcd"},
		{4, "abcdef"},
		{5, "abc"},
		{6, "Xbc"},
		{7, "XYc"},
		{100, "XYc"},
	}
	for _, tt := range tests {
		m := unsyncedStream(t)
		var gotTotal int
		c := m.CrashKeepingUnsynced(func(name string, total int) int {
			if name != "d/a" {
				t.Errorf("keep called with name %q", name)
			}
			gotTotal = total
			return tt.keep
		})
		if gotTotal != 7 {
			t.Errorf("keep(%d): total = %d, want 7", tt.keep, gotTotal)
		}
		if got := contents(t, c, "d")["a"]; got != tt.want {
			t.Errorf("keep(%d): got %q, want %q", tt.keep, got, tt.want)
		}
	}
}

func TestMemCrashTornKeepsAPrefix(t *testing.T) {
	m := unsyncedStream(t)
	valid := map[string]bool{}
	for keep := range 8 {
		c := m.CrashKeepingUnsynced(func(string, int) int { return keep })
		valid[contents(t, c, "d")["a"]] = true
	}
	seen := map[string]bool{}
	for seed := range uint64(200) {
		got := contents(t, m.CrashTorn(rand.New(rand.NewPCG(seed, 0))), "d")["a"]
		if !valid[got] {
			t.Fatalf("seed %d: %q is not a prefix of the unsynced stream", seed, got)
		}
		seen[got] = true
	}
	if len(seen) < 4 {
		t.Errorf("CrashTorn produced only %d distinct states: %v", len(seen), seen)
	}
	again := contents(t, m.CrashTorn(rand.New(rand.NewPCG(7, 0))), "d")["a"]
	if first := contents(t, m.CrashTorn(rand.New(rand.NewPCG(7, 0))), "d")["a"]; first != again {
		t.Errorf("same seed gave %q and %q", first, again)
	}
}

func TestMemCrashIsIndependent(t *testing.T) {
	m := NewMem()
	f := createSynced(t, m, "a", "hello")
	must(t, f.SetXattr("user.k", []byte("v")))
	must(t, f.Sync())
	c := m.Crash()
	g := mustOpen(t, c, "d/a")
	mustWrite(t, g, 0, "J")
	must(t, g.SetXattr("user.k", []byte("w")))
	mustWrite(t, f, 0, "Y")
	must(t, f.Sync())
	if got := readAll(t, f); got != "Yello" {
		t.Errorf("original = %q, want Yello", got)
	}
	if got := readAll(t, g); got != "Jello" {
		t.Errorf("crashed copy = %q, want Jello", got)
	}
	if v, _ := f.GetXattr("user.k"); string(v) != "v" {
		t.Errorf("original xattr = %q, want v", v)
	}
	if got := contents(t, c.Crash(), "d")["a"]; got != "hello" {
		t.Errorf("crash of crashed copy = %q, want hello", got)
	}
}

func TestMemWritevAtAndReadAt(t *testing.T) {
	m := NewMem()
	f := mustCreate(t, m, "a")
	buf := []byte("abc")
	must(t, f.WritevAt([][]byte{buf, nil, []byte("de")}, 2))
	copy(buf, "XXX") // the caller reuses its buffer
	if got := readAll(t, f); got != "\x00\x00abcde" {
		t.Fatalf("content = %q", got)
	}
	tests := []struct {
		off     int64
		n       int
		want    string
		wantErr error
	}{
		{2, 3, "abc", nil},
		{5, 4, "de", io.EOF},
		{7, 1, "", io.EOF},
		{9, 1, "", io.EOF},
		{9, 0, "", nil},
	}
	for _, tt := range tests {
		p := make([]byte, tt.n)
		n, err := f.ReadAt(p, tt.off)
		if string(p[:n]) != tt.want || err != tt.wantErr {
			t.Errorf("ReadAt(%d, %d) = %q, %v; want %q, %v", tt.n, tt.off, p[:n], err, tt.want, tt.wantErr)
		}
	}
}

func TestMemAllocateKeepsSize(t *testing.T) {
	m := NewMem()
	f := mustCreate(t, m, "a")
	mustWrite(t, f, 0, "abc")
	must(t, f.Allocate(0, 1<<20))
	if size, _ := f.Size(); size != 3 {
		t.Errorf("size after Allocate = %d, want 3", size)
	}
	for _, args := range [][2]int64{{-1, 10}, {0, 0}, {0, -5}} {
		if err := f.Allocate(args[0], args[1]); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("Allocate(%d, %d) = %v, want EINVAL", args[0], args[1], err)
		}
	}
}

func TestMemFileErrors(t *testing.T) {
	m := NewMem()
	must(t, mustCreate(t, m, "a").Close())
	closed := mustOpen(t, m, "a")
	must(t, closed.Close())
	readOnly, err := m.OpenReadOnly("a")
	must(t, err)
	tests := []struct {
		name string
		op   func() error
		want error
	}{
		{"Close twice", closed.Close, fs.ErrClosed},
		{"ReadAt closed", func() error { _, err := closed.ReadAt(make([]byte, 1), 0); return err }, fs.ErrClosed},
		{"WritevAt closed", func() error { return closed.WritevAt([][]byte{{1}}, 0) }, fs.ErrClosed},
		{"Datasync closed", closed.Datasync, fs.ErrClosed},
		{"Size closed", func() error { _, err := closed.Size(); return err }, fs.ErrClosed},
		{"WritevAt read-only", func() error { return readOnly.WritevAt([][]byte{{1}}, 0) }, syscall.EBADF},
		{"Truncate read-only", func() error { return readOnly.Truncate(0) }, syscall.EBADF},
		{"SetXattr read-only", func() error { return readOnly.SetXattr("user.k", nil) }, syscall.EBADF},
		{"GetXattr unset", func() error { _, err := readOnly.GetXattr("user.k"); return err }, ErrNoXattr},
		{"Truncate negative", func() error { return mustOpen(t, m, "a").Truncate(-1) }, syscall.EINVAL},
		{"WritevAt negative", func() error { return mustOpen(t, m, "a").WritevAt(nil, -1) }, syscall.EINVAL},
	}
	for _, tt := range tests {
		if err := tt.op(); !errors.Is(err, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestMemNamespaceErrors(t *testing.T) {
	m := NewMem()
	mustCreate(t, m, "d/a")
	tests := []struct {
		name string
		op   func() error
		want error
	}{
		{"Create existing", func() error { _, err := m.Create("d/./a"); return err }, fs.ErrExist},
		{"Open missing", func() error { _, err := m.Open("d/b"); return err }, fs.ErrNotExist},
		{"OpenReadOnly missing", func() error { _, err := m.OpenReadOnly("b"); return err }, fs.ErrNotExist},
		{"Remove missing", func() error { return m.Remove("d/b") }, fs.ErrNotExist},
		{"List missing", func() error { _, err := m.List("e"); return err }, fs.ErrNotExist},
		{"SyncDir missing", func() error { return m.SyncDir("e") }, fs.ErrNotExist},
		{"MkdirAll over file", func() error { return m.MkdirAll("d/a/b", 0o755) }, syscall.ENOTDIR},
		{"Create under file", func() error { _, err := m.Create("d/a/b"); return err }, syscall.ENOTDIR},
	}
	for _, tt := range tests {
		err := tt.op()
		var pathErr *fs.PathError
		if !errors.Is(err, tt.want) || !errors.As(err, &pathErr) {
			t.Errorf("%s: got %v, want *fs.PathError wrapping %v", tt.name, err, tt.want)
		}
	}
}

func TestMemList(t *testing.T) {
	m := NewMem()
	must(t, m.MkdirAll("/x/d/sub", 0o755))
	for _, name := range []string{"/x/d/c", "/x/d/a", "/x/d//b", "/x/d/sub/z", "/x/e/y"} {
		mustCreate(t, m, name)
	}
	must(t, m.Remove("/x/d/b"))
	got, err := m.List("/x/d/")
	must(t, err)
	if want := []string{"a", "c", "sub"}; !slices.Equal(got, want) {
		t.Errorf("List = %q, want %q", got, want)
	}
	if got, err := m.List("/x/e"); err != nil || !slices.Equal(got, []string{"y"}) {
		t.Errorf("List of implicit dir = %q, %v", got, err)
	}
	if f := mustCreate(t, m, "/x/d/./k"); f.Name() != "/x/d/./k" {
		t.Errorf("Name = %q, want the path as given", f.Name())
	}
}

func TestMemConcurrentReadAndWrite(t *testing.T) {
	m := NewMem()
	w := mustCreate(t, m, "a")
	r, err := m.OpenReadOnly("a")
	must(t, err)
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 1000 {
			if err := w.WritevAt([][]byte{{byte(i)}}, int64(i)); err != nil {
				t.Error(err)
				return
			}
		}
	})
	p := make([]byte, 16)
	for range 1000 {
		if _, err := r.ReadAt(p, 0); err != nil && err != io.EOF {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if size, _ := r.Size(); size != 1000 {
		t.Errorf("size = %d, want 1000", size)
	}
}
