package mask

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"
)

func TestRuleSelection(t *testing.T) {
	rules, err := LoadRules(filepath.Join("testdata", "rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	const line = "4111111111111111 13912345678 bob@example.com passcode=1 password=2 session_id=3"
	for _, tc := range []struct {
		sys, msgType string
		want         string
	}{
		// pay/*: card and keys, with the key list replaced.
		{"pay", "log", "411111******1111 13912345678 bob@example.com passcode=****** password=2 session_id=3"},
		// */access: email and keys, default keys plus session_id.
		{"web", "access", "4111111111111111 13912345678 b**@example.com passcode=1 password=****** session_id=******"},
		// The type goes before the sys: pay/access takes */access.
		{"pay", "access", "4111111111111111 13912345678 b**@example.com passcode=1 password=****** session_id=******"},
		// cms/audit: built-in detectors off, patterns only.
		{"cms", "audit", line},
		// Not covered by the file: the built-in rules.
		{"cms", "log", "411111******1111 139****5678 b**@example.com passcode=1 password=****** session_id=3"},
		// Exact names only: no prefix matching.
		{"payments", "log", "411111******1111 139****5678 b**@example.com passcode=1 password=****** session_id=3"},
	} {
		t.Run(tc.sys+"/"+tc.msgType, func(t *testing.T) {
			out, _ := rules.Mask(tc.sys, tc.msgType, 0, []byte(line))
			if string(out) != tc.want {
				t.Errorf("got  %q\nwant %q", out, tc.want)
			}
		})
	}
}

func TestRuleSelectionISO8583(t *testing.T) {
	rules, err := LoadRules(filepath.Join("testdata", "rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	fields := []isoTestField{
		{field: 2, prefix: "LL", value: "4111111111111111", masked: "411111******1111"},
		{field: 48, prefix: "LLL", value: "private", masked: maskedAll},
	}
	in := packISO("HEAD", "0100", fields, false)
	want := packISO("HEAD", "0100", fields, true)
	// pay/8583 has head_len 4 and masks field 48.
	if out, _ := rules.Mask("pay", ISO8583Type, 0, []byte(in)); string(out) != want {
		t.Errorf("pay/8583: got %q, want %q", out, want)
	}
	// Any other sys gets the built-in */8583: the datagram's head_len,
	// field 48 kept.
	want = packISO("HEAD", "0100", fields[:1], true)
	in = packISO("HEAD", "0100", fields[:1], false)
	if out, st := rules.Mask("atm", ISO8583Type, 4, []byte(in)); string(out) != want || st.ISO8583Fallbacks != 0 {
		t.Errorf("atm/8583: got %q (%+v), want %q", out, st, want)
	}
}

func TestWildcardPrecedence(t *testing.T) {
	rules, err := ParseRules([]byte(`
rule_sets:
  - {sys: a, type: b, patterns: [{regexp: x, replace: exact}]}
  - {sys: a, patterns: [{regexp: x, replace: sys}]}
  - {type: b, patterns: [{regexp: x, replace: type}]}
  - {sys: "*", type: "*", patterns: [{regexp: x, replace: any}]}
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ sys, msgType, want string }{
		{"a", "b", "exact"}, {"a", "c", "sys"}, {"z", "b", "type"}, {"z", "c", "any"},
	} {
		if out, _ := rules.Mask(tc.sys, tc.msgType, 0, []byte("x")); string(out) != tc.want {
			t.Errorf("%s/%s: got %q, want %q", tc.sys, tc.msgType, out, tc.want)
		}
	}
}

func TestNilRulesAreDefaults(t *testing.T) {
	var rules *Rules
	if out, _ := rules.Mask("a", "b", 0, []byte("13912345678")); string(out) != "139****5678" {
		t.Fatalf("got %q", out)
	}
}

func TestCountersAndKindNames(t *testing.T) {
	var counters Counters
	_, st := DefaultRules().Mask("a", "b", 0, []byte("4111111111111111 4111111111111111 pin=1"))
	counters.Add(st)
	counters.Add(Stats{ISO8583Fallbacks: 1})
	if counters.Masked(KindCard) != 2 || counters.Masked(KindKeyValue) != 1 || counters.ISO8583Fallbacks() != 1 {
		t.Fatalf("counters: card %d key %d fallbacks %d", counters.Masked(KindCard),
			counters.Masked(KindKeyValue), counters.ISO8583Fallbacks())
	}
	names := map[string]bool{}
	for kind := range Kind(NumKinds) {
		names[kind.String()] = true
	}
	if len(names) != NumKinds || names["unknown"] || Kind(NumKinds).String() != "unknown" {
		t.Errorf("kind names %v", names)
	}
	if counters.Masked(Kind(NumKinds)) != 0 {
		t.Error("a kind out of range has a count")
	}
}

func TestConcurrentMask(t *testing.T) {
	rules, err := LoadRules(filepath.Join("testdata", "rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var counters Counters
	var wg sync.WaitGroup
	for worker := range 8 {
		wg.Go(func() {
			for i := range 500 {
				line := fmt.Sprintf("w%d i%d card 4111111111111111 pwd=x ORD-0123456789", worker, i)
				out, st := rules.Mask([]string{"pay", "web", "cms", "x"}[i%4], "log", 0, []byte(line))
				if len(out) == 0 {
					t.Error("empty output")
				}
				counters.Add(st)
			}
		})
	}
	wg.Wait()
	if counters.Masked(KindCard) == 0 {
		t.Error("no card counted")
	}
}
