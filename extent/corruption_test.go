package extent

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/clogs-io/clogs/extent/vfs"
)

// durLayout is the fixture of the corruption tests: five blocks of
// different sizes, the offset of each and the end.
type durLayout struct {
	blocks []Block
	off    []uint64
	end    uint64
}

// endOf is where the first n blocks end.
func (l durLayout) endOf(n int) uint64 {
	if n == len(l.blocks) {
		return l.end
	}
	return l.off[n]
}

// durFixture writes a closed extent with five blocks on a MemFS, sealed at
// its end if sealed is set.
func durFixture(t *testing.T, sealed bool) (*vfs.MemFS, durLayout) {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, 4))
	l := durLayout{blocks: []Block{
		durBlock(rng, 100, 10),
		durBlock(rng, PayloadAlign, 0),
		durBlock(rng, 5000, MaxUserData),
		durBlock(rng, 1, 3),
		durBlock(rng, 9000, 40),
	}}
	m := vfs.NewMem()
	e, err := Create(durPath, durID, durConfig(m))
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range l.blocks {
		offs, err := e.Append(b)
		if err != nil {
			t.Fatal(err)
		}
		l.off = append(l.off, offs[0])
	}
	l.end = e.CommitLength()
	if want, end := durOffsets(ExtentHeaderSize, l.blocks); !slices.Equal(want, l.off) || end != l.end {
		t.Fatalf("fixture at %v ending at %d, want %v ending at %d", l.off, l.end, want, end)
	}
	if sealed {
		if err := e.Seal(l.end); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	return m, l
}

// durFileBytes returns the whole extent file.
func durFileBytes(t *testing.T, m *vfs.MemFS) []byte {
	t.Helper()
	f, err := m.OpenReadOnly(durPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, size)
	if _, err := f.ReadAt(buf, 0); err != nil && size > 0 {
		t.Fatal(err)
	}
	return buf
}

