package erasure

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clogs-io/clogs/extent"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// goldenExtentLength is the sealed length of the golden extent: its
// header and one block with a 3000-byte payload.
const goldenExtentLength = extent.ExtentHeaderSize + extent.BlockHeaderSize + extent.PayloadAlign

// goldenExtent returns a real, sealed version-1 extent: the header of
// extent/testdata/golden-v1.hex, which that package's test pins, and one
// block of text, so that every data chunk of the first stripes holds
// bytes and the golden shards pin every column of the coding matrix.
func goldenExtent(t *testing.T) []byte {
	t.Helper()
	raw, err := parseHexDump(filepath.Join("..", "extent", "testdata", "golden-v1.hex"))
	if err != nil {
		t.Fatal(err)
	}
	var payload []byte
	for i := 0; len(payload) < 3000; i++ {
		payload = fmt.Appendf(payload, "clogs erasure golden line %04d\n", i)
	}
	block, err := extent.EncodeBlock(extent.Block{Payload: payload[:3000], UserData: []byte("writer-9/seq-1")})
	if err != nil {
		t.Fatal(err)
	}
	out := append(raw[:extent.ExtentHeaderSize:extent.ExtentHeaderSize], block...)
	if len(out) != goldenExtentLength {
		t.Fatalf("golden extent is %d bytes", len(out))
	}
	return out
}

// parseHexDump reads back the output of hex.Dump.
func parseHexDump(path string) ([]byte, error) {
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []byte
	for _, line := range strings.Split(strings.TrimRight(string(text), "\n"), "\n") {
		if len(line) < 10 {
			return nil, fmt.Errorf("%s: short line %q", path, line)
		}
		cols, _, _ := strings.Cut(line[10:], "|")
		b, err := hex.DecodeString(strings.Join(strings.Fields(cols), ""))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, b...)
	}
	return out, nil
}

// goldenCodings are the codings of the golden files, with the smallest
// chunk size so that the extent spans several stripes.
var goldenCodings = []Params{
	{DataShards: 2, ParityShards: 1, ChunkSize: MinChunkSize},
	{DataShards: 4, ParityShards: 2, ChunkSize: MinChunkSize},
}

func goldenPath(p Params) string {
	return filepath.Join("testdata", fmt.Sprintf("golden-v1-%d+%d.hex", p.DataShards, p.ParityShards))
}

// dumpShards renders shard files as the golden files hold them.
func dumpShards(raw [][]byte) string {
	var sb strings.Builder
	for i, b := range raw {
		fmt.Fprintf(&sb, "shard %d\n%s", i, hex.Dump(b))
	}
	return sb.String()
}

func TestGoldenBytes(t *testing.T) {
	src := goldenExtent(t)
	for _, params := range goldenCodings {
		t.Run(params.String(), func(t *testing.T) {
			raw := encodeBytes(t, src, 42, params)
			got := dumpShards(raw)
			if *update {
				if err := os.WriteFile(goldenPath(params), []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(goldenPath(params))
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Fatalf("encoding changed: the format is frozen; diff %s against the encoder's output (-update rewrites it only for a new format version)", goldenPath(params))
			}
		})
	}
}

// TestGoldenBytesDecode reads the golden shards back, whole and with p
// shards missing, and finds the extent and its block.
func TestGoldenBytesDecode(t *testing.T) {
	src := goldenExtent(t)
	for _, params := range goldenCodings {
		t.Run(params.String(), func(t *testing.T) {
			raw := parseGoldenShards(t, goldenPath(params), params.Shards())
			shards := openShards(t, raw)
			h := shards[0].Header()
			if h.ExtentID != 42 || h.SealedLength != goldenExtentLength || h.Params != params || h.Stripes != params.Stripes(goldenExtentLength) {
				t.Fatalf("header = %+v", h)
			}
			missing := make([]int, params.ParityShards)
			for i := range missing {
				missing[i] = i // data shards: all of them rebuilt from parity
			}
			for _, set := range [][]*Shard{shards, without(shards, missing...)} {
				got, _, err := readAll(t, set, goldenExtentLength)
				if err != nil || !bytes.Equal(got, src) {
					t.Fatalf("read back: %v (equal %v)", err, bytes.Equal(got, src))
				}
			}
		})
	}
}

func parseGoldenShards(t *testing.T, path string, n int) [][]byte {
	t.Helper()
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(string(text), "shard ")
	if len(parts) != n+1 {
		t.Fatalf("%s holds %d shards, want %d", path, len(parts)-1, n)
	}
	raw := make([][]byte, n)
	for i, part := range parts[1:] {
		_, dump, _ := strings.Cut(part, "\n")
		tmp := filepath.Join(t.TempDir(), "dump")
		if err := os.WriteFile(tmp, []byte(dump), 0o644); err != nil {
			t.Fatal(err)
		}
		if raw[i], err = parseHexDump(tmp); err != nil {
			t.Fatal(err)
		}
	}
	return raw
}

// TestHeaderLayout pins the field offsets the package comment documents.
func TestHeaderLayout(t *testing.T) {
	h := ShardHeader{ExtentID: 0x0102030405060708, Index: 5, SealedLength: 1 << 20,
		Params: Params{DataShards: 4, ParityShards: 2, ChunkSize: 1 << 16}}
	buf := EncodeShardHeader(h)
	le := binary.LittleEndian
	checks := []struct {
		name      string
		got, want uint64
	}{
		{"extent ID at 8", le.Uint64(buf[8:]), h.ExtentID},
		{"version at 16", uint64(le.Uint32(buf[16:])), FormatVersion},
		{"index at 20", uint64(le.Uint16(buf[20:])), 5},
		{"d at 22", uint64(le.Uint16(buf[22:])), 4},
		{"p at 24", uint64(le.Uint16(buf[24:])), 2},
		{"chunk size at 28", uint64(le.Uint32(buf[28:])), 1 << 16},
		{"sealed length at 32", le.Uint64(buf[32:]), 1 << 20},
		{"stripes at 40", le.Uint64(buf[40:]), 4},
		{"crc at 60", uint64(le.Uint32(buf[60:])), uint64(crc32.Checksum(buf[:60], castagnoli))},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: %d, want %d", c.name, c.got, c.want)
		}
	}
	if string(buf[:8]) != "CLOGSSHD" || !allZero(buf[26:28]) || !allZero(buf[48:60]) {
		t.Errorf("magic or reserved bytes wrong: % x", buf)
	}
	got, err := DecodeShardHeader(buf)
	h.Version, h.Stripes = FormatVersion, 4
	if err != nil || got != h {
		t.Fatalf("decode = %+v, %v; want %+v", got, err, h)
	}
}

