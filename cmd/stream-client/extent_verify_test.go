package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clogs-io/clogs/extent"
)

// verifyDoc mirrors the documented --json output of extent verify.
type verifyDoc struct {
	Files []struct {
		Path         string `json:"path"`
		Status       string `json:"status"`
		ExtentID     uint64 `json:"extent_id"`
		Blocks       int    `json:"blocks"`
		Size         uint64 `json:"size"`
		Sealed       bool   `json:"sealed"`
		SealedLength uint64 `json:"sealed_length"`
		ValidEnd     uint64 `json:"valid_end"`
		Problem      *struct {
			Kind    string `json:"kind"`
			Offset  uint64 `json:"offset"`
			Message string `json:"message"`
		} `json:"problem"`
		Error string `json:"error"`
	} `json:"files"`
}

func TestVerifyGood(t *testing.T) {
	dir := t.TempDir()
	sealed := makeExtent(t, dir, 1, testBlocks(), true)
	open := makeExtent(t, dir, 2, testBlocks(), false)
	empty := makeExtent(t, dir, 3, nil, false)
	stdout, stderr, code := runArgs(t, "extent", "verify", sealed.path, open.path, empty.path)
	if code != exitOK || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	want := fmt.Sprintf("ok: %s: extent 1, 3 blocks, sealed at %d\n", sealed.path, sealed.end) +
		fmt.Sprintf("ok: %s: extent 2, 3 blocks, not sealed, valid end %d\n", open.path, open.end) +
		fmt.Sprintf("ok: %s: extent 3, 0 blocks, not sealed, valid end %d\n", empty.path, extent.ExtentHeaderSize)
	if stdout != want {
		t.Errorf("output:\n%s\nwant:\n%s", stdout, want)
	}
}

func TestVerifyGoodJSON(t *testing.T) {
	te := makeExtent(t, t.TempDir(), 9, testBlocks(), true)
	stdout, _, code := runArgs(t, "extent", "verify", "--json", te.path)
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	var doc verifyDoc
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("decode: %v\n%s", err, stdout)
	}
	if len(doc.Files) != 1 {
		t.Fatalf("%d files, want 1", len(doc.Files))
	}
	f := doc.Files[0]
	if f.Path != te.path || f.Status != statusOK || f.ExtentID != 9 || f.Blocks != 3 ||
		!f.Sealed || f.SealedLength != te.end || f.Size != te.end || f.ValidEnd != te.end || f.Problem != nil || f.Error != "" {
		t.Errorf("result %+v", f)
	}
}

func TestVerifyProblems(t *testing.T) {
	tests := []struct {
		name       string
		sealed     bool
		damage     func(t *testing.T, te testExtent)
		wantKind   string
		wantOffset func(te testExtent) uint64
	}{
		{"payload flipped in a middle block", false, flipPayloadOf(1), kindCorruption, offsetOf(1)},
		{"sealed, payload flipped in a middle block", true, flipPayloadOf(1), kindCorruption, offsetOf(1)},
		{"user data flipped in the first block", false, flipInBlock(0, 16), kindCorruption, offsetOf(0)},
		{"payload length flipped in a middle block", false, flipInBlock(1, 4), kindCorruption, offsetOf(1)},
		// Nothing valid follows the bad block: a crash can leave that, so
		// it is a torn tail; in a sealed extent every byte was agreed on.
		{"payload flipped in the last block", false, flipPayloadOf(2), kindTornTail, offsetOf(2)},
		{"sealed, payload flipped in the last block", true, flipPayloadOf(2), kindCorruption, offsetOf(2)},
		{"garbage after the last block", false, garbage(10), kindTornTail, endOf},
		{"a garbage block header after the last block", false, garbage(extent.BlockHeaderSize + 100), kindTornTail, endOf},
		{"last block cut short", false, truncateTo(func(te testExtent) uint64 { return te.end - 100 }), kindTornTail, offsetOf(2)},
		{"sealed, cut at a block boundary", true, truncateTo(offsetOf(2)), kindCorruption, offsetOf(2)},
		{"header flipped", false, flipAt(0), kindCorruption, zero},
		{"shorter than a header", false, truncateTo(func(testExtent) uint64 { return 100 }), kindCorruption, zero},
	}
	wantText := map[string]string{kindTornTail: "torn tail", kindCorruption: "corruption"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			te := makeExtent(t, t.TempDir(), 5, testBlocks(), tt.sealed)
			tt.damage(t, te)
			wantOffset := tt.wantOffset(te)

			stdout, stderr, code := runArgs(t, "extent", "verify", te.path)
			if code != exitInvalid {
				t.Errorf("exit %d, want %d", code, exitInvalid)
			}
			wantPrefix := fmt.Sprintf("invalid: %s: %s at offset %d", te.path, wantText[tt.wantKind], wantOffset)
			if !strings.HasPrefix(stdout, wantPrefix) || strings.Count(stdout, "\n") != 1 {
				t.Errorf("output %q, want one line starting %q", stdout, wantPrefix)
			}
			if strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "1 invalid") {
				t.Errorf("stderr %q, want one line saying 1 invalid", stderr)
			}

			stdout, _, code = runArgs(t, "extent", "verify", "--json", te.path)
			if code != exitInvalid {
				t.Errorf("--json: exit %d, want %d", code, exitInvalid)
			}
			var doc verifyDoc
			if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
				t.Fatalf("decode: %v\n%s", err, stdout)
			}
			f := doc.Files[0]
			if f.Status != statusInvalid || f.Problem == nil || f.Problem.Kind != tt.wantKind || f.Problem.Offset != wantOffset {
				t.Errorf("--json: %+v, want %s at %d", f, tt.wantKind, wantOffset)
			}
		})
	}
}

