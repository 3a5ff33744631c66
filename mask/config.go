package mask

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Errors of rule configuration. Validate and ParseRules wrap them with the
// rule set, field or pattern at fault; test with errors.Is.
var (
	ErrBadRulesFile     = errors.New("mask: rules file is not valid YAML of the rules schema")
	ErrBadMatcher       = errors.New(`mask: sys and type must be a name or "*"`)
	ErrDuplicateRuleSet = errors.New("mask: two rule sets for the same sys and type")
	ErrUnknownDetector  = errors.New("mask: unknown detector")
	ErrBadKey           = errors.New("mask: bad sensitive key")
	ErrBadLayout        = errors.New("mask: bad iso8583 settings")
	ErrBadPattern       = errors.New("mask: bad pattern")
)

// Detector names of the rules file.
const (
	DetectorCard       = "card"
	DetectorResidentID = "resident_id"
	DetectorMobile     = "mobile"
	DetectorEmail      = "email"
	DetectorKeys       = "keys"
	DetectorISO8583    = "iso8583"
)

// Wildcard matches any sys or any type.
const Wildcard = "*"

// ISO8583Type is the message type the built-in rules parse as ISO 8583.
const ISO8583Type = "8583"

// maxHeadLen is the largest header the clogs datagram can announce (2 bytes).
const maxHeadLen = 1<<16 - 1

// Config is the rules file. Rule sets are chosen per message by its sys and
// type (see Rules.Mask); a message no rule set matches gets the built-in
// rules of DefaultConfig.
type Config struct {
	RuleSets []RuleSetConfig `yaml:"rule_sets"`
}

// RuleSetConfig is the masking of one (sys, type) pair, or of many through
// the wildcard.
type RuleSetConfig struct {
	// Name appears in error messages; optional.
	Name string `yaml:"name"`
	// Sys and Type are an exact name or "*"; empty means "*".
	Sys  string `yaml:"sys"`
	Type string `yaml:"type"`
	// Detectors are the built-in detectors that run. Omitted (nil): card,
	// resident_id, mobile, email and keys, plus iso8583 if ISO8583 is set.
	// An empty list turns built-in masking off.
	Detectors []string `yaml:"detectors"`
	// Keys replace DefaultKeys() as the sensitive keys when given;
	// ExtraKeys are added to them.
	Keys      []string `yaml:"keys"`
	ExtraKeys []string `yaml:"extra_keys"`
	// ISO8583 tunes the iso8583 detector; nil means the defaults.
	ISO8583 *ISO8583Config `yaml:"iso8583"`
	// Patterns are user-defined rules, applied after the built-in text
	// detectors (not to a message that parsed as ISO 8583).
	Patterns []PatternConfig `yaml:"patterns"`
}

// ISO8583Config tunes the parsing of ISO 8583 messages.
type ISO8583Config struct {
	// HeadLen is the application header kept before the message type
	// indicator, used when the datagram announces no header (head_len 0).
	HeadLen int `yaml:"head_len"`
	// Fields override entries of the default layout (jPOS ISO87APackager).
	Fields []FieldConfig `yaml:"fields"`
}

// FieldConfig overrides the layout or the masking of one data element.
// Omitted Format and Length keep the default layout's; an omitted Mask
// keeps the default masking.
type FieldConfig struct {
	Field int `yaml:"field"`
	// Format: fixed, llvar, lllvar, binary, llbinary or lllbinary.
	Format string `yaml:"format"`
	// Length is the length of a fixed field, or the maximum length of a
	// variable one; bytes (not hex characters) for the binary formats.
	Length int `yaml:"length"`
	// Mask: none, card (first 6 and last 4 kept) or all.
	Mask string `yaml:"mask"`
}

// PatternConfig is a user-defined rule.
type PatternConfig struct {
	// Name appears in error messages; optional.
	Name string `yaml:"name"`
	// Regexp is Go regular expression syntax (RE2).
	Regexp string `yaml:"regexp"`
	// Group masks only this capturing group of the match; 0 the whole match.
	Group int `yaml:"group"`
	// Replace is written instead of the match; empty means every byte of
	// the match becomes '*', keeping the length.
	Replace string `yaml:"replace"`
}

