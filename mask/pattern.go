package mask

import "regexp"

// pattern is a compiled user-defined rule: a Go (RE2) regular expression
// whose match, or one capturing group of it, is replaced.
type pattern struct {
	name  string
	re    *regexp.Regexp
	group int // 0: the whole match
	// replacement is written instead of the match; empty means every byte
	// of the match becomes '*' (the length is kept).
	replacement string
}

// apply returns in with every match replaced. It never modifies in.
func (p *pattern) apply(in []byte, st *Stats) []byte {
	var matches [][]int
	if p.group == 0 {
		matches = p.re.FindAllIndex(in, -1)
	} else {
		matches = p.re.FindAllSubmatchIndex(in, -1)
	}
	if matches == nil {
		return in
	}
	var out []byte
	changed, copied := false, 0
	for _, m := range matches {
		start, end := m[2*p.group], m[2*p.group+1]
		if start < copied || end <= start { // group did not take part, or empty
			continue
		}
		out = append(out, in[copied:start]...)
		out = p.appendReplacement(out, end-start)
		copied, changed = end, true
		st.Masked[KindPattern]++
	}
	if !changed {
		return in
	}
	return append(out, in[copied:]...)
}

func (p *pattern) appendReplacement(out []byte, matchLength int) []byte {
	if p.replacement != "" {
		return append(out, p.replacement...)
	}
	for range matchLength {
		out = append(out, '*')
	}
	return out
}
