package clogs

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// goldenLog is the log datagram of testdata/datagram-log-v1.hex: a masked
// ISO 8583 line behind a 4-byte application header, with CJK text.
var goldenLog = Datagram{
	Kind:     KindLog,
	Seq:      0x01020304,
	SysID:    []byte("payment"),
	MsgType:  []byte("8583"),
	FileName: []byte("trace/app.log"),
	HeadLen:  4,
	Message:  []byte("HDR10200 411111******1111 收款"),
}

var goldenFiles = []struct {
	file     string
	datagram Datagram
}{
	{"datagram-log-v1.hex", goldenLog},
	{"datagram-ping-v1.hex", NewPing(0xFFFFFFFF)},
	{"datagram-pong-v1.hex", Datagram{Kind: KindPong, Seq: 0}}, // answers the ping above: the ID wraps
}

func mustEncode(t testing.TB, d *Datagram) []byte {
	t.Helper()
	b, err := AppendEncode(nil, d)
	if err != nil {
		t.Fatalf("encode %v datagram of %d bytes: %v", d.Kind, d.Size(), err)
	}
	return b
}

// parseHexDump reverses hex.Dump.
func parseHexDump(t *testing.T, dump string) []byte {
	t.Helper()
	var out []byte
	for line := range strings.Lines(dump) {
		const offsetWidth = 10 // "00000000  "
		hexPart, _, found := strings.Cut(line[offsetWidth:], "|")
		if !found {
			t.Fatalf("not a hex.Dump line: %q", line)
		}
		b, err := hex.DecodeString(strings.Join(strings.Fields(hexPart), ""))
		if err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		out = append(out, b...)
	}
	return out
}

