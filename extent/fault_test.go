package extent

// The three durability tests of STYLE.md ("Durability is tested, not
// assumed") live in fault_test.go (an error at operation i, for every i),
// crash_test.go (a crash before every write and sync) and
// corruption_test.go (a table of damaged files). The helpers they share
// are defined here and carry the prefix "dur", so that they do not collide
// with the helpers of the package's other test files.

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"path/filepath"
	"runtime/debug"
	"slices"
	"testing"

	"github.com/clogs-io/clogs/extent/vfs"
)

const (
	durDir = "/disk1"
	durID  = 42
)

// durPath is where every durability test keeps its extent file.
var durPath = filepath.Join(durDir, FileName(durID))

func durConfig(fsys vfs.FS) Config {
	cfg := DefaultConfig()
	cfg.FS = fsys
	return cfg
}

// durBlock returns a block with size seeded random payload bytes and
// udLen bytes of user data.
func durBlock(rng *rand.Rand, size, udLen int) Block {
	b := Block{Payload: make([]byte, size)}
	for i := range b.Payload {
		b.Payload[i] = byte(rng.Uint32())
	}
	if udLen > 0 {
		b.UserData = make([]byte, udLen)
		for i := range b.UserData {
			b.UserData[i] = byte(rng.Uint32())
		}
	}
	return b
}

// durOffsets returns where blocks land when appended back to back at start,
// and the end after them.
func durOffsets(start uint64, blocks []Block) ([]uint64, uint64) {
	offs := make([]uint64, len(blocks))
	for i, b := range blocks {
		offs[i] = start
		start += BlockSize(len(b.Payload))
	}
	return offs, start
}

// durEnd is the commit length of an extent holding exactly blocks.
func durEnd(blocks []Block) uint64 {
	_, end := durOffsets(ExtentHeaderSize, blocks)
	return end
}

// durReadFrom reads every block from off to the commit length, with a
// buffer smaller than the largest blocks (so both read paths run), and
// copies the blocks out of the buffer. On an error it returns the blocks
// read before it.
func durReadFrom(e *Extent, off uint64) ([]BlockAt, error) {
	buf := make([]byte, 3*PayloadAlign)
	var out []BlockAt
	for {
		blocks, next, err := e.Read(off, buf)
		if err != nil {
			return out, err
		}
		if len(blocks) == 0 {
			if next != off {
				return out, fmt.Errorf("read at %d returned no blocks but moved to %d", off, next)
			}
			return out, nil
		}
		for _, b := range blocks {
			out = append(out, BlockAt{Offset: b.Offset, Block: Block{
				Payload: bytes.Clone(b.Payload), UserData: bytes.Clone(b.UserData),
			}})
		}
		if next <= off {
			return out, fmt.Errorf("read at %d returned %d blocks but did not advance (next %d)", off, len(blocks), next)
		}
		off = next
	}
}

func durReadAll(e *Extent) ([]BlockAt, error) { return durReadFrom(e, ExtentHeaderSize) }

// durSame reports whether got holds exactly want, byte for byte, back to
// back from offset 512.
func durSame(got []BlockAt, want []Block) bool {
	if len(got) != len(want) {
		return false
	}
	offs, _ := durOffsets(ExtentHeaderSize, want)
	for i := range got {
		if got[i].Offset != offs[i] ||
			!bytes.Equal(got[i].Payload, want[i].Payload) ||
			!bytes.Equal(got[i].UserData, want[i].UserData) {
			return false
		}
	}
	return true
}

// durIsPrefixExtension reports whether got is base followed by a prefix
// (possibly empty) of maybe.
func durIsPrefixExtension(got []BlockAt, base, maybe []Block) bool {
	if len(got) < len(base) || len(got) > len(base)+len(maybe) {
		return false
	}
	return durSame(got, slices.Concat(base, maybe)[:len(got)])
}

