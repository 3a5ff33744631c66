package extent

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/clogs-io/clogs/extent/vfs"
)

// durSnap is the caller's view of the scenario at one instant, with the
// crash images taken at that instant.
type durSnap struct {
	label         string
	created       bool
	acked         []Block
	inflight      []Block // blocks of the append in progress
	unsyncedWrite bool    // that append has written and not yet synced
	sealing       bool
	sealTruncated bool
	sealSyncs     int
	sealed        bool
	sealLen       uint64
	sealKeep      int

	crash *vfs.MemFS   // Crash(): synced state only
	torn  []*vfs.MemFS // CrashTorn with a seeded rng
	keep  []durKeptImage
}

// durKeptImage is CrashKeepingUnsynced keeping the first units of the
// unsynced operations.
type durKeptImage struct {
	units int
	fs    *vfs.MemFS
}

const durTornPerSnap = 16

func (r *durRun) snapshot(label string, m *vfs.MemFS, rng *rand.Rand) durSnap {
	s := durSnap{
		label: label, created: r.created, acked: slices.Clone(r.acked),
		unsyncedWrite: r.unsyncedWrite, sealing: r.sealing, sealTruncated: r.sealTruncated,
		sealSyncs: r.sealSyncs, sealed: r.sealed, sealLen: r.sealLen, sealKeep: r.sealKeep,
	}
	if r.stage == "append" {
		s.inflight = r.inflight
	}
	s.crash = m.Crash()
	for range durTornPerSnap {
		s.torn = append(s.torn, m.CrashTorn(rng))
	}
	total := 0
	m.CrashKeepingUnsynced(func(name string, units int) int {
		if name == durPath {
			total = units
		}
		return 0
	})
	for _, units := range durKeepPoints(total, s.inflight) {
		s.keep = append(s.keep, durKeptImage{units, m.CrashKeepingUnsynced(func(string, int) int { return units })})
	}
	return s
}

