package mask

import (
	"bytes"
	"testing"
)

// lengthKeepingRules are the rules that never change a message's length:
// every detector and pattern but the keys (whose values become ******)
// and fixed replacements.
func lengthKeepingRules(t testing.TB) *Rules {
	rules, err := ParseRules([]byte(`
rule_sets:
  - type: text
    detectors: [card, resident_id, mobile, email]
    patterns: [{regexp: 'ORD-\d+'}, {regexp: 'acct:(\d+)', group: 1}]
  - type: "8583"
    detectors: [iso8583, card, resident_id, mobile, email]
`))
	if err != nil {
		t.Fatal(err)
	}
	return rules
}

func FuzzMask(f *testing.F) {
	for _, seed := range []string{
		"card 4111111111111111 ok", "卡号4111111111111111已付", "4111 1111 1111 1111", "6222 0212 3456 7890 128",
		"id 11010519491231002X", "tel 139-1234-5678 +8613912345678", "alice@example.com", "13912345678@qq.com",
		`{"password":"hunter2","pin":1234}`, `"{\"token\":\"a\\\"b\"}"`, "<pwd><![CDATA[x]]></pwd>", "pwd = 'x",
		"ORD-0123 acct:42", packISO("HEAD", "0100", authorization, false),
		packISO("", "0200", authorization[:3], false)[:30],
	} {
		f.Add([]byte(seed), uint16(0), false)
		f.Add([]byte(seed), uint16(4), true)
	}
	keeping := lengthKeepingRules(f)
	f.Fuzz(func(t *testing.T, msg []byte, headLen uint16, iso bool) {
		msgType := "text"
		if iso {
			msgType = ISO8583Type
		}
		saved := bytes.Clone(msg)
		out, st := DefaultRules().Mask("app", msgType, int(headLen), msg)
		if !bytes.Equal(msg, saved) {
			t.Fatal("Mask modified its input")
		}
		if st.Masked[KindKeyValue] == 0 && len(out) != len(msg) {
			t.Fatalf("no key masked, yet length %d -> %d", len(msg), len(out))
		}

		out, _ = keeping.Mask("app", msgType, int(headLen), msg)
		if len(out) != len(msg) {
			t.Fatalf("length-keeping rules: length %d -> %d", len(msg), len(out))
		}
		for i := range out {
			if out[i] != msg[i] && out[i] != '*' {
				t.Fatalf("byte %d changed from %q to %q, not masked", i, msg[i], out[i])
			}
		}
	})
}
