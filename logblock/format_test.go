package logblock

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clogs-io/clogs/extent"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

var (
	goldenWriterID = [16]byte{0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}
	goldenTime     = time.Date(2026, 11, 22, 5, 54, 38, 123_000_000, time.UTC).UnixNano()
)

// goldenRawRecords are too few and too varied for snappy to pay: the block
// is stored raw. The second is older than the first, a GBK message.
var goldenRawRecords = []Record{
	{ReceivedNanos: goldenTime, Source: []byte("127.0.0.1:5555"), SysID: []byte("payment"),
		MsgType: []byte("8583"), FileName: []byte("trace.log"), Message: []byte("0200 411111******1111")},
	{ReceivedNanos: goldenTime - 1_500_000, Source: []byte("[::1]:6001"), SysID: []byte("支付"),
		FileName: []byte("app.log"), Message: []byte("GBK \xd6\xa7\xb8\xb6 ok")},
}

// goldenSnappyRecords repeat enough for snappy to pay.
func goldenSnappyRecords() []Record {
	var records []Record
	for i := range 12 {
		records = append(records, Record{
			ReceivedNanos: goldenTime + int64(i)*1_000_000,
			Source:        []byte("10.0.0.7:40000"),
			SysID:         []byte("payment"),
			MsgType:       []byte("json"),
			FileName:      []byte("api/access.log"),
			Message:       fmt.Appendf(nil, `{"level":"info","msg":"request done","status":200,"id":%d}`, i),
		})
	}
	return records
}

var goldenBlocks = []struct {
	file    string
	records func() []Record
	seq     uint64
	codec   Codec
}{
	{"block-raw-v1.hex", func() []Record { return goldenRawRecords }, 7, CodecNone},
	{"block-snappy-v1.hex", goldenSnappyRecords, 8, CodecSnappy},
}

func build(t testing.TB, records []Record, writerID [16]byte, seq uint64) (payload, userData []byte) {
	t.Helper()
	var b Builder
	for i, r := range records {
		if err := b.Add(r); err != nil {
			t.Fatalf("add record %d: %v", i, err)
		}
	}
	payload, userData, err := b.Finish(writerID, seq)
	if err != nil {
		t.Fatal(err)
	}
	return payload, userData
}

// goldenText is the form of a golden file: both parts as hex.Dump.
func goldenText(payload, userData []byte) string {
	return fmt.Sprintf("# user data, %d bytes\n%s# payload, %d bytes\n%s", len(userData), hex.Dump(userData), len(payload), hex.Dump(payload))
}

// parseGolden reverses goldenText.
func parseGolden(t *testing.T, text string) (payload, userData []byte) {
	t.Helper()
	var parts [][]byte
	for line := range strings.Lines(text) {
		if strings.HasPrefix(line, "# ") {
			parts = append(parts, nil)
			continue
		}
		const offsetWidth = 10 // "00000000  "
		hexPart, _, found := strings.Cut(line[offsetWidth:], "|")
		if !found || len(parts) == 0 {
			t.Fatalf("not a golden line: %q", line)
		}
		b, err := hex.DecodeString(strings.Join(strings.Fields(hexPart), ""))
		if err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		parts[len(parts)-1] = append(parts[len(parts)-1], b...)
	}
	if len(parts) != 2 {
		t.Fatalf("golden file has %d parts, want user data and payload", len(parts))
	}
	return parts[1], parts[0]
}

