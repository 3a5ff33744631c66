package mask

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDefaultConfigIsValid(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	if err := (Config{}).Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestParseRulesErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		yaml string
		err  error
		says string // part of the message a user needs to fix the file
	}{
		{"not yaml", "rule_sets: [", ErrBadRulesFile, "line"},
		{"unknown top-level field", "rulesets: []", ErrBadRulesFile, "rulesets"},
		{"unknown rule set field", "rule_sets: [{sys: a, detector: [card]}]", ErrBadRulesFile, "detector"},
		{"wrong type", "rule_sets: [{sys: a, detectors: card}]", ErrBadRulesFile, "line 1"},
		{"unknown detector", "rule_sets: [{name: web, detectors: [card, iban]}]", ErrUnknownDetector, `rule set 1 (web): detector "iban"`},
		{"partial wildcard", "rule_sets: [{sys: 'pay*'}]", ErrBadMatcher, `sys "pay*"`},
		{"duplicate", "rule_sets: [{sys: a, type: b}, {sys: a, type: b}]", ErrDuplicateRuleSet, "rule set 2"},
		{"duplicate wildcard", "rule_sets: [{sys: a}, {sys: a, type: '*'}]", ErrDuplicateRuleSet, `type "*"`},
		{"bad regexp", "rule_sets: [{patterns: [{name: ord, regexp: 'ORD-(\\d+'}]}]", ErrBadPattern, "pattern 1 (ord)"},
		{"empty regexp", "rule_sets: [{patterns: [{replace: x}]}]", ErrBadPattern, "empty regexp"},
		{"regexp matches nothing", "rule_sets: [{patterns: [{regexp: 'x*'}]}]", ErrBadPattern, "empty string"},
		{"group out of range", "rule_sets: [{patterns: [{regexp: 'a(b)', group: 2}]}]", ErrBadPattern, "group 2"},
		{"empty key", "rule_sets: [{keys: ['']}]", ErrBadKey, "empty key"},
		{"key with blank", "rule_sets: [{extra_keys: ['pass word']}]", ErrBadKey, `"pass word"`},
		{"iso8583 without detector", "rule_sets: [{detectors: [card], iso8583: {head_len: 2}}]", ErrBadLayout, "not listed"},
		{"negative head_len", "rule_sets: [{iso8583: {head_len: -1}}]", ErrBadLayout, "head_len -1"},
		{"field 1", "rule_sets: [{iso8583: {fields: [{field: 1, mask: all}]}}]", ErrBadLayout, "field 1"},
		{"field 129", "rule_sets: [{iso8583: {fields: [{field: 129, mask: all}]}}]", ErrBadLayout, "field 129"},
		{"unknown format", "rule_sets: [{iso8583: {fields: [{field: 48, format: llllvar, length: 9}]}}]", ErrBadLayout, `format "llllvar"`},
		{"format without length", "rule_sets: [{iso8583: {fields: [{field: 48, format: fixed}]}}]", ErrBadLayout, "needs a length"},
		{"llvar too long", "rule_sets: [{iso8583: {fields: [{field: 48, format: llvar, length: 100}]}}]", ErrBadLayout, "1..99"},
		{"unknown mask", "rule_sets: [{iso8583: {fields: [{field: 48, mask: some}]}}]", ErrBadLayout, `mask "some"`},
		{"field twice", "rule_sets: [{iso8583: {fields: [{field: 48, mask: all}, {field: 48, mask: none}]}}]", ErrBadLayout, "twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rules, err := ParseRules([]byte(tc.yaml))
			if !errors.Is(err, tc.err) {
				t.Fatalf("ParseRules: %v, want %v", err, tc.err)
			}
			if rules != nil {
				t.Error("rules returned with an error")
			}
			if !strings.Contains(err.Error(), tc.says) {
				t.Errorf("error %q does not say %q", err, tc.says)
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	cfg := Config{RuleSets: []RuleSetConfig{
		{Detectors: []string{"cards"}},
		{Sys: "a", Patterns: []PatternConfig{{Regexp: "("}}},
	}}
	err := cfg.Validate()
	if !errors.Is(err, ErrUnknownDetector) || !errors.Is(err, ErrBadPattern) {
		t.Fatalf("Validate: %v", err)
	}
}

func TestParseRulesEmptyFileMeansDefaults(t *testing.T) {
	for _, data := range []string{"", "# nothing\n", "rule_sets: []\n"} {
		rules, err := ParseRules([]byte(data))
		if err != nil {
			t.Fatalf("%q: %v", data, err)
		}
		out, _ := rules.Mask("a", "b", 0, []byte("13912345678"))
		if string(out) != "139****5678" {
			t.Errorf("%q: got %q", data, out)
		}
	}
}

func TestLoadRules(t *testing.T) {
	rules, err := LoadRules(filepath.Join("testdata", "rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	out, st := rules.Mask("cms", "audit", 0, []byte("ORD-0123456789 acct:42 13912345678"))
	if want := "************** acct:[account] 13912345678"; string(out) != want {
		t.Errorf("got %q, want %q", out, want)
	}
	if st.Masked[KindPattern] != 2 || st.Total() != 2 {
		t.Errorf("stats %+v", st)
	}

	_, err = LoadRules(filepath.Join("testdata", "missing.yaml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("rule_sets: [{detectors: [cardz]}]"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err = LoadRules(bad); !errors.Is(err, ErrUnknownDetector) || !strings.Contains(err.Error(), bad) {
		t.Errorf("bad file: %v", err)
	}
}

// TestDocExampleParses keeps the example in the package documentation a
// valid rules file.
func TestDocExampleParses(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	var example strings.Builder
	inExample := false
	for line := range strings.Lines(string(doc)) {
		switch {
		case strings.HasPrefix(line, "//\trule_sets:"):
			inExample = true
		case inExample && !strings.HasPrefix(line, "//\t"):
			inExample = false
		}
		if inExample {
			example.WriteString(strings.TrimPrefix(line, "//\t"))
		}
	}
	if example.Len() == 0 {
		t.Fatal("no example in doc.go")
	}
	rules, err := ParseRules([]byte(example.String()))
	if err != nil {
		t.Fatalf("%v\n%s", err, example.String())
	}
	out, _ := rules.Mask("web", "log", 0, []byte("session_id=abc ORD-0123456789 acct:42"))
	if want := "session_id=****** ************** acct:[account]"; string(out) != want {
		t.Errorf("got %q, want %q", out, want)
	}
}