// textDetectorNames are the detectors of the built-in text rules.
var textDetectorNames = []string{DetectorCard, DetectorResidentID, DetectorMobile, DetectorEmail, DetectorKeys}

// DefaultConfig returns the built-in rules: the text detectors for every
// message, and ISO 8583 parsing (with the text detectors as fallback) for
// messages of type "8583".
func DefaultConfig() Config {
	return Config{RuleSets: []RuleSetConfig{
		{
			Name:      "iso8583",
			Sys:       Wildcard,
			Type:      ISO8583Type,
			Detectors: append(slices.Clone(textDetectorNames), DetectorISO8583),
		},
		{
			Name:      "text",
			Sys:       Wildcard,
			Type:      Wildcard,
			Detectors: slices.Clone(textDetectorNames),
		},
	}}
}

// Validate checks the configuration and reports every problem it finds.
func (c Config) Validate() error {
	var errs []error
	seen := make(map[matchKey]int)
	for i, set := range c.RuleSets {
		where := set.label(i)
		key := set.matchKey()
		if first, dup := seen[key]; dup {
			errs = append(errs, fmt.Errorf("%s: sys %q type %q already has rule set %d: %w",
				where, key.sys, key.msgType, first+1, ErrDuplicateRuleSet))
		}
		seen[key] = i
		if err := set.validate(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
		}
	}
	return errors.Join(errs...)
}

// label names a rule set in error messages.
func (s RuleSetConfig) label(index int) string {
	if s.Name != "" {
		return fmt.Sprintf("rule set %d (%s)", index+1, s.Name)
	}
	return fmt.Sprintf("rule set %d", index+1)
}

func (s RuleSetConfig) matchKey() matchKey {
	return matchKey{sys: orWildcard(s.Sys), msgType: orWildcard(s.Type)}
}

func orWildcard(name string) string {
	if name == "" {
		return Wildcard
	}
	return name
}