// patchHeader returns a valid header with fn applied and the checksum
// made right again, so that the field check itself is what fails.
func patchHeader(fn func(buf []byte)) []byte {
	buf := EncodeShardHeader(ShardHeader{ExtentID: 7, Index: 1, SealedLength: 10000,
		Params: Params{DataShards: 2, ParityShards: 1, ChunkSize: 1024}})
	fn(buf)
	binary.LittleEndian.PutUint32(buf[hdrOffCRC:], crc32.Checksum(buf[:hdrOffCRC], castagnoli))
	return buf
}

func TestDecodeShardHeaderErrors(t *testing.T) {
	le := binary.LittleEndian
	valid := patchHeader(func([]byte) {})
	flipped := bytes.Clone(valid)
	flipped[hdrOffLength] ^= 1
	tests := []struct {
		name string
		buf  []byte
		want error
	}{
		{"short", valid[:63], ErrTruncated},
		{"empty", nil, ErrTruncated},
		{"zeroed", make([]byte, ShardHeaderSize), ErrNotShard},
		{"extent file", append([]byte("CLOGSEXT"), valid[8:]...), ErrNotShard},
		{"flipped bit", flipped, ErrHeaderChecksum},
		{"version 0", patchHeader(func(b []byte) { le.PutUint32(b[hdrOffVersion:], 0) }), ErrVersion},
		{"version 2", patchHeader(func(b []byte) { le.PutUint32(b[hdrOffVersion:], 2) }), ErrVersion},
		{"d 0", patchHeader(func(b []byte) { le.PutUint16(b[hdrOffData:], 0) }), ErrHeaderField},
		{"p 0", patchHeader(func(b []byte) { le.PutUint16(b[hdrOffParity:], 0) }), ErrHeaderField},
		{"d 33", patchHeader(func(b []byte) { le.PutUint16(b[hdrOffData:], 33) }), ErrHeaderField},
		{"p 17", patchHeader(func(b []byte) { le.PutUint16(b[hdrOffParity:], 17) }), ErrHeaderField},
		{"d+p 33", patchHeader(func(b []byte) { le.PutUint16(b[hdrOffData:], 30); le.PutUint16(b[hdrOffParity:], 3) }), ErrHeaderField},
		{"index d+p", patchHeader(func(b []byte) { le.PutUint16(b[hdrOffIndex:], 3) }), ErrHeaderField},
		{"index huge", patchHeader(func(b []byte) { le.PutUint16(b[hdrOffIndex:], 0xffff) }), ErrHeaderField},
		{"chunk 0", patchHeader(func(b []byte) { le.PutUint32(b[hdrOffChunkSize:], 0) }), ErrHeaderField},
		{"chunk 1000", patchHeader(func(b []byte) { le.PutUint32(b[hdrOffChunkSize:], 1000) }), ErrHeaderField},
		{"chunk 256", patchHeader(func(b []byte) { le.PutUint32(b[hdrOffChunkSize:], 256) }), ErrHeaderField},
		{"chunk 8 MiB", patchHeader(func(b []byte) { le.PutUint32(b[hdrOffChunkSize:], 8<<20) }), ErrHeaderField},
		{"chunk 2^31", patchHeader(func(b []byte) { le.PutUint32(b[hdrOffChunkSize:], 1<<31) }), ErrHeaderField},
		{"length 0", patchHeader(func(b []byte) { le.PutUint64(b[hdrOffLength:], 0); le.PutUint64(b[hdrOffStripes:], 0) }), ErrHeaderField},
		{"length 2 TiB", patchHeader(func(b []byte) { le.PutUint64(b[hdrOffLength:], 2<<40); le.PutUint64(b[hdrOffStripes:], 1<<30) }), ErrHeaderField},
		{"stripes off by one", patchHeader(func(b []byte) { le.PutUint64(b[hdrOffStripes:], 6) }), ErrHeaderField},
		{"stripes huge", patchHeader(func(b []byte) { le.PutUint64(b[hdrOffStripes:], 1<<62) }), ErrHeaderField},
		{"reserved at 26", patchHeader(func(b []byte) { b[27] = 1 }), ErrHeaderField},
		{"reserved at 48", patchHeader(func(b []byte) { b[59] = 1 }), ErrHeaderField},
	}
	if _, err := DecodeShardHeader(valid); err != nil {
		t.Fatalf("valid header: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeShardHeader(tt.buf)
			var herr *HeaderError
			if !errors.Is(err, tt.want) || !errors.Is(err, ErrBadHeader) || !errors.As(err, &herr) {
				t.Fatalf("error %v, want a *HeaderError matching %v", err, tt.want)
			}
		})
	}
}

