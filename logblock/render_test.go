package logblock

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

var renderSamples = [][]byte{
	nil,
	[]byte("plain"),
	[]byte(`quote " backslash \ slash /`),
	[]byte("tab\tnewline\ncr\rbell\x07nul\x00esc\x1bdel\x7fbs\bff\f"),
	[]byte("<html> & 'apos'"),
	[]byte("支付成功 ✓ 😀"),
	[]byte("GBK \xd6\xa7\xb8\xb6 and a cut rune \xe6\x94"),
	[]byte("line sep \u2028 para sep \u2029"),
	[]byte("C1 control \u0085 and \u009b"),
	[]byte("\xff\xfe\x00"),
	[]byte("replacement char itself: \ufffd"),
}

// jsonString is encoding/json's encoding of s, HTML left alone.
func jsonString(t testing.TB, s []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(string(s)); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

func TestJSONStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range renderSamples {
		if got, want := appendJSONString(nil, s), jsonString(t, s); !bytes.Equal(got, want) {
			t.Errorf("%q:\n got %s\nwant %s", s, got, want)
		}
	}
}

func TestAppendJSON(t *testing.T) {
	for _, msg := range renderSamples {
		r := goldenRawRecords[0]
		r.Message = msg
		line := r.AppendJSON([]byte("prefix "))
		line, ok := bytes.CutPrefix(line, []byte("prefix "))
		if !ok {
			t.Fatal("AppendJSON did not append")
		}
		var got map[string]string
		if err := json.Unmarshal(line, &got); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		when, err := time.Parse(time.RFC3339Nano, got["time"])
		if err != nil || when.UnixNano() != r.ReceivedNanos || got["time"] != "2026-11-22T05:54:38.123Z" {
			t.Fatalf("time %q: %v", got["time"], err)
		}
		if got["source"] != "127.0.0.1:5555" || got["sys"] != "payment" || got["type"] != "8583" || got["file"] != "trace.log" {
			t.Fatalf("names in %s", line)
		}
		if utf8.Valid(msg) && got["msg"] != string(msg) {
			t.Fatalf("msg %q, want %q", got["msg"], msg)
		}
		b64, hasB64 := got["msg_base64"]
		if hasB64 == utf8.Valid(msg) {
			t.Fatalf("%q: msg_base64 present %v", msg, hasB64)
		}
		if hasB64 {
			exact, err := base64.StdEncoding.DecodeString(b64)
			if err != nil || !bytes.Equal(exact, msg) {
				t.Fatalf("msg_base64 %q does not give back %q", b64, msg)
			}
		}
	}
}

func TestAppendText(t *testing.T) {
	r := goldenRawRecords[0]
	for _, c := range []struct {
		msg, want string
	}{
		{"0200 411111******1111", "2026-11-22T05:54:38.123Z 127.0.0.1:5555 payment/8583/trace.log 0200 411111******1111"},
		{"支付成功\ttab", "2026-11-22T05:54:38.123Z 127.0.0.1:5555 payment/8583/trace.log 支付成功\ttab"},
		{"two\nlines\r\n", `2026-11-22T05:54:38.123Z 127.0.0.1:5555 payment/8583/trace.log two\nlines\r\n`},
		{"esc\x1b[31mred \x7f\u009b", `2026-11-22T05:54:38.123Z 127.0.0.1:5555 payment/8583/trace.log esc\x1b[31mred \x7f\u009b`},
		{"GBK \xb8\xb6 back\\slash", `2026-11-22T05:54:38.123Z 127.0.0.1:5555 payment/8583/trace.log GBK \xb8\xb6 back\slash`},
		{"", "2026-11-22T05:54:38.123Z 127.0.0.1:5555 payment/8583/trace.log "},
	} {
		r.Message = []byte(c.msg)
		if got := string(r.AppendText(nil)); got != c.want {
			t.Errorf("%q:\n got %s\nwant %s", c.msg, got, c.want)
		}
	}
	empty := Record{ReceivedNanos: 1, SysID: []byte("s"), FileName: []byte("f\n")}
	if got := string(empty.AppendText(nil)); got != `1970-01-01T00:00:00.000000001Z  s//f\n ` {
		t.Errorf("record with empty fields: %q", got)
	}
}

// assertOneSafeLine checks that text holds no control character but tab
// and is valid UTF-8.
func assertOneSafeLine(t testing.TB, text []byte) {
	t.Helper()
	if !utf8.Valid(text) {
		t.Fatalf("text form is not UTF-8: %q", text)
	}
	for _, r := range string(text) {
		if r != '\t' && unicode.IsControl(r) {
			t.Fatalf("text form has control character %U: %q", r, text)
		}
	}
}

func TestAppendTextIsOneSafeLine(t *testing.T) {
	for _, s := range renderSamples {
		r := Record{Source: s, SysID: s, MsgType: s, FileName: s, Message: s}
		assertOneSafeLine(t, r.AppendText(nil))
	}
}