func (s RuleSetConfig) validate() error {
	var errs []error
	for _, m := range []struct{ what, value string }{{"sys", s.Sys}, {"type", s.Type}} {
		if m.value != Wildcard && strings.Contains(m.value, Wildcard) {
			errs = append(errs, fmt.Errorf("%s %q: %w", m.what, m.value, ErrBadMatcher))
		}
	}
	if _, err := s.detectorSet(); err != nil {
		errs = append(errs, err)
	}
	for _, key := range append(slices.Clone(s.Keys), s.ExtraKeys...) {
		if err := validateKey(key); err != nil {
			errs = append(errs, err)
		}
	}
	if s.ISO8583 != nil {
		if _, err := s.ISO8583.layout(); err != nil {
			errs = append(errs, err)
		}
	}
	for i, p := range s.Patterns {
		if _, err := p.compile(i); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// detectorSet is a set of built-in detectors, one bit each.
type detectorSet uint8

const (
	detectCard detectorSet = 1 << iota
	detectResidentID
	detectMobile
	detectEmail
	detectKeys
	detectISO8583

	textDetectors = detectCard | detectResidentID | detectMobile | detectEmail | detectKeys
)

var detectorBits = map[string]detectorSet{
	DetectorCard:       detectCard,
	DetectorResidentID: detectResidentID,
	DetectorMobile:     detectMobile,
	DetectorEmail:      detectEmail,
	DetectorKeys:       detectKeys,
	DetectorISO8583:    detectISO8583,
}

func (s RuleSetConfig) detectorSet() (detectorSet, error) {
	if s.Detectors == nil {
		if s.ISO8583 != nil {
			return textDetectors | detectISO8583, nil
		}
		return textDetectors, nil
	}
	var set detectorSet
	for _, name := range s.Detectors {
		bit, ok := detectorBits[name]
		if !ok {
			return 0, fmt.Errorf("detector %q (known: card, resident_id, mobile, email, keys, iso8583): %w",
				name, ErrUnknownDetector)
		}
		set |= bit
	}
	if s.ISO8583 != nil && set&detectISO8583 == 0 {
		return 0, fmt.Errorf("iso8583 settings given but detector iso8583 is not listed: %w", ErrBadLayout)
	}
	return set, nil
}

func validateKey(key string) error {
	if key == "" {
		return fmt.Errorf("empty key: %w", ErrBadKey)
	}
	if len(key) > maxKeyBytes {
		return fmt.Errorf("key %q is longer than %d bytes: %w", key, maxKeyBytes, ErrBadKey)
	}
	for i := 0; i < len(key); i++ {
		if !isKeyChar(key[i]) {
			return fmt.Errorf("key %q: only ASCII letters, digits, '_', '.', '-' and ':' can match: %w", key, ErrBadKey)
		}
	}
	return nil
}

// layout returns the default layout with the overrides applied.
func (c *ISO8583Config) layout() (*isoLayout, error) {
	if c.HeadLen < 0 || c.HeadLen > maxHeadLen {
		return nil, fmt.Errorf("iso8583 head_len %d is not in 0..%d: %w", c.HeadLen, maxHeadLen, ErrBadLayout)
	}
	layout := iso87ASCII
	seen := make(map[int]bool)
	var errs []error
	for _, fc := range c.Fields {
		if seen[fc.Field] {
			errs = append(errs, fmt.Errorf("iso8583 field %d given twice: %w", fc.Field, ErrBadLayout))
			continue
		}
		seen[fc.Field] = true
		if err := fc.apply(&layout); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &layout, nil
}

func (fc FieldConfig) apply(layout *isoLayout) error {
	if fc.Field < 2 || fc.Field > maxField {
		return fmt.Errorf("iso8583 field %d: fields are 2..%d (1 is the secondary bitmap): %w", fc.Field, maxField, ErrBadLayout)
	}
	spec := layout[fc.Field]
	if fc.Format != "" {
		format, ok := fieldFormatNames[fc.Format]
		if !ok {
			return fmt.Errorf("iso8583 field %d: format %q (known: fixed, llvar, lllvar, binary, llbinary, lllbinary): %w",
				fc.Field, fc.Format, ErrBadLayout)
		}
		if fc.Length == 0 {
			return fmt.Errorf("iso8583 field %d: format %s needs a length: %w", fc.Field, fc.Format, ErrBadLayout)
		}
		spec.format = format
	}
	if fc.Length != 0 {
		if fc.Length < 1 || fc.Length > spec.format.maxLength() {
			return fmt.Errorf("iso8583 field %d: length %d is not in 1..%d: %w", fc.Field, fc.Length, spec.format.maxLength(), ErrBadLayout)
		}
		spec.length = fc.Length
	}
	if fc.Mask != "" {
		mask, ok := fieldMaskNames[fc.Mask]
		if !ok {
			return fmt.Errorf("iso8583 field %d: mask %q (known: none, card, all): %w", fc.Field, fc.Mask, ErrBadLayout)
		}
		spec.mask = mask
	}
	layout[fc.Field] = spec
	return nil
}

func (p PatternConfig) label(index int) string {
	if p.Name != "" {
		return fmt.Sprintf("pattern %d (%s)", index+1, p.Name)
	}
	return fmt.Sprintf("pattern %d", index+1)
}

func (p PatternConfig) compile(index int) (*pattern, error) {
	where := p.label(index)
	if p.Regexp == "" {
		return nil, fmt.Errorf("%s: empty regexp: %w", where, ErrBadPattern)
	}
	re, err := regexp.Compile(p.Regexp)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %w", where, ErrBadPattern, err)
	}
	if p.Group < 0 || p.Group > re.NumSubexp() {
		return nil, fmt.Errorf("%s: group %d, but the regexp has %d groups: %w", where, p.Group, re.NumSubexp(), ErrBadPattern)
	}
	if re.MatchString("") {
		return nil, fmt.Errorf("%s: regexp %q matches the empty string: %w", where, p.Regexp, ErrBadPattern)
	}
	return &pattern{name: p.Name, re: re, group: p.Group, replacement: p.Replace}, nil
}