// durKeepPoints picks how many unsynced units a crash keeps: none, all,
// and around every block boundary of the in-flight batch.
func durKeepPoints(total int, inflight []Block) []int {
	if total == 0 {
		return nil
	}
	points := []int{0, 1, total - 1, total}
	at := 0
	for _, b := range inflight {
		for _, d := range []int{-1, 0, 1, 511, 512, 513} {
			points = append(points, at+d)
		}
		at += int(BlockSize(len(b.Payload)))
	}
	var out []int
	for _, p := range points {
		if p >= 0 && p <= total && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// durableBlocks is what a crash that keeps only synced bytes must leave.
func (s durSnap) durableBlocks() []Block {
	if s.sealed || s.sealSyncs > 0 {
		return s.acked[:s.sealKeep]
	}
	return s.acked
}

// durImage is what opening a crash image found.
type durImage struct {
	exists    bool
	blocks    []BlockAt
	torn      *TornTailError
	sealed    bool
	sealedLen uint64
}

// durOpenImage inspects and then opens the extent of a crash image, checks
// that Inspect, Open, Recovered and Read agree with each other and that
// nothing is corrupt, and returns what it found. ok is false when the
// image could not be read (the failure is already reported).
func durOpenImage(t *testing.T, label string, img vfs.FS) (durImage, bool) {
	t.Helper()
	rep, err := Inspect(img, durPath, nil)
	if errors.Is(err, fs.ErrNotExist) {
		if _, err := Open(durPath, durConfig(img)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: Inspect finds no file, Open: %v", label, err)
		}
		return durImage{}, true
	}
	if err != nil {
		t.Errorf("%s: Inspect: %v", label, err)
		return durImage{}, false
	}
	if errors.Is(rep.Problem, ErrCorrupt) {
		t.Errorf("%s: Inspect reports corruption after a crash: %v", label, rep.Problem)
	}
	e, err := Open(durPath, durConfig(img))
	if err != nil {
		t.Errorf("%s: Open: %v (corruption: %v)", label, err, errors.Is(err, ErrCorrupt))
		return durImage{}, false
	}
	defer e.Close()
	got := durImage{exists: true, torn: e.Recovered()}
	got.sealedLen, got.sealed = e.Sealed()
	got.blocks, err = durReadAll(e)
	if err != nil {
		t.Errorf("%s: read after recovery: %v", label, err)
		return got, false
	}
	end := durEnd(durBlocksOf(got.blocks))
	if cl := e.CommitLength(); cl != end {
		t.Errorf("%s: commit length %d, the blocks read end at %d", label, cl, end)
	}
	if size := durSize(t, img); size != end {
		t.Errorf("%s: the file has %d bytes after Open, the blocks end at %d", label, size, end)
	}
	if rep.Blocks != len(got.blocks) || rep.ValidEnd != end {
		t.Errorf("%s: Inspect saw %d blocks ending at %d, Open %d ending at %d", label, rep.Blocks, rep.ValidEnd, len(got.blocks), end)
	}
	if got.torn == nil {
		if rep.Size != end || rep.Problem != nil {
			t.Errorf("%s: no torn tail recovered, but the file had %d bytes for blocks ending at %d (Inspect: %v)", label, rep.Size, end, rep.Problem)
		}
		return got, true
	}
	var inspected *TornTailError
	switch {
	case !errors.Is(got.torn, ErrTornTail) || got.torn.ExtentID != durID:
		t.Errorf("%s: Recovered() = %v, want a torn tail of extent %d", label, got.torn, durID)
	case got.torn.Offset != end || got.torn.Dropped != rep.Size-end:
		t.Errorf("%s: Recovered() cut at %d dropping %d; the blocks end at %d in a file of %d bytes", label, got.torn.Offset, got.torn.Dropped, end, rep.Size)
	case !errors.As(rep.Problem, &inspected) || inspected.Offset != got.torn.Offset || inspected.Dropped != got.torn.Dropped:
		t.Errorf("%s: Inspect reported %v, Open recovered %v", label, rep.Problem, got.torn)
	}
	return got, true
}

// durSize returns the extent file's size in img.
func durSize(t *testing.T, img vfs.FS) uint64 {
	t.Helper()
	f, err := img.OpenReadOnly(durPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		t.Fatal(err)
	}
	return uint64(size)
}

// durCheckSealState checks the sealed state of a crash image: xattrs are
// durable only after Seal's last Sync, which runs just before it returns.
func durCheckSealState(t *testing.T, label string, got durImage, s durSnap) {
	t.Helper()
	if got.sealed != s.sealed || got.sealed && got.sealedLen != s.sealLen {
		t.Errorf("%s: Sealed() = %d, %v; want sealed %v at %d", label, got.sealedLen, got.sealed, s.sealed, s.sealLen)
	}
}

// durCheckExists checks that the file exists in an image exactly when
// Create had returned; it reports whether to look further.
func durCheckExists(t *testing.T, label string, got durImage, s durSnap) bool {
	t.Helper()
	if got.exists != s.created {
		t.Errorf("%s: extent file exists: %v; Create had returned: %v", label, got.exists, s.created)
	}
	return got.exists && s.created
}

// durCheckCrash: a crash that keeps only synced bytes leaves exactly the
// blocks whose append returned (less what a synced seal cut), no torn tail.
func durCheckCrash(t *testing.T, s durSnap) {
	label := s.label + ", Crash()"
	got, ok := durOpenImage(t, label, s.crash)
	if !ok || !durCheckExists(t, label, got, s) {
		return
	}
	if got.torn != nil {
		t.Errorf("%s: recovered a torn tail %v, but no unsynced byte survives Crash()", label, got.torn)
	}
	durCheckBlocks(t, label, got.blocks, s.durableBlocks())
	durCheckSealState(t, label, got, s)
}

// durCrashStats counts outcomes, so the test can tell that the crash
// images really exercised torn tails and partly kept batches.
type durCrashStats struct {
	tornTails    int // images whose Open cut a torn tail
	inflightKept int // images that kept some blocks of an unfinished append
}

func (st *durCrashStats) note(got durImage, s durSnap) {
	if got.torn != nil {
		st.tornTails++
	}
	if len(s.inflight) > 0 && len(got.blocks) > len(s.acked) {
		st.inflightKept++
	}
}

// durCheckTorn: a crash that keeps a random prefix of the unsynced
// operations leaves the acked blocks and possibly a prefix of the in-flight
// append's blocks; an unsynced seal truncate may or may not survive.
func durCheckTorn(t *testing.T, s durSnap, st *durCrashStats) {
	for i, img := range s.torn {
		label := fmt.Sprintf("%s, CrashTorn #%d", s.label, i)
		got, ok := durOpenImage(t, label, img)
		if !ok || !durCheckExists(t, label, got, s) {
			continue
		}
		st.note(got, s)
		var match bool
		switch {
		case s.sealed || s.sealSyncs > 0:
			match = durSame(got.blocks, s.acked[:s.sealKeep])
		case s.sealTruncated:
			match = durSame(got.blocks, s.acked) || durSame(got.blocks, s.acked[:s.sealKeep])
		default:
			match = durIsPrefixExtension(got.blocks, s.acked, s.inflight)
		}
		if !match {
			t.Errorf("%s: read %s; want the %d acked blocks (end %d), possibly followed by some of the %d in flight",
				label, durDescribe(got.blocks), len(s.acked), durEnd(s.acked), len(s.inflight))
		}
		durCheckSealState(t, label, got, s)
	}
}

// durCheckKept: a crash that keeps exactly the first units unsynced bytes
// of the in-flight batch leaves the acked blocks, every in-flight block
// that is wholly inside those bytes, and a torn tail of the rest.
func durCheckKept(t *testing.T, s durSnap, st *durCrashStats) {
	for _, k := range s.keep {
		label := fmt.Sprintf("%s, keeping %d unsynced units", s.label, k.units)
		got, ok := durOpenImage(t, label, k.fs)
		if !ok || !durCheckExists(t, label, got, s) {
			continue
		}
		st.note(got, s)
		want, dropped := s.durableBlocks(), uint64(0)
		switch {
		case s.unsyncedWrite:
			whole, at := 0, 0
			for _, b := range s.inflight {
				size := int(BlockSize(len(b.Payload)))
				if at+size > k.units {
					break
				}
				whole, at = whole+1, at+size
			}
			want, dropped = slices.Concat(s.acked, s.inflight[:whole]), uint64(k.units-at)
		case s.sealTruncated && s.sealSyncs == 0 && k.units > 0:
			want = s.acked[:s.sealKeep]
		}
		durCheckBlocks(t, label, got.blocks, want)
		switch {
		case dropped == 0 && got.torn != nil:
			t.Errorf("%s: recovered a torn tail %v, want none", label, got.torn)
		case dropped > 0 && (got.torn == nil || got.torn.Dropped != dropped):
			t.Errorf("%s: recovered %v, want a torn tail of %d bytes", label, got.torn, dropped)
		}
		durCheckSealState(t, label, got, s)
	}
}

// durCheckReseal: an extent that crashed inside Seal (between its truncate
// and its xattr, say) reopens consistent, and sealing it again at the same
// length succeeds and sticks.
func durCheckReseal(t *testing.T, s durSnap) {
	if !s.sealing {
		return
	}
	label := s.label + ", Crash() then Seal again"
	e, err := Open(durPath, durConfig(s.crash))
	if err != nil {
		t.Errorf("%s: Open: %v", label, err)
		return
	}
	if err := e.Seal(s.sealLen); err != nil {
		t.Errorf("%s: Seal(%d): %v", label, s.sealLen, err)
	}
	if err := e.Close(); err != nil {
		t.Errorf("%s: Close: %v", label, err)
	}
	after := s
	after.sealed, after.label = true, label+", Crash()"
	after.crash = s.crash.Crash()
	durCheckCrash(t, after)
}

// TestCrashAtEveryOpBoundary runs the scenario and, before every file
// operation, takes the images a crash would leave. Every image must open
// to exactly what the caller was promised.
func TestCrashAtEveryOpBoundary(t *testing.T) {
	tests := []struct {
		name string
		cut  bool
	}{
		{"seal-at-commit-length", false},
		{"seal-cuts-last-append", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			plan := newDurPlan(2)
			plan.sealCutsLastAppend = tc.cut
			m := vfs.NewMem()
			efs := vfs.NewErrorFS(m, -1)
			r := newDurRun(t, efs, plan)
			rng := rand.New(rand.NewPCG(7, 11))
			var snaps []durSnap
			ops := map[string]int{}
			efs.SetBeforeOp(func(op string, index int64) {
				snaps = append(snaps, r.snapshot(fmt.Sprintf("crash before op %d (%s in %s)", index, op, r.stage), m, rng))
				r.noteOp(op)
				ops[op]++
			})
			if err := r.run(); err != nil {
				t.Fatalf("scenario: %v", err)
			}
			efs.SetBeforeOp(nil)
			snaps = append(snaps, r.snapshot("crash after Close", m, rng))
			// The scenario must reach every kind of durability boundary.
			for _, op := range []string{"Create", "WritevAt", "Sync", "SyncDir", "Datasync", "Truncate", "SetXattr", "Close"} {
				if ops[op] == 0 {
					t.Fatalf("the scenario never calls %s; ops: %v", op, ops)
				}
			}
			var kept, inSeal int
			var tornStats, keptStats durCrashStats
			for _, s := range snaps {
				durCheckCrash(t, s)
				durCheckTorn(t, s, &tornStats)
				durCheckKept(t, s, &keptStats)
				durCheckReseal(t, s)
				kept += len(s.keep)
				if s.sealing {
					inSeal++
				}
			}
			if inSeal != 4 {
				t.Errorf("%d crash points inside Seal, want 4 (truncate, sync, setxattr, sync)", inSeal)
			}
			if tornStats.tornTails == 0 || tornStats.inflightKept == 0 || keptStats.tornTails == 0 || keptStats.inflightKept == 0 {
				t.Errorf("the crash images never exercised a torn tail or a partly kept batch: CrashTorn %+v, CrashKeepingUnsynced %+v", tornStats, keptStats)
			}
			t.Logf("CrashTorn %+v, CrashKeepingUnsynced %+v", tornStats, keptStats)
			t.Logf("%d crash points: %d Crash images, %d CrashTorn images, %d CrashKeepingUnsynced images",
				len(snaps), len(snaps), len(snaps)*durTornPerSnap, kept)
		})
	}
}