// durRewrite replaces the extent file's bytes durably; xattrs stay.
func durRewrite(t *testing.T, m *vfs.MemFS, content []byte) {
	t.Helper()
	f, err := m.Open(durPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(0); err != nil {
		t.Fatal(err)
	}
	if err := f.WritevAt([][]byte{content}, 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
}

// durSetSealedXattr sets the sealed-length attribute durably.
func durSetSealedXattr(t *testing.T, m *vfs.MemFS, value string) {
	t.Helper()
	f, err := m.Open(durPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.SetXattr(SealedXattr, []byte(value)); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
}

// durSealedXattr returns the sealed-length attribute, or "" when unset.
func durSealedXattr(t *testing.T, m *vfs.MemFS) string {
	t.Helper()
	f, err := m.OpenReadOnly(durPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	v, err := f.GetXattr(SealedXattr)
	if errors.Is(err, vfs.ErrNoXattr) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(v)
}

// durMutation changes a copy of the file's bytes.
type durMutation func(b []byte, l durLayout) []byte

// durFlip flips one bit at block i's offset plus delta.
func durFlip(i int, delta uint64) durMutation {
	return func(b []byte, l durLayout) []byte {
		b[l.off[i]+delta] ^= 0x10
		return b
	}
}

// durPutLen sets block i's payload-length field, the CRC not updated.
func durPutLen(i int, length func(l durLayout) uint32) durMutation {
	return func(b []byte, l durLayout) []byte {
		binary.LittleEndian.PutUint32(b[l.off[i]+blkOffPayloadLen:], length(l))
		return b
	}
}

// durReseal recomputes block i's CRC after mutate, as a writer would have
// for those bytes, so only the format's other checks can catch them.
func durReseal(i int, mutate durMutation) durMutation {
	return func(b []byte, l durLayout) []byte {
		b = mutate(b, l)
		hdr := b[l.off[i] : l.off[i]+BlockHeaderSize]
		n := binary.LittleEndian.Uint32(hdr[blkOffPayloadLen:])
		payload := b[l.off[i]+BlockHeaderSize:][:n]
		crc := crc32.Update(0, castagnoli, hdr[blkOffPayloadLen:])
		binary.LittleEndian.PutUint32(hdr[blkOffCRC:], crc32.Update(crc, castagnoli, payload))
		return b
	}
}

func durZero(from, to func(l durLayout) uint64) durMutation {
	return func(b []byte, l durLayout) []byte {
		clear(b[from(l):to(l)])
		return b
	}
}

func durCut(at func(l durLayout) uint64) durMutation {
	return func(b []byte, l durLayout) []byte { return b[:at(l)] }
}

func durGarbage(n int) durMutation {
	return func(b []byte, _ durLayout) []byte {
		rng := rand.New(rand.NewPCG(5, 6))
		for range n {
			b = append(b, byte(rng.Uint32()))
		}
		return b
	}
}

func durAt(i int, delta uint64) func(l durLayout) uint64 {
	return func(l durLayout) uint64 { return l.endOf(i) + delta }
}

// durOutcome is what Open and Inspect must make of a damaged file.
type durOutcome int

const (
	durClean   durOutcome = iota // opens with nothing cut
	durTorn                      // opens after cutting a torn tail at the damage
	durCorrupt                   // *CorruptionError at the damage; nothing changed
)

func (o durOutcome) String() string {
	return [...]string{"clean", "torn tail", "corruption"}[o]
}

// TestCorruptionTable damages a closed, unsealed extent of five blocks in
// one way each and checks Inspect and Open: a torn tail is cut (Recovered
// says where and how much) and the blocks before it survive byte for byte;
// damage followed by a valid block is a *CorruptionError at the damaged
// block that changes nothing.
func TestCorruptionTable(t *testing.T) {
	const mid, last = 2, 4
	tests := []struct {
		name      string
		mutate    durMutation
		outcome   durOutcome
		blocks    int // valid blocks before the damage: what survives
		headerHit bool
	}{
		{"header bit flip, middle block", durFlip(mid, blkOffUserData+5), durCorrupt, mid, false},
		{"header CRC bit flip, middle block", durFlip(mid, blkOffCRC+1), durCorrupt, mid, false},
		{"header bit flip, last block", durFlip(last, blkOffUserData+5), durTorn, last, false},
		{"payload bit flip, middle block", durFlip(mid, BlockHeaderSize+100), durCorrupt, mid, false},
		{"payload bit flip, last block", durFlip(last, BlockHeaderSize+8999), durTorn, last, false},
		{"padding bit flip, middle block", durFlip(mid, BlockHeaderSize+5000+10), durCorrupt, mid, false},
		{"padding bit flip, last block", durFlip(last, BlockHeaderSize+9000+10), durTorn, last, false},
		{"reserved header bytes set with a valid CRC, middle block", durReseal(mid, durFlip(mid, blkOffUserDataLen+3)), durCorrupt, mid, false},
		{"user data past its length set with a valid CRC, middle block", durReseal(mid, func(b []byte, l durLayout) []byte {
			binary.LittleEndian.PutUint16(b[l.off[mid]+blkOffUserDataLen:], 100)
			return b
		}), durCorrupt, mid, false},
		{"zeroed middle block", durZero(durAt(mid, 0), durAt(mid+1, 0)), durCorrupt, mid, false},
		// A tail of zeros is unwritten space (what Config.ZeroAhead
		// leaves past the end): cut, and nothing to report.
		{"zeroed last block", durZero(durAt(last, 0), durAt(last+1, 0)), durClean, last, false},
		{"zeroed first block", durZero(durAt(0, 0), durAt(1, 0)), durCorrupt, 0, false},
		{"cut inside the last block's payload", durCut(durAt(last, BlockHeaderSize+3000)), durTorn, last, false},
		{"cut inside the last block's padding", durCut(durAt(last, BlockHeaderSize+9000+1)), durTorn, last, false},
		{"cut inside the last block's header", durCut(durAt(last, 200)), durTorn, last, false},
		{"cut at a block boundary", durCut(durAt(last, 0)), durClean, last, false},
		{"cut to the bare extent header", durCut(durAt(0, 0)), durClean, 0, false},
		{"garbage after the last block", durGarbage(3000), durTorn, 5, false},
		{"garbage shorter than a header after the last block", durGarbage(100), durTorn, 5, false},
		{"zeros after the last block", func(b []byte, _ durLayout) []byte { return append(b, make([]byte, 2*PayloadAlign)...) }, durClean, 5, false},
		{"lying length: last block longer than the file", durPutLen(last, func(durLayout) uint32 { return MaxPayload }), durTorn, last, false},
		{"lying length: last block above the limit", durPutLen(last, func(durLayout) uint32 { return 0xFFFFFFFF }), durTorn, last, false},
		{"lying length: middle block shorter, CRC not updated", durPutLen(mid, func(durLayout) uint32 { return 4000 }), durCorrupt, mid, false},
		{"lying length: middle block spans the next one, CRC not updated", durPutLen(mid, func(l durLayout) uint32 {
			return uint32(l.off[mid+2] - l.off[mid] - BlockHeaderSize)
		}), durCorrupt, mid, false},
		{"lying length: middle block shorter with a valid CRC", durReseal(mid, durPutLen(mid, func(durLayout) uint32 { return 4000 })), durCorrupt, mid, false},
		{"lying length: middle block zero", durPutLen(mid, func(durLayout) uint32 { return 0 }), durCorrupt, mid, false},
		{"extent header: magic bit flip", func(b []byte, _ durLayout) []byte { b[3] ^= 1; return b }, durCorrupt, 0, true},
		{"extent header: CRC bit flip", func(b []byte, _ durLayout) []byte { b[extOffCRC] ^= 1; return b }, durCorrupt, 0, true},
		{"extent header: version 2 with a valid CRC", func(b []byte, _ durLayout) []byte {
			binary.LittleEndian.PutUint32(b[extOffVersion:], 2)
			binary.LittleEndian.PutUint32(b[extOffCRC:], crc32.Checksum(b[:extOffCRC], castagnoli))
			return b
		}, durCorrupt, 0, true},
		{"extent header: zeroed", durZero(func(durLayout) uint64 { return 0 }, durAt(0, 0)), durCorrupt, 0, true},
		{"extent header: cut short", durCut(func(durLayout) uint64 { return 100 }), durCorrupt, 0, true},
		{"empty file", durCut(func(durLayout) uint64 { return 0 }), durCorrupt, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, l := durFixture(t, false)
			damaged := tc.mutate(durFileBytes(t, m), l)
			durRewrite(t, m, damaged)
			at := l.endOf(tc.blocks) // where the damage starts
			if tc.headerHit {
				at = 0
			}
			wantID := uint64(durID)
			if tc.headerHit {
				// The extent ID lives in the damaged header: it cannot be
				// trusted, and the error may leave it out (it names the
				// file).
				wantID = durAnyID
			}
			durCheckInspect(t, m, tc.outcome, at, uint64(len(damaged))-at, tc.blocks, l.endOf(tc.blocks), wantID)
			if !bytes.Equal(durFileBytes(t, m), damaged) {
				t.Fatalf("Inspect changed the file")
			}

			e, err := Open(durPath, durConfig(m))
			if tc.outcome == durCorrupt {
				durCheckCorruption(t, "Open", err, wantID, at)
				if e != nil {
					t.Errorf("Open returned an extent with its error")
					e.Close()
				}
				if !bytes.Equal(durFileBytes(t, m), damaged) {
					t.Errorf("Open of a corrupt extent changed the file")
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v, want %s", err, tc.outcome)
			}
			torn := e.Recovered()
			switch {
			case tc.outcome == durClean && torn != nil:
				t.Errorf("Recovered() = %v, want nil", torn)
			case tc.outcome == durTorn && torn == nil:
				t.Errorf("Recovered() = nil, want a torn tail at %d", at)
			case tc.outcome == durTorn && (torn.ExtentID != durID || torn.Offset != at || torn.Dropped != uint64(len(damaged))-at || !errors.Is(torn, ErrTornTail)):
				t.Errorf("Recovered() = %+v, want extent %d, offset %d, dropped %d", torn, durID, at, uint64(len(damaged))-at)
			}
			durCheckSurvivors(t, e, m, l.blocks[:tc.blocks])
		})
	}
}

// durCheckInspect checks Inspect's report of a damaged, unsealed file.
func durCheckInspect(t *testing.T, m *vfs.MemFS, outcome durOutcome, at, dropped uint64, blocks int, validEnd, wantID uint64) {
	t.Helper()
	rep, err := Inspect(m, durPath, nil)
	if err != nil {
		t.Fatalf("Inspect: %v", err)
	}
	var torn *TornTailError
	switch outcome {
	case durClean:
		if rep.Problem != nil {
			t.Errorf("Inspect: problem %v, want none", rep.Problem)
		}
	case durTorn:
		if !errors.As(rep.Problem, &torn) || torn.ExtentID != durID || torn.Offset != at || torn.Dropped != dropped {
			t.Errorf("Inspect: problem %v, want a torn tail of extent %d at %d dropping %d", rep.Problem, durID, at, dropped)
		}
	case durCorrupt:
		durCheckCorruption(t, "Inspect", rep.Problem, wantID, at)
	}
	if rep.Blocks != blocks {
		t.Errorf("Inspect: %d valid blocks, want %d", rep.Blocks, blocks)
	}
	if rep.ValidEnd != validEnd {
		t.Errorf("Inspect: valid end %d, want %d", rep.ValidEnd, validEnd)
	}
}

// durAnyID accepts any extent ID in a corruption error.
const durAnyID = ^uint64(0)

// durCheckCorruption checks that err is a *CorruptionError of extent id at
// offset at, and not a torn tail.
func durCheckCorruption(t *testing.T, what string, err error, id, at uint64) {
	t.Helper()
	var corrupt *CorruptionError
	switch {
	case !errors.As(err, &corrupt):
		t.Errorf("%s: %v, want a *CorruptionError at %d", what, err, at)
	case corrupt.ExtentID != id && id != durAnyID || corrupt.Offset != at:
		t.Errorf("%s: corruption of extent %d at %d, want extent %d at %d (%v)", what, corrupt.ExtentID, corrupt.Offset, id, at, err)
	case !errors.Is(err, ErrCorrupt) || errors.Is(err, ErrTornTail):
		t.Errorf("%s: %v matches ErrCorrupt %v, ErrTornTail %v", what, err, errors.Is(err, ErrCorrupt), errors.Is(err, ErrTornTail))
	}
}

// durCheckSurvivors checks an extent opened after recovery: it holds
// exactly want, the file was cut to their end, it takes appends there, and
// it reopens with nothing more to recover.
func durCheckSurvivors(t *testing.T, e *Extent, m *vfs.MemFS, want []Block) {
	t.Helper()
	got, err := durReadAll(e)
	if err != nil {
		t.Errorf("read: %v", err)
	}
	durCheckBlocks(t, "after recovery", got, want)
	end := durEnd(want)
	if cl := e.CommitLength(); cl != end {
		t.Errorf("commit length %d, want %d", cl, end)
	}
	if size := uint64(len(durFileBytes(t, m))); size != end {
		t.Errorf("file has %d bytes after recovery, want %d", size, end)
	}
	extra := Block{Payload: []byte("after recovery"), UserData: []byte("x")}
	if offs, err := e.Append(extra); err != nil || offs[0] != end {
		t.Errorf("Append after recovery: %v, %v; want offset %d", offs, err, end)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	e, err = Open(durPath, durConfig(m.Crash()))
	if err != nil {
		t.Fatalf("reopen after recovery and a crash: %v", err)
	}
	defer e.Close()
	if torn := e.Recovered(); torn != nil {
		t.Errorf("reopen after recovery: Recovered() = %v, want nil", torn)
	}
	got, err = durReadAll(e)
	if err != nil {
		t.Errorf("read after reopen: %v", err)
	}
	durCheckBlocks(t, "after recovery, an append and a reopen", got, append(want[:len(want):len(want)], extra))
}

// TestCorruptionSealed damages sealed extents. A sealed extent opens
// without a scan, so damage inside it shows on Read (never as data) and in
// Inspect; a sealed length that the file cannot back is corruption; a
// file longer than its sealed length is cut back.
func TestCorruptionSealed(t *testing.T) {
	const mid, last = 2, 4
	tests := []struct {
		name   string
		mutate durMutation // nil: bytes unchanged
		xattr  func(l durLayout) string
		// Open
		openCorrupt bool
		openAt      func(l durLayout) []uint64 // acceptable corruption offsets; nil: any
		sealedAt    int                        // blocks below the sealed length, when Open succeeds
		badBlock    int                        // block that Read must report corrupt; -1: none
		// Inspect
		inspectCorrupt bool
		inspectAt      func(l durLayout) []uint64
		inspectBlocks  int
	}{
		{name: "payload bit flip, middle block", mutate: durFlip(mid, BlockHeaderSize+100),
			sealedAt: 5, badBlock: mid, inspectCorrupt: true, inspectAt: durOffs(mid), inspectBlocks: mid},
		{name: "header bit flip, middle block", mutate: durFlip(mid, blkOffUserData+5),
			sealedAt: 5, badBlock: mid, inspectCorrupt: true, inspectAt: durOffs(mid), inspectBlocks: mid},
		{name: "padding bit flip, middle block", mutate: durFlip(mid, BlockHeaderSize+5000+10),
			sealedAt: 5, badBlock: mid, inspectCorrupt: true, inspectAt: durOffs(mid), inspectBlocks: mid},
		{name: "payload bit flip, last block", mutate: durFlip(last, BlockHeaderSize+100),
			sealedAt: 5, badBlock: last, inspectCorrupt: true, inspectAt: durOffs(last), inspectBlocks: last},
		{name: "lying length, last block", mutate: durPutLen(last, func(durLayout) uint32 { return MaxPayload }),
			sealedAt: 5, badBlock: last, inspectCorrupt: true, inspectAt: durOffs(last), inspectBlocks: last},
		{name: "sealed length beyond the file", xattr: func(l durLayout) string { return strconv.FormatUint(l.end+4608, 10) },
			openCorrupt: true, openAt: durEndAt, inspectCorrupt: true, inspectAt: durEndAt, inspectBlocks: 5},
		{name: "file cut short of the sealed length", mutate: durCut(durAt(last, 0)),
			openCorrupt: true, openAt: durOffs(last), inspectCorrupt: true, inspectAt: durOffs(last), inspectBlocks: last},
		{name: "file longer than the sealed length", xattr: func(l durLayout) string { return strconv.FormatUint(l.off[last], 10) },
			sealedAt: last, badBlock: -1, inspectBlocks: last},
		{name: "garbage after the sealed length", mutate: durGarbage(3000),
			sealedAt: 5, badBlock: -1, inspectBlocks: 5},
		// An unreadable sealed length: Inspect still walks every block.
		{name: "sealed length not a number", xattr: func(durLayout) string { return "35840x" },
			openCorrupt: true, inspectCorrupt: true, inspectBlocks: 5},
		{name: "sealed length empty", xattr: func(durLayout) string { return "" },
			openCorrupt: true, inspectCorrupt: true, inspectBlocks: 5},
		{name: "sealed length inside the extent header", xattr: func(durLayout) string { return "256" },
			openCorrupt: true, inspectCorrupt: true, inspectBlocks: 5},
		{name: "sealed length not 512-aligned", xattr: func(l durLayout) string { return strconv.FormatUint(l.off[last]+100, 10) },
			openCorrupt: true, inspectCorrupt: true, inspectBlocks: 5},
		// Open refuses an unreadable sealed length, so Inspect must report
		// corruption, not the torn tail it finds after it.
		{name: "sealed length not a number, and garbage after the blocks", mutate: durGarbage(3000), xattr: func(durLayout) string { return "abc" },
			openCorrupt: true, inspectCorrupt: true, inspectBlocks: 5},
		// Seal only ever records block boundaries; a sealed length inside
		// a block is damage, and Open must not cut the block in half.
		{name: "sealed length inside a block", xattr: func(l durLayout) string { return strconv.FormatUint(l.off[mid]+BlockHeaderSize, 10) },
			openCorrupt: true, openAt: func(l durLayout) []uint64 { return []uint64{l.off[mid], l.off[mid] + BlockHeaderSize} },
			inspectCorrupt: true, inspectAt: durOffs(mid), inspectBlocks: mid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, l := durFixture(t, true)
			if tc.mutate != nil {
				durRewrite(t, m, tc.mutate(durFileBytes(t, m), l))
			}
			if tc.xattr != nil {
				durSetSealedXattr(t, m, tc.xattr(l))
			}
			damaged, xattr := durFileBytes(t, m), durSealedXattr(t, m)

			rep, err := Inspect(m, durPath, nil)
			if err != nil {
				t.Fatalf("Inspect: %v", err)
			}
			if tc.inspectCorrupt {
				durCheckCorruptionAt(t, "Inspect", rep.Problem, tc.inspectAt, l)
			} else if rep.Problem != nil {
				t.Errorf("Inspect: problem %v, want none", rep.Problem)
			}
			if rep.Blocks != tc.inspectBlocks {
				t.Errorf("Inspect: %d valid blocks, want %d", rep.Blocks, tc.inspectBlocks)
			}

			e, err := Open(durPath, durConfig(m))
			if tc.openCorrupt {
				durCheckCorruptionAt(t, "Open", err, tc.openAt, l)
				if e != nil {
					e.Close()
				}
				if !bytes.Equal(durFileBytes(t, m), damaged) || durSealedXattr(t, m) != xattr {
					t.Errorf("Open of a corrupt sealed extent changed the file (now %d bytes, was %d)", len(durFileBytes(t, m)), len(damaged))
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer e.Close()
			sealedLen := l.endOf(tc.sealedAt)
			if length, sealed := e.Sealed(); !sealed || length != sealedLen {
				t.Errorf("Sealed() = %d, %v; want %d, true", length, sealed, sealedLen)
			}
			if size := uint64(len(durFileBytes(t, m))); size != sealedLen {
				t.Errorf("file has %d bytes after Open, want the sealed length %d", size, sealedLen)
			}
			if _, err := e.Append(Block{Payload: []byte("x")}); !errors.Is(err, ErrSealed) {
				t.Errorf("Append to a sealed extent: %v, want ErrSealed", err)
			}
			durCheckSealedReads(t, e, l, tc.sealedAt, tc.badBlock)
		})
	}
}

func durOffs(i int) func(l durLayout) []uint64 {
	return func(l durLayout) []uint64 { return []uint64{l.off[i]} }
}

func durEndAt(l durLayout) []uint64 { return []uint64{l.end} }

// durCheckCorruptionAt checks that err is a *CorruptionError of the
// fixture's extent at one of the offsets at gives (any offset if at is
// nil).
func durCheckCorruptionAt(t *testing.T, what string, err error, at func(l durLayout) []uint64, l durLayout) {
	t.Helper()
	var corrupt *CorruptionError
	if !errors.As(err, &corrupt) {
		t.Errorf("%s: %v, want a *CorruptionError", what, err)
		return
	}
	if corrupt.ExtentID != durID || !errors.Is(err, ErrCorrupt) {
		t.Errorf("%s: %v: extent %d, want %d", what, err, corrupt.ExtentID, durID)
	}
	if at != nil {
		if offs := at(l); !durContains(offs, corrupt.Offset) {
			t.Errorf("%s: corruption at %d, want it at %v (%v)", what, corrupt.Offset, offs, err)
		}
	}
}

func durContains(offs []uint64, off uint64) bool { return slices.Contains(offs, off) }

// durCheckSealedReads reads a sealed extent of n blocks: the blocks before
// bad read fine, bad (if not -1) is a *CorruptionError with no data, and
// the blocks after it read fine from their offsets.
func durCheckSealedReads(t *testing.T, e *Extent, l durLayout, n, bad int) {
	t.Helper()
	got, err := durReadAll(e)
	if bad < 0 {
		if err != nil {
			t.Errorf("read: %v", err)
		}
		durCheckBlocks(t, "sealed extent", got, l.blocks[:n])
		return
	}
	durCheckBlocks(t, "sealed extent up to the damaged block", got, l.blocks[:bad])
	var corrupt *CorruptionError
	if !errors.As(err, &corrupt) || corrupt.Offset != l.off[bad] || corrupt.ExtentID != durID {
		t.Errorf("reading on to the damaged block: %v, want a *CorruptionError at %d", err, l.off[bad])
	}
	// Direct reads at the damaged block, with any buffer size, return no
	// bytes of it.
	for _, size := range []int{BlockHeaderSize, 3 * PayloadAlign, 64 << 10} {
		blocks, next, err := e.Read(l.off[bad], make([]byte, size))
		if !errors.As(err, &corrupt) || corrupt.Offset != l.off[bad] || len(blocks) != 0 || next != l.off[bad] {
			t.Errorf("Read(%d) with a %d-byte buffer: %d blocks, next %d, %v; want no blocks and a *CorruptionError", l.off[bad], size, len(blocks), next, err)
		}
	}
	if bad+1 < n {
		rest, err := durReadFrom(e, l.off[bad+1])
		if err != nil {
			t.Errorf("read after the damaged block: %v", err)
		}
		if !durSameFrom(rest, l.blocks[bad+1:n], l.off[bad+1]) {
			t.Errorf("read after the damaged block: %s, want blocks %d to %d", durDescribe(rest), bad+1, n-1)
		}
	}
}

// durSameFrom is durSame for blocks starting at off instead of 512.
func durSameFrom(got []BlockAt, want []Block, off uint64) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i].Offset != off || !bytes.Equal(got[i].Payload, want[i].Payload) || !bytes.Equal(got[i].UserData, want[i].UserData) {
			return false
		}
		off += BlockSize(len(want[i].Payload))
	}
	return true
}

// TestCorruptionVsBadReadOffset: a read at an offset that is not a block
// address is the caller's mistake (ErrBadOffset), never corruption, and
// returns nothing, on unsealed and sealed extents alike.
func TestCorruptionVsBadReadOffset(t *testing.T) {
	for _, sealed := range []bool{false, true} {
		t.Run(fmt.Sprintf("sealed=%v", sealed), func(t *testing.T) {
			m, l := durFixture(t, sealed)
			e, err := Open(durPath, durConfig(m))
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			offsets := []uint64{0, 1, ExtentHeaderSize - 1, ExtentHeaderSize + 1, l.off[2] + 3, l.end + 1, l.end + BlockHeaderSize, 1 << 40}
			for off := uint64(ExtentHeaderSize); off < l.end; off += BlockHeaderSize {
				if !durContains(l.off, off) {
					offsets = append(offsets, off) // aligned, inside a block
				}
			}
			for _, off := range offsets {
				for _, size := range []int{BlockHeaderSize, 64 << 10} {
					blocks, next, err := e.Read(off, make([]byte, size))
					if !errors.Is(err, ErrBadOffset) || errors.Is(err, ErrCorrupt) || len(blocks) != 0 || next != off {
						t.Errorf("Read(%d) with a %d-byte buffer: %d blocks, next %d, %v; want ErrBadOffset", off, size, len(blocks), next, err)
					}
				}
			}
			if blocks, next, err := e.Read(l.end, make([]byte, 4096)); err != nil || len(blocks) != 0 || next != l.end {
				t.Errorf("Read at the commit length: %d blocks, next %d, %v; want nothing", len(blocks), next, err)
			}
			for i, off := range l.off {
				got, err := durReadFrom(e, off)
				if err != nil || !durSameFrom(got, l.blocks[i:], off) {
					t.Errorf("read from block %d at %d: %s, %v", i, off, durDescribe(got), err)
				}
			}
		})
	}
}

// TestCorruptionVsBadReadOffsetBlockImage: a payload may hold anything,
// an encoded block included. A read at the 512-aligned offset of such an
// image inside a payload is still not a block address: it must fail with
// ErrBadOffset, not return the image as a block.
func TestCorruptionVsBadReadOffsetBlockImage(t *testing.T) {
	inner := Block{Payload: []byte("not a block of this extent"), UserData: []byte("fake")}
	image, err := EncodeBlock(inner)
	if err != nil {
		t.Fatal(err)
	}
	payload := append(bytes.Repeat([]byte{'p'}, BlockHeaderSize), image...)
	outer := Block{Payload: payload}
	for _, sealed := range []bool{false, true} {
		t.Run(fmt.Sprintf("sealed=%v", sealed), func(t *testing.T) {
			m := vfs.NewMem()
			e, err := Create(durPath, durID, durConfig(m))
			if err != nil {
				t.Fatal(err)
			}
			offs, err := e.Append(outer, Block{Payload: []byte("next")})
			if err != nil {
				t.Fatal(err)
			}
			if sealed {
				if err := e.Seal(e.CommitLength()); err != nil {
					t.Fatal(err)
				}
			}
			if err := e.Close(); err != nil {
				t.Fatal(err)
			}
			// The reopen scans the unsealed extent: the image is not a block.
			if e, err = Open(durPath, durConfig(m)); err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			imageAt := offs[0] + 2*BlockHeaderSize // header, then 512 bytes of 'p'
			blocks, next, err := e.Read(imageAt, make([]byte, 64<<10))
			if !errors.Is(err, ErrBadOffset) || len(blocks) != 0 {
				t.Errorf("Read(%d), inside the payload of the block at %d: %d blocks (next %d), %v; want ErrBadOffset",
					imageAt, offs[0], len(blocks), next, err)
			}
		})
	}
}