// TestOpenShardChecksSize: a file shorter or longer than its header says
// is refused before any chunk is read.
func TestOpenShardChecksSize(t *testing.T) {
	params := Params{DataShards: 2, ParityShards: 1, ChunkSize: 512}
	raw := encodeBytes(t, bytes.Repeat([]byte{1}, 3000), 9, params)[0]
	tests := []struct {
		name string
		file []byte
		want error
	}{
		{"header only", raw[:ShardHeaderSize], ErrTruncated},
		{"half a header", raw[:30], ErrTruncated},
		{"one byte short", raw[:len(raw)-1], ErrTruncated},
		{"one byte more", append(bytes.Clone(raw), 0), ErrTrailingBytes},
		{"garbage", bytes.Repeat([]byte("garbage!"), 400), ErrNotShard},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := OpenShard(bytes.NewReader(tt.file), int64(len(tt.file)))
			if !errors.Is(err, tt.want) || !errors.Is(err, ErrBadHeader) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
		})
	}
	// A reader that is shorter than the size claimed: a read error, not
	// a crash.
	if _, err := OpenShard(bytes.NewReader(raw[:20]), int64(len(raw))); err == nil {
		t.Fatal("opened a shard whose reader holds 20 bytes")
	}
}

func TestParams(t *testing.T) {
	valid := []Params{
		DefaultParams(),
		{DataShards: 1, ParityShards: 1, ChunkSize: MinChunkSize},
		{DataShards: 16, ParityShards: 16, ChunkSize: MaxChunkSize},
		{DataShards: 31, ParityShards: 1, ChunkSize: 4096},
	}
	for _, p := range valid {
		if err := p.Validate(); err != nil {
			t.Errorf("%+v: %v", p, err)
		}
	}
	invalid := []Params{
		{},
		{DataShards: 4, ParityShards: 0, ChunkSize: 4096},
		{DataShards: 0, ParityShards: 2, ChunkSize: 4096},
		{DataShards: 17, ParityShards: 16, ChunkSize: 4096},
		{DataShards: 4, ParityShards: 2, ChunkSize: 3 << 10},
		{DataShards: 4, ParityShards: 2, ChunkSize: 256},
		{DataShards: 4, ParityShards: 2, ChunkSize: 8 << 20},
		{DataShards: -1, ParityShards: 2, ChunkSize: 4096},
	}
	for _, p := range invalid {
		if err := p.Validate(); !errors.Is(err, ErrBadParams) {
			t.Errorf("%+v: %v, want ErrBadParams", p, err)
		}
	}
	if p, err := ParseParams("3+2"); err != nil || p != (Params{DataShards: 3, ParityShards: 2, ChunkSize: DefaultChunkSize}) {
		t.Errorf("ParseParams(3+2) = %+v, %v", p, err)
	}
	for _, s := range []string{"", "4", "4+", "+2", "4+0", "a+b", "40+2", "4-2"} {
		if _, err := ParseParams(s); !errors.Is(err, ErrBadParams) {
			t.Errorf("ParseParams(%q) = %v, want ErrBadParams", s, err)
		}
	}
	p := Params{DataShards: 4, ParityShards: 2, ChunkSize: 1024}
	if p.Stripes(1) != 1 || p.Stripes(4096) != 1 || p.Stripes(4097) != 2 || p.ShardSize(4097) != 64+2*1028 {
		t.Errorf("sizes: %d %d %d %d", p.Stripes(1), p.Stripes(4096), p.Stripes(4097), p.ShardSize(4097))
	}
}
