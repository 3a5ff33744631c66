package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clogs-io/clogs/extent"
)

// dumpDoc mirrors the documented --json output of extent dump.
type dumpDoc struct {
	Path         string  `json:"path"`
	ExtentID     uint64  `json:"extent_id"`
	Version      uint32  `json:"version"`
	Created      *string `json:"created"`
	Size         uint64  `json:"size"`
	Sealed       bool    `json:"sealed"`
	SealedLength uint64  `json:"sealed_length"`
	Blocks       []struct {
		Offset      uint64 `json:"offset"`
		PayloadLen  int    `json:"payload_len"`
		Size        uint64 `json:"size"`
		UserDataLen int    `json:"user_data_len"`
		UserDataHex string `json:"user_data_hex"`
		PayloadHex  string `json:"payload_hex"`
	} `json:"blocks"`
	ValidEnd uint64 `json:"valid_end"`
	Problem  *struct {
		Kind    string `json:"kind"`
		Offset  uint64 `json:"offset"`
		Message string `json:"message"`
	} `json:"problem"`
}

// dumpJSONOf runs dump --json and decodes its single JSON document,
// checking that every documented key is present and no other.
func dumpJSONOf(t *testing.T, args ...string) dumpDoc {
	t.Helper()
	stdout, stderr, code := runArgs(t, append([]string{"extent", "dump", "--json"}, args...)...)
	if code != exitOK {
		t.Fatalf("dump --json: exit %d, stderr %q", code, stderr)
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal([]byte(stdout), &keys); err != nil {
		t.Fatalf("output is not one JSON object: %v\n%s", err, stdout)
	}
	for _, k := range []string{"path", "extent_id", "version", "created", "size", "sealed", "sealed_length", "blocks", "valid_end", "problem"} {
		if _, ok := keys[k]; !ok {
			t.Errorf("key %q missing", k)
		}
	}
	dec := json.NewDecoder(strings.NewReader(stdout))
	dec.DisallowUnknownFields()
	var doc dumpDoc
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("decode: %v\n%s", err, stdout)
	}
	if err := dec.Decode(&json.RawMessage{}); !errors.Is(err, io.EOF) {
		t.Fatalf("more than one JSON document: %v", err)
	}
	return doc
}

func hexPrefix(b []byte, n int) string { return hex.EncodeToString(b[:min(n, len(b))]) }

func TestDumpJSON(t *testing.T) {
	for _, sealed := range []bool{false, true} {
		t.Run(fmt.Sprintf("sealed=%v", sealed), func(t *testing.T) {
			te := makeExtent(t, t.TempDir(), 42, testBlocks(), sealed)
			doc := dumpJSONOf(t, te.path)
			if doc.Path != te.path || doc.ExtentID != 42 || doc.Version != extent.FormatVersion {
				t.Errorf("path %q, extent %d, version %d", doc.Path, doc.ExtentID, doc.Version)
			}
			if doc.Created == nil {
				t.Fatal("created is null")
			}
			created, err := time.Parse(time.RFC3339Nano, *doc.Created)
			if err != nil || !strings.HasSuffix(*doc.Created, "Z") || created.UnixNano() != te.created {
				t.Errorf("created %q (%v), want %d in UTC", *doc.Created, err, te.created)
			}
			if doc.Size != te.end || doc.ValidEnd != te.end || doc.Problem != nil {
				t.Errorf("size %d, valid end %d, problem %+v; want %d, %d, null", doc.Size, doc.ValidEnd, doc.Problem, te.end, te.end)
			}
			wantSealedLen := uint64(0)
			if sealed {
				wantSealedLen = te.end
			}
			if doc.Sealed != sealed || doc.SealedLength != wantSealedLen {
				t.Errorf("sealed %v at %d, want %v at %d", doc.Sealed, doc.SealedLength, sealed, wantSealedLen)
			}
			if len(doc.Blocks) != len(te.blocks) {
				t.Fatalf("%d blocks, want %d", len(doc.Blocks), len(te.blocks))
			}
			for i, b := range doc.Blocks {
				want := te.blocks[i]
				if b.Offset != te.offsets[i] || b.PayloadLen != len(want.Payload) || b.Size != extent.BlockSize(len(want.Payload)) || b.UserDataLen != len(want.UserData) {
					t.Errorf("block %d: %+v, want offset %d, payload %d, user data %d", i, b, te.offsets[i], len(want.Payload), len(want.UserData))
				}
				if b.UserDataHex != hexPrefix(want.UserData, 16) || b.PayloadHex != hexPrefix(want.Payload, 16) {
					t.Errorf("block %d: previews %q %q", i, b.UserDataHex, b.PayloadHex)
				}
			}
		})
	}
}