func TestGoldenBytes(t *testing.T) {
	for _, g := range goldenBlocks {
		t.Run(g.file, func(t *testing.T) {
			payload, userData := build(t, g.records(), goldenWriterID, g.seq)
			path := filepath.Join("testdata", g.file)
			if *update {
				if err := os.WriteFile(path, []byte(goldenText(payload, userData)), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			// Decoding the stored bytes is what must never change. The
			// encoding check also catches a new snappy encoder emitting
			// other (equally valid) bytes; if only that changed, -update.
			storedPayload, storedUserData := parseGolden(t, string(want))
			assertDecodes(t, storedPayload, storedUserData, g.records(), g.codec, g.seq)
			if goldenText(payload, userData) != string(want) {
				t.Fatalf("encoding changed: the format is frozen; diff %s against the encoder's output (-update rewrites it only for a new format version)", path)
			}
		})
	}
}

func assertDecodes(t *testing.T, payload, userData []byte, want []Record, codec Codec, seq uint64) {
	t.Helper()
	got, h, err := Decode(payload, userData)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if h.Codec != codec || h.BatchSeq != seq || h.WriterID != goldenWriterID || h.RecordCount != len(want) {
		t.Fatalf("header %+v, want codec %v, seq %d, %d records", h, codec, seq, len(want))
	}
	assertSameRecords(t, got, want)
}

func assertSameRecords(t *testing.T, got, want []Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d records, want %d", len(got), len(want))
	}
	for i := range want {
		if !sameRecord(got[i], want[i]) {
			t.Fatalf("record %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

func sameRecord(a, b Record) bool {
	return a.ReceivedNanos == b.ReceivedNanos && bytes.Equal(a.Source, b.Source) &&
		bytes.Equal(a.SysID, b.SysID) && bytes.Equal(a.MsgType, b.MsgType) &&
		bytes.Equal(a.FileName, b.FileName) && bytes.Equal(a.Message, b.Message)
}

// TestLayoutByHand builds the raw golden block from the table in doc.go,
// independently of the encoder.
func TestLayoutByHand(t *testing.T) {
	var records []byte
	for _, r := range goldenRawRecords {
		var body []byte
		body = binary.BigEndian.AppendUint64(body, uint64(r.ReceivedNanos))
		for _, f := range [][]byte{r.Source, r.SysID, r.MsgType, r.FileName, r.Message} {
			body = append(body, byte(len(f))) // every field is under 128 bytes: a one-byte uvarint
			body = append(body, f...)
		}
		records = append(records, byte(len(body)))
		records = append(records, body...)
	}
	var header []byte
	header = append(header, "CLOGSLOG"...)
	header = append(header, 1, 1, 0, 0)
	header = binary.BigEndian.AppendUint32(header, 2)
	header = binary.BigEndian.AppendUint32(header, uint32(len(records)))
	header = binary.BigEndian.AppendUint64(header, uint64(goldenTime-1_500_000))
	header = binary.BigEndian.AppendUint64(header, uint64(goldenTime))
	header = append(header, goldenWriterID[:]...)
	header = binary.BigEndian.AppendUint64(header, 7)

	payload, userData := build(t, goldenRawRecords, goldenWriterID, 7)
	if !bytes.Equal(userData, header) {
		t.Fatalf("header differs from the documented layout\n got %x\nwant %x", userData, header)
	}
	if !bytes.Equal(payload, records) {
		t.Fatalf("records differ from the documented layout\n got %x\nwant %x", payload, records)
	}
}

func TestIsLogBlock(t *testing.T) {
	_, userData := build(t, goldenRawRecords, goldenWriterID, 1)
	for _, c := range []struct {
		userData []byte
		want     bool
	}{
		{userData, true},
		{[]byte("CLOGSLOG"), true}, // a log block, if not one Decode reads
		{append([]byte("CLOGSLOG"), 9), true},
		{nil, false},
		{[]byte("CLOGSLO"), false},
		{[]byte("writer-1/seq-1"), false},
		{make([]byte, HeaderSize), false},
	} {
		if got := IsLogBlock(c.userData); got != c.want {
			t.Errorf("IsLogBlock(%q) = %v", c.userData, got)
		}
	}
}

// TestFormatLimits pins the limits that the format shares with the extent
// engine (imported only here, to keep the package light for readers).
func TestFormatLimits(t *testing.T) {
	if HeaderSize > extent.MaxUserData {
		t.Fatalf("header of %d bytes does not fit in %d bytes of user data", HeaderSize, extent.MaxUserData)
	}
	if MaxRecordsLen != extent.MaxPayload {
		t.Fatalf("MaxRecordsLen %d, extent payloads go to %d", MaxRecordsLen, extent.MaxPayload)
	}
	if uvarintLen(MaxNameLen) != uvarintLenOf255 || uvarintLen(MaxMessage) != uvarintLenOfMaxMessage {
		t.Fatal("uvarint sizes of the limits are wrong")
	}
	for _, v := range []uint64{0, 1, 127, 128, 16383, 16384, 1 << 63, ^uint64(0)} {
		if got, want := uvarintLen(v), len(binary.AppendUvarint(nil, v)); got != want {
			t.Fatalf("uvarintLen(%d) = %d, want %d", v, got, want)
		}
	}
}