// durDescribe summarizes blocks for failure messages.
func durDescribe(got []BlockAt) string {
	var parts []string
	for _, b := range got {
		parts = append(parts, fmt.Sprintf("%d:%dB", b.Offset, len(b.Payload)))
	}
	return fmt.Sprintf("%d blocks %v", len(got), parts)
}

// durCheckBlocks fails the test unless got is exactly want.
func durCheckBlocks(t *testing.T, label string, got []BlockAt, want []Block) {
	t.Helper()
	if !durSame(got, want) {
		t.Errorf("%s: read %s, want exactly %d blocks ending at %d", label, durDescribe(got), len(want), durEnd(want))
	}
}

// The scenario shared by the fault and crash tests: Create; appends of
// random-sized blocks, several blocks per call, some with user data; a
// conditional append at the end and one at a wrong offset; Seal; Close.

type durStepKind int

const (
	durAppend        durStepKind = iota
	durAppendAt                  // AppendAt at the current end
	durAppendAtWrong             // AppendAt at a wrong offset: refused, no I/O
)

type durStep struct {
	kind   durStepKind
	blocks []Block
}

type durPlan struct {
	steps []durStep
	// sealCutsLastAppend seals at the first block of the last append
	// instead of at the commit length, so Seal really truncates.
	sealCutsLastAppend bool
	// preallocate is Config.PreallocateStep (0: off).
	preallocate uint64
}

func newDurPlan(seed uint64) durPlan {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	random := func(n int) []Block {
		blocks := make([]Block, n)
		for i := range blocks {
			ud := 0
			if rng.IntN(2) == 0 {
				ud = 1 + rng.IntN(MaxUserData)
			}
			blocks[i] = durBlock(rng, 1+rng.IntN(3*PayloadAlign+100), ud)
		}
		return blocks
	}
	return durPlan{steps: []durStep{
		{durAppend, []Block{durBlock(rng, 1, 0)}},
		{durAppend, random(3)},
		{durAppend, []Block{durBlock(rng, PayloadAlign, MaxUserData), durBlock(rng, PayloadAlign+1, 7)}},
		{durAppendAt, random(2)},
		{durAppendAtWrong, random(1)},
		{durAppend, random(1)},
		{durAppend, random(4)},
	}}
}

// durRun runs a durPlan on an ErrorFS and records what the caller saw.
type durRun struct {
	t    *testing.T
	efs  *vfs.ErrorFS
	plan durPlan
	e    *Extent

	// stage is the call in progress, or the one that failed: "create",
	// "append", "seal", "close"; "" when the run completed.
	stage    string
	created  bool    // Create returned the extent
	acked    []Block // blocks whose Append returned success, in order
	ackedEnd uint64
	inflight []Block // blocks of the append in progress, or of the one that failed

	lastAppendOff uint64 // offset of the last acked append's first block
	lastAppendIdx int    // index in acked of that block

	sealing  bool   // Seal is running
	sealed   bool   // Seal returned success
	sealLen  uint64 // the length Seal was (or is being) called with
	sealKeep int    // acked blocks below sealLen

	// Set from the crash test's SetBeforeOp hook, by noteOp.
	unsyncedWrite bool // the append in progress has written, not yet synced
	sealTruncated bool // Seal's truncate ran
	sealSyncs     int  // Syncs Seal has done
}

func newDurRun(t *testing.T, efs *vfs.ErrorFS, plan durPlan) *durRun {
	return &durRun{t: t, efs: efs, plan: plan}
}

