package mask

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// isoTestField is one data element as the test packs it, independently of
// the package's layout table: prefix is "", "LL" or "LLL", and binary
// values are given as their hex text.
type isoTestField struct {
	field  int
	prefix string
	value  string
	// masked is the value after masking: "" means unchanged, maskedAll
	// every byte a star.
	masked string
}

const maskedAll = "all"

// packISO packs an ASCII ISO 8583 message: header, MTI, bitmaps, fields.
// With masked set, the fields carry their masked values.
func packISO(header, mti string, fields []isoTestField, masked bool) string {
	var primary, secondary uint64
	var body strings.Builder
	for _, f := range fields {
		if f.field > 64 {
			primary |= 1 << 63
			secondary |= 1 << (128 - f.field)
		} else {
			primary |= 1 << (64 - f.field)
		}
		value := f.value
		switch {
		case masked && f.masked == maskedAll:
			value = stars(len(f.value))
		case masked && f.masked != "":
			value = f.masked
		}
		switch f.prefix {
		case "LL":
			fmt.Fprintf(&body, "%02d", len(f.value))
		case "LLL":
			fmt.Fprintf(&body, "%03d", len(f.value))
		}
		body.WriteString(value)
	}
	bitmaps := fmt.Sprintf("%016X", primary)
	if primary&(1<<63) != 0 {
		bitmaps += fmt.Sprintf("%016X", secondary)
	}
	return header + mti + bitmaps + body.String()
}

func stars(n int) string { return strings.Repeat("*", n) }

// authorization is a 0100 request with the sensitive fields of DESIGN.md,
// in the 1987 ASCII layout, including fields of the secondary bitmap.
var authorization = []isoTestField{
	{field: 2, prefix: "LL", value: "4111111111111111", masked: "411111******1111"},
	{field: 3, value: "000000"},
	{field: 4, value: "000000010000"},
	{field: 7, value: "0102030405"},
	{field: 11, value: "123456"},
	{field: 14, value: "2512"},
	{field: 22, value: "051"},
	{field: 28, value: "C00000100"},
	{field: 35, prefix: "LL", value: "4111111111111111=25121010000012345", masked: maskedAll},
	{field: 36, prefix: "LLL", value: "011234567890123456=724724000000000000000300XXXX020200099010=", masked: maskedAll},
	{field: 37, value: "000000000001"},
	{field: 41, value: "TERM0001"},
	{field: 42, value: "MERCHANT0000001"},
	{field: 43, value: "ACME STORE 4111111111111111    SHANGHAI "},
	{field: 45, prefix: "LL", value: "B4111111111111111^DOE/JOHN^25121010000000000000", masked: maskedAll},
	{field: 48, prefix: "LLL", value: "password=hunter2"},
	{field: 49, value: "156"},
	{field: 52, value: "0123456789ABCDEF", masked: maskedAll},
	{field: 55, prefix: "LLL", value: "9F2608A1B2C3D4E5F607089F2701809F100706010A03A0B000", masked: maskedAll},
	{field: 64, value: "FEDCBA9876543210"},
	{field: 70, value: "301"},
	{field: 102, prefix: "LL", value: "6222021234567890128"},
	{field: 128, value: "0011223344556677"},
}

func TestISO8583MasksFieldsAfterHeader(t *testing.T) {
	const header = "ISO026000075" // an application header is kept as it is
	in := packISO(header, "0100", authorization, false)
	want := packISO(header, "0100", authorization, true)
	out, st := DefaultRules().Mask("pay", ISO8583Type, len(header), []byte(in))
	if string(out) != want {
		t.Fatalf("masked\n got %q\nwant %q", out, want)
	}
	if len(out) != len(in) {
		t.Errorf("length %d, want %d", len(out), len(in))
	}
	// Fields 43, 48 and 102 hold a card number and a key, but a parsed
	// message is masked by field only.
	if st.Masked[KindISO8583Field] != 6 || st.Total() != 6 || st.ISO8583Fallbacks != 0 {
		t.Errorf("stats %+v, want 6 iso8583 fields", st)
	}
}

func TestISO8583PrimaryBitmapOnlyAndNewline(t *testing.T) {
	fields := []isoTestField{
		{field: 2, prefix: "LL", value: "6214830000000000122", masked: "621483*********0122"},
		{field: 3, value: "310000"},
		{field: 52, value: "00000000FFFFFFFF", masked: maskedAll},
	}
	in := packISO("", "0200", fields, false) + "\r\n"
	want := packISO("", "0200", fields, true) + "\r\n"
	out, st := DefaultRules().Mask("pay", ISO8583Type, 0, []byte(in))
	if string(out) != want || st.Masked[KindISO8583Field] != 2 {
		t.Fatalf("got %q (%+v)\nwant %q", out, st, want)
	}
}

func TestISO8583ShortPANIsMaskedEntirely(t *testing.T) {
	fields := []isoTestField{{field: 2, prefix: "LL", value: "411111111111", masked: maskedAll}}
	in := packISO("", "0100", fields, false)
	out, _ := DefaultRules().Mask("pay", ISO8583Type, 0, []byte(in))
	if want := packISO("", "0100", fields, true); string(out) != want {
		t.Fatalf("got %q, want %q", out, want)
	}
}

