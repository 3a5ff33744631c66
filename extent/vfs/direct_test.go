package vfs

import (
	"bytes"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// directSupported says whether dir's file system takes O_DIRECT opens,
// checked apart from the code under test.
func directSupported(t *testing.T, dir string) bool {
	t.Helper()
	probe := filepath.Join(dir, "probe")
	fd, err := unix.Open(probe, unix.O_CREAT|unix.O_WRONLY|unix.O_DIRECT, 0o644)
	if err != nil {
		t.Logf("O_DIRECT open in %s: %v", dir, err)
		return false
	}
	unix.Close(fd)
	return true
}

// TestDirectWritesReadBackExactly writes aligned ranges (direct, one of
// them larger than a staging chunk and made of odd pieces) and unaligned
// ones (buffered) over and next to each other, and reads the file back
// through the ordinary descriptor after every step.
func TestDirectWritesReadBackExactly(t *testing.T) {
	dir := t.TempDir()
	wantDirect := directSupported(t, dir)
	f, err := DirectWrites.Create(filepath.Join(dir, "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := f.(*osFile).writesDirect(); got != wantDirect {
		t.Fatalf("writesDirect = %v, but O_DIRECT opens in %s work: %v", got, dir, wantDirect)
	}

	rng := rand.New(rand.NewPCG(1, 2))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	var model []byte
	write := func(off int, bufs ...[]byte) {
		t.Helper()
		if err := f.WritevAt(bufs, int64(off)); err != nil {
			t.Fatalf("WritevAt(%d): %v", off, err)
		}
		data := bytes.Join(bufs, nil)
		if need := off + len(data); need > len(model) {
			model = append(model, make([]byte, need-len(model))...)
		}
		copy(model[off:], data)
		got := make([]byte, len(model))
		if _, err := f.ReadAt(got, 0); err != nil {
			t.Fatalf("ReadAt after writing at %d: %v", off, err)
		}
		if !bytes.Equal(got, model) {
			t.Fatalf("after writing %d bytes at %d the file differs from what was written", len(data), off)
		}
	}

	write(0, random(512))                                    // aligned header
	write(512, random(512), random(4096), random(3584))      // aligned, several pieces
	write(8704, random(100))                                 // unaligned: buffered
	write(8704, random(100), random(412))                    // aligned over a cached page
	write(9216, random(3<<20), random(1<<20+7), random(505)) // aligned, over one chunk
	write(777, random(10))                                   // unaligned inside direct data
	write(0, random(4096))                                   // aligned over both kinds

	if err := f.Datasync(); err != nil {
		t.Fatal(err)
	}
	size, err := f.Size()
	if err != nil || size != int64(len(model)) {
		t.Fatalf("size %d, %v; want %d", size, err, len(model))
	}
}

func TestDirectFits(t *testing.T) {
	d := &directFile{offsetAlign: 512, memAlign: 512}
	for _, c := range []struct {
		off, n int64
		want   bool
	}{
		{0, 512, true}, {512, 4096, true}, {0, 0, false}, {100, 512, false}, {512, 100, false}, {4096, 1 << 20, true},
	} {
		if got := d.fits(c.off, c.n); got != c.want {
			t.Errorf("fits(%d, %d) = %v, want %v", c.off, c.n, got, c.want)
		}
	}
	var none *directFile
	if none.fits(0, 512) {
		t.Error("a file without direct writes fits nothing")
	}
}

func TestAlignedBuffer(t *testing.T) {
	for range 20 {
		b := alignedBuffer(8192, 4096)
		if len(b) != 8192 || cap(b) != 8192 {
			t.Fatalf("len %d cap %d", len(b), cap(b))
		}
		if p := uintptrOfFirst(b); p%4096 != 0 {
			t.Fatalf("buffer at %#x is not 4096-aligned", p)
		}
	}
}

// TestStagingIsBounded: with every staging buffer taken, no more are
// made, and writes go through the page cache, correctly.
func TestStagingIsBounded(t *testing.T) {
	var taken [][]byte
	for range maxStaging {
		b := getStaging()
		if b == nil || len(b) != directChunk || uintptrOfFirst(b)%4096 != 0 {
			t.Fatalf("staging buffer of %d bytes at %#x", len(b), uintptrOfFirst(b))
		}
		taken = append(taken, b)
	}
	if b := getStaging(); b != nil {
		t.Fatalf("a staging buffer was made past the bound of %d", maxStaging)
	}
	f, err := DirectWrites.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := bytes.Repeat([]byte{7}, 8192)
	if err := f.WritevAt([][]byte{want}, 0); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(want))
	if _, err := f.ReadAt(got, 0); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read back after a buffered fallback write: %v", err)
	}
	for _, b := range taken {
		putStaging(b)
	}
	if b := getStaging(); b == nil {
		t.Fatal("no staging buffer after all were given back")
	} else {
		putStaging(b)
	}
}