// run executes the plan and stops at the first error, leaving r.e open
// (unless Close failed) so the caller can look at it.
func (r *durRun) run() (err error) {
	defer func() {
		if p := recover(); p != nil {
			r.t.Fatalf("stage %q: panic: %v\n%s", r.stage, p, debug.Stack())
		}
	}()
	cfg := durConfig(r.efs)
	cfg.PreallocateStep = r.plan.preallocate
	r.stage = "create"
	e, err := Create(durPath, durID, cfg)
	if err != nil {
		return err
	}
	r.e, r.created, r.ackedEnd = e, true, ExtentHeaderSize
	for _, s := range r.plan.steps {
		if err := r.step(s); err != nil {
			return err
		}
	}
	r.stage = "seal"
	r.sealLen, r.sealKeep = r.ackedEnd, len(r.acked)
	if r.plan.sealCutsLastAppend {
		r.sealLen, r.sealKeep = r.lastAppendOff, r.lastAppendIdx
	}
	r.sealing = true
	err = r.e.Seal(r.sealLen)
	r.sealing = false
	if err != nil {
		return err
	}
	r.sealed = true
	r.stage = "close"
	if err := r.e.Close(); err != nil {
		return err
	}
	r.stage = ""
	return nil
}

func (r *durRun) step(s durStep) error {
	if s.kind == durAppendAtWrong {
		r.checkRefusedAppendAt(s.blocks)
		return nil
	}
	r.stage, r.inflight, r.unsyncedWrite = "append", s.blocks, false
	var offs []uint64
	var err error
	if s.kind == durAppendAt {
		offs, err = r.e.AppendAt(r.ackedEnd, s.blocks...)
	} else {
		offs, err = r.e.Append(s.blocks...)
	}
	if err != nil {
		if offs != nil {
			r.t.Errorf("failed append returned offsets %v", offs)
		}
		return err
	}
	want, end := durOffsets(r.ackedEnd, s.blocks)
	if !slices.Equal(offs, want) {
		r.t.Errorf("append returned offsets %v, want %v", offs, want)
	}
	r.lastAppendOff, r.lastAppendIdx = r.ackedEnd, len(r.acked)
	r.acked = append(r.acked, s.blocks...)
	r.ackedEnd, r.inflight = end, nil
	return nil
}

// checkRefusedAppendAt appends at a wrong offset: it must be refused with
// the current end, without touching the file.
func (r *durRun) checkRefusedAppendAt(blocks []Block) {
	before := r.efs.Ops()
	wrong := r.ackedEnd + BlockHeaderSize
	_, err := r.e.AppendAt(wrong, blocks...)
	var mismatch *OffsetMismatchError
	if !errors.As(err, &mismatch) || mismatch.End != r.ackedEnd || mismatch.Expected != wrong {
		r.t.Errorf("AppendAt(%d) with end %d: %v, want an *OffsetMismatchError with End %d", wrong, r.ackedEnd, err, r.ackedEnd)
	}
	if ops := r.efs.Ops() - before; ops != 0 {
		r.t.Errorf("refused AppendAt did %d file operations, want none", ops)
	}
}

// noteOp records that op is about to run (for the crash test's snapshots).
func (r *durRun) noteOp(op string) {
	switch {
	case r.stage == "append" && op == "WritevAt":
		r.unsyncedWrite = true
	case r.stage == "append" && op == "Datasync":
		r.unsyncedWrite = false
	case r.sealing && op == "Truncate":
		r.sealTruncated = true
	case r.sealing && op == "Sync":
		r.sealSyncs++
	}
}