// TestVerifyReadOnly: verify reports a torn tail; it does not cut it as
// opening the extent would.
func TestVerifyReadOnly(t *testing.T) {
	te := makeExtent(t, t.TempDir(), 5, testBlocks(), false)
	appendGarbage(t, te.path, 10)
	if _, _, code := runArgs(t, "extent", "verify", te.path); code != exitInvalid {
		t.Fatalf("exit %d, want %d", code, exitInvalid)
	}
	fi, err := os.Stat(te.path)
	if err != nil {
		t.Fatal(err)
	}
	if uint64(fi.Size()) != te.end+10 {
		t.Errorf("size %d after verify, want %d (unchanged)", fi.Size(), te.end+10)
	}
}

// TestVerifySealedWithExtraBytes: bytes past the sealed length are what a
// crash between a seal's truncate and its xattr leaves; Open cuts them, so
// the file is ok.
func TestVerifySealedWithExtraBytes(t *testing.T) {
	te := makeExtent(t, t.TempDir(), 5, testBlocks(), true)
	appendGarbage(t, te.path, 4096)
	stdout, _, code := runArgs(t, "extent", "verify", te.path)
	want := fmt.Sprintf("ok: %s: extent 5, 3 blocks, sealed at %d (4096 bytes past it, which opening the extent cuts)\n", te.path, te.end)
	if code != exitOK || stdout != want {
		t.Errorf("exit %d, output %q; want 0, %q", code, stdout, want)
	}
}

func TestVerifyIDMismatch(t *testing.T) {
	dir := t.TempDir()
	te := makeExtent(t, dir, 5, testBlocks(), true)
	renamed := filepath.Join(dir, extent.FileName(6))
	if err := os.Rename(te.path, renamed); err != nil {
		t.Fatal(err)
	}
	stdout, _, code := runArgs(t, "extent", "verify", renamed)
	want := fmt.Sprintf("invalid: %s: file name says extent 6, the header says extent 5\n", renamed)
	if code != exitInvalid || stdout != want {
		t.Errorf("exit %d, output %q; want %d, %q", code, stdout, exitInvalid, want)
	}
	// A name that is not an extent file name is not checked.
	other := filepath.Join(dir, "copy-of-5")
	if err := os.Rename(renamed, other); err != nil {
		t.Fatal(err)
	}
	if _, _, code := runArgs(t, "extent", "verify", other); code != exitOK {
		t.Errorf("%s: exit %d, want 0", other, code)
	}
}

func TestVerifyMissingFile(t *testing.T) {
	dir := t.TempDir()
	good := makeExtent(t, dir, 1, testBlocks(), true)
	missing := filepath.Join(dir, extent.FileName(2))
	stdout, stderr, code := runArgs(t, "extent", "verify", missing, good.path)
	if code != exitFailure {
		t.Errorf("exit %d, want %d", code, exitFailure)
	}
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "error: "+missing+": ") || !strings.Contains(lines[0], "no such file") ||
		!strings.HasPrefix(lines[1], "ok: "+good.path+": ") {
		t.Errorf("output %q: want an error line for the missing file, then an ok line", stdout)
	}
	if strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "1 could not be read") {
		t.Errorf("stderr %q", stderr)
	}
}

// TestVerifyInvalidWinsOverUnreadable: exit 2 says "damage found" even when
// another file could not be read.
func TestVerifyInvalidWinsOverUnreadable(t *testing.T) {
	dir := t.TempDir()
	bad := makeExtent(t, dir, 1, testBlocks(), false)
	flipByte(t, bad.path, int64(bad.offsets[1])+extent.BlockHeaderSize)
	missing := filepath.Join(dir, extent.FileName(2))
	stdout, stderr, code := runArgs(t, "extent", "verify", "--json", missing, bad.path)
	if code != exitInvalid {
		t.Errorf("exit %d, want %d", code, exitInvalid)
	}
	if !strings.Contains(stderr, "2 extent files checked: 1 invalid, 1 could not be read") {
		t.Errorf("stderr %q", stderr)
	}
	var doc verifyDoc
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("decode: %v\n%s", err, stdout)
	}
	if len(doc.Files) != 2 || doc.Files[0].Status != statusError || doc.Files[0].Error == "" || doc.Files[1].Status != statusInvalid {
		t.Errorf("files %+v", doc.Files)
	}
}
