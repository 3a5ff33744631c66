package mask

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"

	"go.yaml.in/yaml/v3"
)

// Rules are compiled masking rules. They never change after construction,
// so one Rules may serve any number of goroutines; to change rules, build a
// new one and swap the pointer.
type Rules struct {
	exact  map[matchKey]*ruleSet // sys and type named
	byType map[string]*ruleSet   // sys "*"
	bySys  map[string]*ruleSet   // type "*"
	any    *ruleSet              // sys and type "*"; never nil
}

type matchKey struct{ sys, msgType string }

// ruleSet is one compiled RuleSetConfig.
type ruleSet struct {
	name      string
	detectors detectorSet
	keys      *keySet
	layout    *isoLayout
	headLen   int
	patterns  []*pattern
}

func (rs *ruleSet) on(d detectorSet) bool { return rs.detectors&d != 0 }

// NewRules validates cfg and compiles it. Pairs of sys and type that no
// rule set of cfg covers get the rule sets of DefaultConfig.
func NewRules(cfg Config) (*Rules, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &Rules{
		exact:  make(map[matchKey]*ruleSet),
		byType: make(map[string]*ruleSet),
		bySys:  make(map[string]*ruleSet),
	}
	for _, set := range cfg.RuleSets {
		if err := r.add(set); err != nil {
			return nil, err
		}
	}
	for _, set := range DefaultConfig().RuleSets {
		if r.lookupExact(set.matchKey()) == nil {
			if err := r.add(set); err != nil {
				return nil, err
			}
		}
	}
	return r, nil
}

var defaultRules = sync.OnceValue(func() *Rules {
	r, err := NewRules(Config{})
	if err != nil {
		panic("mask: built-in rules do not compile: " + err.Error()) // a bug, not input
	}
	return r
})

// DefaultRules returns the built-in rules (DefaultConfig), shared.
func DefaultRules() *Rules { return defaultRules() }

// ParseRules reads a rules file (YAML; the schema is in the package
// documentation). Unknown fields are errors, so a misspelt setting is not
// silently ignored. An empty file means the built-in rules.
func ParseRules(data []byte) (*Rules, error) {
	var cfg Config
	decoder := yaml.NewDecoder(bytes.NewReader(data))
	decoder.KnownFields(true)
	if err := decoder.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: %w", ErrBadRulesFile, err)
	}
	return NewRules(cfg)
}

// LoadRules reads and parses the rules file at path. It is the only I/O of
// the package, kept here so that every daemon reads the file the same way.
func LoadRules(path string) (*Rules, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("mask: read rules: %w", err)
	}
	rules, err := ParseRules(data)
	if err != nil {
		return nil, fmt.Errorf("rules file %s: %w", path, err)
	}
	return rules, nil
}

func (r *Rules) add(cfg RuleSetConfig) error {
	set, err := compileRuleSet(cfg)
	if err != nil {
		return err
	}
	key := cfg.matchKey()
	switch {
	case key.sys == Wildcard && key.msgType == Wildcard:
		r.any = set
	case key.sys == Wildcard:
		r.byType[key.msgType] = set
	case key.msgType == Wildcard:
		r.bySys[key.sys] = set
	default:
		r.exact[key] = set
	}
	return nil
}

func (r *Rules) lookupExact(key matchKey) *ruleSet {
	switch {
	case key.sys == Wildcard && key.msgType == Wildcard:
		return r.any
	case key.sys == Wildcard:
		return r.byType[key.msgType]
	case key.msgType == Wildcard:
		return r.bySys[key.sys]
	}
	return r.exact[key]
}

func compileRuleSet(cfg RuleSetConfig) (*ruleSet, error) {
	detectors, err := cfg.detectorSet()
	if err != nil {
		return nil, err
	}
	keys := DefaultKeys()
	if cfg.Keys != nil {
		keys = cfg.Keys
	}
	set := &ruleSet{
		name:      cfg.Name,
		detectors: detectors,
		keys:      newKeySet(slices.Concat(keys, cfg.ExtraKeys)),
	}
	if detectors&detectISO8583 != 0 {
		isoCfg := cfg.ISO8583
		if isoCfg == nil {
			isoCfg = &ISO8583Config{}
		}
		if set.layout, err = isoCfg.layout(); err != nil {
			return nil, err
		}
		set.headLen = isoCfg.HeadLen
	}
	for i, pc := range cfg.Patterns {
		p, err := pc.compile(i)
		if err != nil {
			return nil, err
		}
		set.patterns = append(set.patterns, p)
	}
	return set, nil
}

// lookup picks the rule set of a message: the one naming both its sys and
// its type, else the one for its type and any sys, else the one for its
// sys and any type, else the one for any sys and type. The type goes
// before the sys because it says what the bytes are (ISO 8583 or text).
func (r *Rules) lookup(sys, msgType string) *ruleSet {
	if set, ok := r.exact[matchKey{sys: sys, msgType: msgType}]; ok {
		return set
	}
	if set, ok := r.byType[msgType]; ok {
		return set
	}
	if set, ok := r.bySys[sys]; ok {
		return set
	}
	return r.any
}

// Mask masks msg with the rule set chosen by sys and msgType and returns
// the result with what was masked. It never modifies msg: when nothing is
// masked it returns msg itself, otherwise a new slice. headLen is the
// header length the datagram announced; 0 means the rule set's head_len.
// Every rule but a sensitive key's value and a pattern with a fixed
// replacement keeps the length of the message. A nil *Rules masks with
// the built-in rules.
func (r *Rules) Mask(sys, msgType string, headLen int, msg []byte) (out []byte, st Stats) {
	if r == nil {
		r = DefaultRules()
	}
	return r.lookup(sys, msgType).mask(headLen, msg)
}

func (rs *ruleSet) mask(headLen int, msg []byte) ([]byte, Stats) {
	var st Stats
	if rs.on(detectISO8583) {
		if headLen <= 0 {
			headLen = rs.headLen
		}
		out, parsed := rs.layout.mask(msg, headLen, &st)
		if parsed {
			return out, st
		}
		st.ISO8583Fallbacks = 1
		msg = out
	}
	out := rs.maskText(msg, &st)
	for _, p := range rs.patterns {
		out = p.apply(out, &st)
	}
	return out, st
}
