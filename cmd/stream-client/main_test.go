package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clogs-io/clogs/extent"
)

// runArgs runs the command line in-process, as main does, and returns what
// it printed and its exit code.
func runArgs(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return out.String(), errOut.String(), code
}

// testExtent is an extent file a test made, and where its blocks are.
type testExtent struct {
	path    string
	id      uint64
	blocks  []extent.Block
	offsets []uint64
	end     uint64 // commit length after the appends (the sealed length if sealed)
	created int64
}

// testBlocks are blocks of one page, two pages and one byte of payload,
// with no, short and the largest user data.
func testBlocks() []extent.Block {
	return []extent.Block{
		{Payload: bytes.Repeat([]byte("a"), 100), UserData: []byte("abc")},
		{Payload: bytes.Repeat([]byte{0x01, 0x02, 0x03}, 2000)},
		{Payload: []byte{0xff}, UserData: bytes.Repeat([]byte{0x5a}, extent.MaxUserData)},
	}
}

// makeExtent creates extent id in dir with blocks, sealed at its commit
// length when seal is set, and closes it.
func makeExtent(t *testing.T, dir string, id uint64, blocks []extent.Block, seal bool) testExtent {
	t.Helper()
	path := filepath.Join(dir, extent.FileName(id))
	e, err := extent.Create(path, id, extent.DefaultConfig())
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	te := testExtent{path: path, id: id, blocks: blocks, created: e.Header().CreatedNanos}
	for _, b := range blocks {
		offs, err := e.Append(b)
		if err != nil {
			t.Fatalf("append: %v", err)
		}
		te.offsets = append(te.offsets, offs...)
	}
	te.end = e.CommitLength()
	if seal {
		if err := e.Seal(te.end); err != nil {
			t.Fatalf("seal: %v", err)
		}
	}
	if err := e.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	return te
}

// flipByte inverts one byte of the file at off.
func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// appendGarbage adds n non-zero bytes at the end of the file.
func appendGarbage(t *testing.T, path string, n int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(bytes.Repeat([]byte{0xee}, n)); err != nil {
		t.Fatal(err)
	}
}

func truncateFile(t *testing.T, path string, size uint64) {
	t.Helper()
	if err := os.Truncate(path, int64(size)); err != nil {
		t.Fatal(err)
	}
}

// Damage makers for the problem tables.

// flipInBlock flips the byte at off inside a block: 4 is the payload
// length, 16 the user data, extent.BlockHeaderSize the payload.
func flipInBlock(block int, off int64) func(*testing.T, testExtent) {
	return func(t *testing.T, te testExtent) { flipByte(t, te.path, int64(te.offsets[block])+off) }
}

func flipPayloadOf(block int) func(*testing.T, testExtent) {
	return flipInBlock(block, extent.BlockHeaderSize)
}

func flipAt(off int64) func(*testing.T, testExtent) {
	return func(t *testing.T, te testExtent) { flipByte(t, te.path, off) }
}

func garbage(n int) func(*testing.T, testExtent) {
	return func(t *testing.T, te testExtent) { appendGarbage(t, te.path, n) }
}

func truncateTo(size func(testExtent) uint64) func(*testing.T, testExtent) {
	return func(t *testing.T, te testExtent) { truncateFile(t, te.path, size(te)) }
}

func offsetOf(block int) func(testExtent) uint64 {
	return func(te testExtent) uint64 { return te.offsets[block] }
}

func endOf(te testExtent) uint64 { return te.end }

func zero(testExtent) uint64 { return 0 }

func TestSMFlagDefault(t *testing.T) {
	t.Setenv(smEnv, "")
	if got := newRootCmd().PersistentFlags().Lookup("sm").DefValue; got != defaultSM {
		t.Errorf("--sm default %q, want %q", got, defaultSM)
	}
	t.Setenv(smEnv, "10.0.0.1:3401")
	if got := newRootCmd().PersistentFlags().Lookup("sm").DefValue; got != "10.0.0.1:3401" {
		t.Errorf("--sm default with $%s set: %q, want 10.0.0.1:3401", smEnv, got)
	}
}

func TestSMFlagIsGlobal(t *testing.T) {
	// A persistent flag is accepted after any subcommand.
	te := makeExtent(t, t.TempDir(), 1, testBlocks(), false)
	if _, stderr, code := runArgs(t, "extent", "verify", "--sm", "10.0.0.2:1", te.path); code != exitOK {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}

func TestVersion(t *testing.T) {
	stdout, _, code := runArgs(t, "--version")
	if code != exitOK || !strings.HasPrefix(stdout, "stream-client version ") {
		t.Errorf("--version: exit %d, output %q", code, stdout)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"no-such-command"},
		{"extent", "no-such-command"},
		{"extent", "dump"},
		{"extent", "dump", "a", "b"},
		{"extent", "verify"},
		{"extent", "dump", "--no-such-flag", "x"},
		{"extent", "dump", "--payloads", "-1", "x"},
	} {
		stdout, stderr, code := runArgs(t, args...)
		if code != exitFailure {
			t.Errorf("%q: exit %d, want %d", args, code, exitFailure)
		}
		if stdout != "" {
			t.Errorf("%q: printed %q to stdout, want nothing", args, stdout)
		}
		if strings.Count(stderr, "\n") != 2 || !strings.Contains(stderr, "--help' for usage") {
			t.Errorf("%q: stderr %q, want the error once and a hint to --help", args, stderr)
		}
		if strings.Contains(stderr, "Usage:") {
			t.Errorf("%q: usage text printed: %q", args, stderr)
		}
	}
}

func TestHelpExitsZero(t *testing.T) {
	for _, args := range [][]string{nil, {"extent"}, {"extent", "dump", "--help"}} {
		stdout, _, code := runArgs(t, args...)
		if code != exitOK || !strings.Contains(stdout, "Usage:") {
			t.Errorf("%q: exit %d, output %q", args, code, stdout)
		}
	}
}