func TestDumpJSONPayloadPreview(t *testing.T) {
	te := makeExtent(t, t.TempDir(), 1, testBlocks(), false)
	doc := dumpJSONOf(t, "--payloads", "0", te.path)
	for i, b := range doc.Blocks {
		if b.PayloadHex != "" {
			t.Errorf("--payloads 0: block %d payload preview %q", i, b.PayloadHex)
		}
	}
	doc = dumpJSONOf(t, "--payloads", "200", te.path)
	for i, b := range doc.Blocks {
		if want := hexPrefix(te.blocks[i].Payload, 200); b.PayloadHex != want {
			t.Errorf("--payloads 200: block %d payload preview %q, want %q", i, b.PayloadHex, want)
		}
	}
}

func TestDumpJSONEmptyExtent(t *testing.T) {
	te := makeExtent(t, t.TempDir(), 1, nil, false)
	stdout, _, _ := runArgs(t, "extent", "dump", "--json", te.path)
	if !strings.Contains(stdout, `"blocks": []`) {
		t.Errorf("an empty extent's blocks are not []:\n%s", stdout)
	}
	doc := dumpJSONOf(t, te.path)
	if doc.ValidEnd != extent.ExtentHeaderSize || doc.Problem != nil {
		t.Errorf("valid end %d, problem %+v", doc.ValidEnd, doc.Problem)
	}
}

// textBlockRows returns the fields of the block table's rows in a text dump.
func textBlockRows(t *testing.T, stdout string) [][]string {
	t.Helper()
	var rows [][]string
	inTable := false
	for _, line := range strings.Split(stdout, "\n") {
		switch {
		case strings.HasPrefix(strings.TrimSpace(line), "OFFSET"):
			inTable = true
		case inTable && line == "":
			return rows
		case inTable:
			rows = append(rows, strings.Fields(line))
		}
	}
	t.Fatalf("no block table in:\n%s", stdout)
	return nil
}