// TestFaultAtEveryOperation fails file operation i of the scenario, for
// i = 0, 1, 2, ... until a run completes with no error injected, and
// checks what the caller saw and what a reopen (with and without a crash)
// finds.
func TestFaultAtEveryOperation(t *testing.T) {
	tests := []struct {
		name        string
		partial     bool // a failing write first writes half its bytes
		preallocate uint64
		sealAfter   bool // after a failed append, seal at the acked end
	}{
		{name: "plain"},
		{name: "partial-writes", partial: true},
		{name: "preallocate", preallocate: 4 * PayloadAlign},
		{name: "partial-writes-then-seal", partial: true, sealAfter: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			plan := newDurPlan(1)
			plan.preallocate = tc.preallocate
			const maxOps = 500
			var unwrapped []string // failures whose error hides vfs.ErrInjected
			defer func() {
				if len(unwrapped) > 0 {
					t.Errorf("%d failing calls return an error that does not wrap vfs.ErrInjected (errors.Is), for example %s",
						len(unwrapped), unwrapped[0])
				}
			}()
			for failAt := int64(0); ; failAt++ {
				if failAt >= maxOps {
					t.Fatalf("errors were still injected after %d operations: the scenario does not terminate", maxOps)
				}
				done := durFaultRun(t, plan, failAt, tc.partial, tc.sealAfter, &unwrapped)
				if done {
					if failAt < 20 {
						t.Fatalf("the scenario completed after only %d operations; it should do far more", failAt)
					}
					t.Logf("%d failure points", failAt)
					return
				}
			}
		})
	}
}

// durFaultRun runs the scenario failing operation failAt and checks the
// outcome. It returns true when no error was injected (the run is past the
// last operation).
func durFaultRun(t *testing.T, plan durPlan, failAt int64, partial, sealAfter bool, unwrapped *[]string) bool {
	t.Helper()
	m := vfs.NewMem()
	efs := vfs.NewErrorFS(m, failAt)
	efs.SetPartialWrites(partial)
	r := newDurRun(t, efs, plan)
	err := r.run()
	label := fmt.Sprintf("fail at op %d (%s)", failAt, r.stage)
	if !efs.Injected() {
		if err != nil {
			t.Fatalf("run with no error injected failed in %s: %v", r.stage, err)
		}
		durCheckReopen(t, "completed run, reopened", m, r)
		durCheckReopen(t, "completed run, reopened after a crash", m.Crash(), r)
		return true
	}
	if err == nil {
		t.Errorf("%s: the injected error was swallowed: the scenario succeeded", label)
		return false
	}
	// (a) The failing call itself reports the injected error.
	if !errors.Is(err, vfs.ErrInjected) {
		*unwrapped = append(*unwrapped, fmt.Sprintf("%s: %q", label, err))
	}
	if errors.Is(err, ErrCorrupt) {
		t.Errorf("%s: an I/O error is reported as corruption: %v", label, err)
	}
	if r.e != nil && r.stage != "close" {
		durCheckFailedHandle(t, label, r)
		if sealAfter && r.stage == "append" {
			durSealAfterFailure(t, label, r)
		}
		r.e.Close() // the error, if any, is not what this test is about
	}
	crashed := m.Crash() // before the reopen below changes m
	durCheckReopen(t, label+", reopened", m, r)
	durCheckReopen(t, label+", reopened after a crash", crashed, r)
	return false
}

// durCheckFailedHandle checks the still open extent after a failed append
// or seal: (b) reads see exactly the acked blocks; (c) it takes no more
// appends.
func durCheckFailedHandle(t *testing.T, label string, r *durRun) {
	t.Helper()
	want := r.acked
	if r.stage == "seal" {
		want = r.acked[:r.sealKeep]
	}
	got, err := durReadAll(r.e)
	if err != nil {
		t.Errorf("%s: read after the failure: %v", label, err)
	}
	durCheckBlocks(t, label+": read after the failure", got, want)
	if cl := r.e.CommitLength(); cl != durEnd(want) {
		t.Errorf("%s: commit length %d after the failure, want %d", label, cl, durEnd(want))
	}
	if r.stage != "append" && r.stage != "seal" {
		return
	}
	if r.e.Failed() == nil {
		t.Errorf("%s: Failed() = nil after a failed %s", label, r.stage)
	}
	extra := Block{Payload: []byte("after the failure")}
	if _, err := r.e.Append(extra); !errors.Is(err, ErrFailed) {
		t.Errorf("%s: Append after the failure: %v, want ErrFailed", label, err)
	}
	if _, err := r.e.AppendAt(r.ackedEnd, extra); !errors.Is(err, ErrFailed) {
		t.Errorf("%s: AppendAt(%d) after the failure: %v, want ErrFailed", label, r.ackedEnd, err)
	}
	if got, _ := durReadAll(r.e); !durSame(got, want) {
		t.Errorf("%s: refused appends changed what reads see: %s", label, durDescribe(got))
	}
}