func TestISO8583FallbackToText(t *testing.T) {
	good := packISO("", "0100", authorization, false)
	for _, tc := range []struct {
		name    string
		headLen int
		msg     string
		err     error
		want    string // "" means unchanged
	}{
		{"plain text", 0, "card 4111111111111111 declined", errISOBadMTI, "card 411111******1111 declined"},
		{"header longer than message", 10, "0100", errISONoHeader, ""},
		{"bad bitmap", 0, "0100ZZ00000000000000 13912345678", errISOBadBitmap, "0100ZZ00000000000000 139****5678"},
		{"bad length prefix", 0, "0100" + "4000000000000000" + "1A4111111111111111", errISOBadPrefix, ""},
		{"length over maximum", 0, "0100" + "4000000000000000" + "20" + "41111111111111111111", errISOBadPrefix, ""},
		{"binary not hex", 0, "0100" + "0000000000001000" + "0123456789ABCDEG", errISONotHex, ""},
		// The text rules run after the field masks: they find the card
		// number in field 43.
		{"trailing bytes", 0, good + "XX", errISOTrailing, strings.Replace(
			packISO("", "0100", authorization, true), "STORE 4111111111111111", "STORE 411111******1111", 1) + "XX"},
		// The fields read before the cut are masked all the same.
		{"truncated", 0, good[:60], errISOTruncated,
			packISO("", "0100", authorization, true)[:60]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var spans isoSpans
			if err := iso87ASCII.parse([]byte(tc.msg), tc.headLen, &spans); !errors.Is(err, tc.err) {
				t.Fatalf("parse: %v, want %v", err, tc.err)
			}
			out, st := DefaultRules().Mask("pay", ISO8583Type, tc.headLen, []byte(tc.msg))
			if st.ISO8583Fallbacks != 1 {
				t.Errorf("stats %+v, want one fallback", st)
			}
			want := tc.want
			if want == "" {
				want = tc.msg
			}
			if string(out) != want {
				t.Errorf("got  %q\nwant %q", out, want)
			}
		})
	}
}

func TestISO8583UnknownField(t *testing.T) {
	layout := iso87ASCII
	layout[48] = fieldSpec{}
	var spans isoSpans
	msg := packISO("", "0100", authorization, false)
	if err := layout.parse([]byte(msg), 0, &spans); !errors.Is(err, errISOUnknownField) {
		t.Fatalf("parse: %v, want %v", err, errISOUnknownField)
	}
}

func TestISO8583DefaultLayoutIsComplete(t *testing.T) {
	for field := 2; field <= maxField; field++ {
		spec := iso87ASCII[field]
		if spec.format == formatAbsent || spec.length < 1 || spec.length > spec.format.maxLength() {
			t.Errorf("field %d: %+v", field, spec)
		}
	}
	for field, want := range map[int]fieldSpec{
		2:  {formatLLVar, 19, maskCard},
		35: {formatLLVar, 37, maskAll},
		36: {formatLLLVar, 104, maskAll},
		45: {formatLLVar, 76, maskAll},
		52: {formatBinary, 8, maskAll},
		55: {formatLLLVar, 999, maskAll},
		65: {formatBinary, 1, maskNone},
		90: {formatFixed, 42, maskNone},
	} {
		if got := iso87ASCII[field]; got != want {
			t.Errorf("field %d: %+v, want %+v", field, got, want)
		}
	}
}

func TestISO8583LayoutOverrides(t *testing.T) {
	rules, err := ParseRules([]byte(`
rule_sets:
  - sys: pay
    type: "8583"
    iso8583:
      head_len: 4
      fields:
        - {field: 48, mask: all}
        - {field: 55, format: lllbinary, length: 255}
        - {field: 2, mask: none}
`))
	if err != nil {
		t.Fatal(err)
	}
	fields := []isoTestField{
		{field: 2, prefix: "LL", value: "4111111111111111"},
		{field: 48, prefix: "LLL", value: "any private data", masked: maskedAll},
		// lllbinary: the prefix counts bytes, the value is two hex characters a byte
		{field: 55, prefix: "", value: "005" + "9F26080102", masked: "005**********"},
	}
	in := packISO("HEAD", "0100", fields, false)
	want := packISO("HEAD", "0100", fields, true)
	// head_len 0 in the datagram: the rule set's head_len applies.
	out, st := rules.Mask("pay", ISO8583Type, 0, []byte(in))
	if string(out) != want || st.ISO8583Fallbacks != 0 {
		t.Fatalf("got %q (%+v)\nwant %q", out, st, want)
	}
	// The default layout would read field 55 as 5 characters and fail.
	if _, st := DefaultRules().Mask("pay", ISO8583Type, 4, []byte(in)); st.ISO8583Fallbacks != 1 {
		t.Errorf("default layout parsed an lllbinary field 55: %+v", st)
	}
}

func TestISO8583DatagramHeadLenWins(t *testing.T) {
	rules, err := ParseRules([]byte(`
rule_sets:
  - type: "8583"
    iso8583: {head_len: 2}
`))
	if err != nil {
		t.Fatal(err)
	}
	fields := []isoTestField{{field: 52, value: "0123456789ABCDEF", masked: maskedAll}}
	in := packISO("HDR:", "0800", fields, false)
	out, st := rules.Mask("any", ISO8583Type, 4, []byte(in))
	if want := packISO("HDR:", "0800", fields, true); string(out) != want || st.ISO8583Fallbacks != 0 {
		t.Fatalf("got %q (%+v), want %q", out, st, want)
	}
}