// textField returns the value of a "name: value" line of a text dump.
func textField(t *testing.T, stdout, name string) string {
	t.Helper()
	for _, line := range strings.Split(stdout, "\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("no %q line in:\n%s", name, stdout)
	return ""
}

func TestDumpText(t *testing.T) {
	te := makeExtent(t, t.TempDir(), 42, testBlocks(), true)
	stdout, stderr, code := runArgs(t, "extent", "dump", te.path)
	if code != exitOK || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	created := time.Unix(0, te.created).UTC().Format(time.RFC3339Nano)
	for name, want := range map[string]string{
		"path":      te.path,
		"extent":    "42",
		"version":   "1",
		"created":   created,
		"size":      strconv.FormatUint(te.end, 10),
		"sealed":    fmt.Sprintf("yes, at %d", te.end),
		"blocks":    "3",
		"valid end": strconv.FormatUint(te.end, 10),
		"problem":   "none",
	} {
		if got := textField(t, stdout, name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	rows := textBlockRows(t, stdout)
	if len(rows) != len(te.blocks) {
		t.Fatalf("%d block rows, want %d:\n%s", len(rows), len(te.blocks), stdout)
	}
	for i, row := range rows {
		b := te.blocks[i]
		userData := "-"
		if len(b.UserData) > 0 {
			userData = hexPrefix(b.UserData, 16)
			if len(b.UserData) > 16 {
				userData += "..."
			}
		}
		payload := hexPrefix(b.Payload, 16)
		if len(b.Payload) > 16 {
			payload += "..."
		}
		want := []string{
			strconv.FormatUint(te.offsets[i], 10),
			strconv.Itoa(len(b.Payload)),
			strconv.FormatUint(extent.BlockSize(len(b.Payload)), 10),
			strconv.Itoa(len(b.UserData)),
			userData,
			payload,
		}
		if strings.Join(row, " ") != strings.Join(want, " ") {
			t.Errorf("block row %d:\n got %q\nwant %q", i, row, want)
		}
	}
}

func TestDumpTextWithoutPayloads(t *testing.T) {
	te := makeExtent(t, t.TempDir(), 1, testBlocks(), false)
	stdout, _, code := runArgs(t, "extent", "dump", "--payloads=0", te.path)
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	if strings.Contains(stdout, "PAYLOAD-HEX") {
		t.Errorf("payload column shown with --payloads=0:\n%s", stdout)
	}
	for i, row := range textBlockRows(t, stdout) {
		if len(row) != 5 {
			t.Errorf("row %d: %q, want 5 columns", i, row)
		}
	}
	if got := textField(t, stdout, "sealed"); got != "no" {
		t.Errorf("sealed: %q, want no", got)
	}
	for _, line := range strings.Split(stdout, "\n") {
		if strings.TrimRight(line, " ") != line {
			t.Errorf("trailing spaces in %q", line)
		}
	}
}

// TestDumpProblems: dump reports what is wrong, lists the blocks before it,
// and still exits 0.
func TestDumpProblems(t *testing.T) {
	blocks := testBlocks()
	tests := []struct {
		name       string
		sealed     bool
		damage     func(t *testing.T, te testExtent)
		wantKind   string
		wantOffset func(te testExtent) uint64
		wantBlocks int
	}{
		{"payload flipped in a middle block", false, flipPayloadOf(1), kindCorruption, offsetOf(1), 1},
		{"garbage after the last block", false, garbage(10), kindTornTail, endOf, 3},
		{"last block cut short", false, truncateTo(func(te testExtent) uint64 { return te.offsets[2] + extent.BlockHeaderSize + 1 }), kindTornTail, offsetOf(2), 2},
		// The sealed length is past the end: corruption at the file's end.
		{"sealed extent cut short", true, truncateTo(offsetOf(2)), kindCorruption, offsetOf(2), 2},
		{"header flipped", false, flipAt(9), kindCorruption, zero, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			te := makeExtent(t, t.TempDir(), 7, blocks, tt.sealed)
			tt.damage(t, te)
			wantOffset := tt.wantOffset(te)

			doc := dumpJSONOf(t, te.path)
			if doc.Problem == nil || doc.Problem.Kind != tt.wantKind || doc.Problem.Offset != wantOffset || doc.Problem.Message == "" {
				t.Fatalf("problem %+v, want %s at %d", doc.Problem, tt.wantKind, wantOffset)
			}
			if len(doc.Blocks) != tt.wantBlocks {
				t.Errorf("%d blocks listed, want %d", len(doc.Blocks), tt.wantBlocks)
			}

			stdout, _, code := runArgs(t, "extent", "dump", te.path)
			if code != exitOK {
				t.Fatalf("text dump: exit %d", code)
			}
			wantText := map[string]string{kindTornTail: "torn tail", kindCorruption: "corruption"}[tt.wantKind]
			if got := textField(t, stdout, "problem"); !strings.HasPrefix(got, fmt.Sprintf("%s at offset %d", wantText, wantOffset)) {
				t.Errorf("problem line %q, want %s at offset %d", got, wantText, wantOffset)
			}
		})
	}
}

func TestDumpInvalidHeader(t *testing.T) {
	te := makeExtent(t, t.TempDir(), 7, testBlocks(), false)
	flipByte(t, te.path, 9)
	doc := dumpJSONOf(t, te.path)
	if doc.Created != nil {
		t.Errorf("created %q for an invalid header, want null", *doc.Created)
	}
	stdout, _, _ := runArgs(t, "extent", "dump", te.path)
	if got := textField(t, stdout, "header"); got != "invalid" {
		t.Errorf("header: %q, want invalid", got)
	}
}

func TestDumpMissingFile(t *testing.T) {
	path := t.TempDir() + "/" + extent.FileName(3)
	for _, args := range [][]string{{"extent", "dump", path}, {"extent", "dump", "--json", path}} {
		stdout, stderr, code := runArgs(t, args...)
		if code != exitFailure {
			t.Errorf("%q: exit %d, want %d", args, code, exitFailure)
		}
		if stdout != "" {
			t.Errorf("%q: stdout %q, want nothing", args, stdout)
		}
		if !strings.Contains(stderr, path) || !strings.Contains(stderr, "no such file") || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%q: stderr %q, want one line naming the file and the cause", args, stderr)
		}
	}
}

func TestHexPreview(t *testing.T) {
	tests := []struct {
		in       []byte
		n        int
		want     string
		wantText string
	}{
		{nil, 16, "", "-"},
		{[]byte{1, 2}, 16, "0102", "0102"},
		{[]byte{1, 2, 3}, 2, "0102", "0102..."},
		{bytes.Repeat([]byte{0xab}, 16), 16, strings.Repeat("ab", 16), strings.Repeat("ab", 16)},
		{[]byte{1}, 0, "", "-"},
	}
	for _, tt := range tests {
		got, cut := hexPreview(tt.in, tt.n)
		if got != tt.want || previewText(got, cut) != tt.wantText {
			t.Errorf("hexPreview(%x, %d) = %q, %v (text %q); want %q (text %q)", tt.in, tt.n, got, cut, previewText(got, cut), tt.want, tt.wantText)
		}
	}
}