// durSealAfterFailure seals a failed extent at its acked end, as the
// writer's manager does after a failed append (DESIGN.md, replication
// step 4). The seal must succeed and cut whatever the failed batch left.
func durSealAfterFailure(t *testing.T, label string, r *durRun) {
	t.Helper()
	r.sealLen, r.sealKeep = r.ackedEnd, len(r.acked)
	if err := r.e.Seal(r.ackedEnd); err != nil {
		t.Errorf("%s: Seal(%d) after the failed append: %v", label, r.ackedEnd, err)
		return
	}
	r.sealed, r.inflight = true, nil
	if length, sealed := r.e.Sealed(); !sealed || length != r.ackedEnd {
		t.Errorf("%s: Sealed() = %d, %v after Seal(%d)", label, length, sealed, r.ackedEnd)
	}
}

// durCheckReopen opens the extent on fsys, with no error injection, and
// checks (d): it exists unless Create failed; it holds every acked block
// in order, then at most a prefix of the failed append's blocks; it is
// sealed at the seal length if Seal returned, and only at that length; it
// takes appends again if it is not sealed.
func durCheckReopen(t *testing.T, label string, fsys vfs.FS, r *durRun) {
	t.Helper()
	e, err := Open(durPath, durConfig(fsys))
	if !r.created {
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: Open of an extent whose Create failed: %v, want fs.ErrNotExist", label, err)
		}
		if e != nil {
			e.Close()
		}
		return
	}
	if err != nil {
		t.Errorf("%s: Open: %v (corruption: %v)", label, err, errors.Is(err, ErrCorrupt))
		return
	}
	defer e.Close()
	got, err := durReadAll(e)
	if err != nil {
		t.Errorf("%s: read: %v", label, err)
	}
	length, sealed := e.Sealed()
	base, maybe := r.acked, []Block(nil)
	if r.stage == "append" {
		maybe = r.inflight
	}
	if r.sealed || sealed {
		base, maybe = r.acked[:r.sealKeep], nil
	}
	if !durIsPrefixExtension(got, base, maybe) {
		t.Errorf("%s: read %s, want the %d acked blocks (end %d) and at most %d blocks of the failed append",
			label, durDescribe(got), len(base), durEnd(base), len(maybe))
	}
	switch {
	case r.sealed:
		if !sealed || length != r.sealLen {
			t.Errorf("%s: Sealed() = %d, %v; Seal(%d) had returned success", label, length, sealed, r.sealLen)
		}
	case sealed && (r.stage != "seal" || length != r.sealLen):
		t.Errorf("%s: Sealed() = %d, %v, but only a failed Seal(%d) may leave it sealed (stage %q)", label, length, sealed, r.sealLen, r.stage)
	}
	if cl := e.CommitLength(); cl != durEnd(durBlocksOf(got)) {
		t.Errorf("%s: commit length %d, the blocks read end at %d", label, cl, durEnd(durBlocksOf(got)))
	}
	if sealed {
		return
	}
	end := e.CommitLength()
	extra := Block{Payload: []byte("appended after the reopen"), UserData: []byte("u")}
	if offs, err := e.Append(extra); err != nil || len(offs) != 1 || offs[0] != end {
		t.Errorf("%s: Append after the reopen: offsets %v, %v; want [%d]", label, offs, err, end)
	}
}

// durBlocksOf drops the offsets.
func durBlocksOf(got []BlockAt) []Block {
	out := make([]Block, len(got))
	for i, b := range got {
		out[i] = b.Block
	}
	return out
}