func TestGoldenBytes(t *testing.T) {
	for _, g := range goldenFiles {
		t.Run(g.file, func(t *testing.T) {
			got := mustEncode(t, &g.datagram)
			path := filepath.Join("testdata", g.file)
			if *update {
				if err := os.WriteFile(path, []byte(hex.Dump(got)), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if hex.Dump(got) != string(want) {
				t.Fatalf("encoding changed: the format is frozen; diff %s against the encoder's output (-update rewrites it only for a new format version)", path)
			}
			var d Datagram
			if err := Decode(parseHexDump(t, string(want)), &d); err != nil {
				t.Fatalf("golden bytes do not decode: %v", err)
			}
			assertSameDatagram(t, &d, &g.datagram)
		})
	}
}

// TestLayoutByHand builds the golden log datagram from DESIGN.md's table,
// independently of the encoder.
func TestLayoutByHand(t *testing.T) {
	var b []byte
	b = append(b, 0xC1, 0x06, 1, 1)
	b = append(b, 0x01, 0x02, 0x03, 0x04)
	b = append(b, 7)
	b = append(b, "payment"...)
	b = append(b, 4)
	b = append(b, "8583"...)
	b = append(b, 13)
	b = append(b, "trace/app.log"...)
	b = append(b, 0, 4)
	msg := []byte("HDR10200 411111******1111 收款")
	b = binary.BigEndian.AppendUint32(b, uint32(len(msg)))
	b = append(b, msg...)
	if got := mustEncode(t, &goldenLog); !bytes.Equal(got, b) {
		t.Fatalf("encoder differs from the documented layout\n got %x\nwant %x", got, b)
	}
	ping := mustEncode(t, &goldenFiles[1].datagram)
	wantPing := []byte{0xC1, 0x06, 1, 2, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	if !bytes.Equal(ping, wantPing) {
		t.Fatalf("ping = %x, want %x", ping, wantPing)
	}
}

func assertSameDatagram(t *testing.T, got, want *Datagram) {
	t.Helper()
	if got.Kind != want.Kind || got.Seq != want.Seq || got.HeadLen != want.HeadLen ||
		!bytes.Equal(got.SysID, want.SysID) || !bytes.Equal(got.MsgType, want.MsgType) ||
		!bytes.Equal(got.FileName, want.FileName) || !bytes.Equal(got.Message, want.Message) {
		t.Fatalf("decoded %+v\nwant    %+v", got, want)
	}
}

func TestRoundTrip(t *testing.T) {
	binaryMsg := make([]byte, 256)
	for i := range binaryMsg {
		binaryMsg[i] = byte(i)
	}
	for name, d := range map[string]Datagram{
		"golden log":           goldenLog,
		"shortest log":         {Kind: KindLog, SysID: []byte("s"), FileName: []byte("f")},
		"empty msg_type":       {Kind: KindLog, Seq: 9, SysID: []byte("sys"), FileName: []byte("f"), Message: []byte("m")},
		"head_len is message":  {Kind: KindLog, SysID: []byte("s"), FileName: []byte("f"), HeadLen: 3, Message: []byte("abc")},
		"binary, not UTF-8":    {Kind: KindLog, SysID: []byte{0xff, 0}, MsgType: []byte{0x80}, FileName: []byte{0xfe}, Message: binaryMsg},
		"longest names":        {Kind: KindLog, SysID: bytes.Repeat([]byte("s"), MaxSysID), MsgType: bytes.Repeat([]byte("t"), MaxMsgType), FileName: bytes.Repeat([]byte("f"), MaxFileName), Message: []byte("x")},
		"longest message":      {Kind: KindLog, SysID: []byte("s"), FileName: []byte("f"), Message: bytes.Repeat([]byte("m"), MaxMessage)},
		"ping":                 NewPing(42),
		"pong":                 {Kind: KindPong, Seq: 43},
		"seq at the top":       {Kind: KindLog, Seq: 0xFFFFFFFF, SysID: []byte("s"), FileName: []byte("f")},
		"longest head_len":     {Kind: KindLog, SysID: []byte("s"), FileName: []byte("f"), HeadLen: MaxMessage, Message: make([]byte, MaxMessage)},
		"CJK names and header": {Kind: KindLog, SysID: []byte("支付"), MsgType: []byte("报文"), FileName: []byte("日志/交易.log"), HeadLen: 6, Message: []byte("报头你好，世界")},
	} {
		t.Run(name, func(t *testing.T) {
			enc := mustEncode(t, &d)
			if len(enc) != d.Size() {
				t.Fatalf("encoded %d bytes, Size says %d", len(enc), d.Size())
			}
			var got Datagram
			if err := Decode(enc, &got); err != nil {
				t.Fatal(err)
			}
			assertSameDatagram(t, &got, &d)
			if again := mustEncode(t, &got); !bytes.Equal(again, enc) {
				t.Fatal("re-encoding changed the bytes")
			}
		})
	}
}

func TestAppendEncodeAppends(t *testing.T) {
	prefix := []byte("prefix")
	out := mustEncode(t, &goldenLog)
	got, err := AppendEncode(bytes.Clone(prefix), &goldenLog)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, append(bytes.Clone(prefix), out...)) {
		t.Fatal("AppendEncode did not append after dst")
	}
	bad := goldenLog
	bad.SysID = nil
	got, err = AppendEncode(bytes.Clone(prefix), &bad)
	if err == nil || !bytes.Equal(got, prefix) {
		t.Fatalf("invalid datagram: got %q, %v; want dst unchanged and an error", got, err)
	}
}

func TestDecodeAliasesInput(t *testing.T) {
	enc := mustEncode(t, &goldenLog)
	var d Datagram
	if err := Decode(enc, &d); err != nil {
		t.Fatal(err)
	}
	if &d.Message[0] != &enc[len(enc)-len(goldenLog.Message)] {
		t.Fatal("message was copied, want a slice of the input")
	}
	for _, field := range [][]byte{d.SysID, d.MsgType, d.FileName, d.Message} {
		if cap(field) != len(field) {
			t.Fatalf("field %q has capacity %d: appending would overwrite the input", field, cap(field))
		}
	}
}

func TestDecodeDoesNotAllocate(t *testing.T) {
	enc := mustEncode(t, &goldenLog)
	var d Datagram
	allocs := testing.AllocsPerRun(100, func() {
		if err := Decode(enc, &d); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("Decode allocated %v times per call", allocs)
	}
}

func TestPingPong(t *testing.T) {
	for _, id := range []uint32{0, 1, 0x7FFFFFFF, 0xFFFFFFFE, 0xFFFFFFFF} {
		ping := NewPing(id)
		pong := PongFor(&ping)
		if pong.Kind != KindPong || pong.Seq != id+1 {
			t.Fatalf("PongFor(ping %d) = %+v", id, pong)
		}
		if !IsPongFor(&pong, id) {
			t.Fatalf("IsPongFor(pong %d, %d) = false", pong.Seq, id)
		}
		if IsPongFor(&pong, id+1) || IsPongFor(&ping, id-1) {
			t.Fatalf("IsPongFor matched the wrong ID or a ping (id %d)", id)
		}
		for _, d := range []Datagram{ping, pong} {
			if enc := mustEncode(t, &d); len(enc) != MinDatagram {
				t.Fatalf("%v is %d bytes, want %d", d.Kind, len(enc), MinDatagram)
			}
		}
	}
	if wrapped := PongFor(&Datagram{Kind: KindPing, Seq: 0xFFFFFFFF}); wrapped.Seq != 0 {
		t.Fatalf("pong for ping 0xFFFFFFFF has ID %d, want 0", wrapped.Seq)
	}
}

func TestReasons(t *testing.T) {
	all := Reasons()
	if len(all) != int(MaxReason) {
		t.Fatalf("Reasons() has %d, MaxReason is %d", len(all), MaxReason)
	}
	seen := map[string]bool{}
	for i, r := range all {
		if r != Reason(i+1) {
			t.Fatalf("Reasons()[%d] = %d", i, r)
		}
		label := r.String()
		if label == "" || seen[label] || strings.ContainsAny(label, " -") {
			t.Fatalf("reason %d has label %q: empty, repeated, or not snake_case", r, label)
		}
		seen[label] = true
	}
	if Reason(0).String() != "reason(0)" || (MaxReason+1).String() == "" {
		t.Fatal("labels of values that are not reasons")
	}
	if ReasonOf(errors.New("other")) != 0 || ReasonOf(nil) != 0 {
		t.Fatal("ReasonOf found a reason in an unrelated error")
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{KindLog: "log", KindPing: "ping", KindPong: "pong", 0: "kind(0)", 9: "kind(9)"} {
		if k.String() != want {
			t.Errorf("Kind(%d).String() = %q, want %q", k, k.String(), want)
		}
	}
}
