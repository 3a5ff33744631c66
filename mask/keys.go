package mask

import (
	"bytes"
	"slices"
	"strings"
)

// fixedMask replaces the value of a sensitive key, whatever its length, so
// that the length of a secret is not given away either.
const fixedMask = "******"

// DefaultKeys returns the sensitive keys of the built-in rules (a new
// slice each time: the built-in list cannot be changed by a caller).
func DefaultKeys() []string {
	return []string{
		"password", "passwd", "pwd", "passphrase",
		"pin", "pinblock",
		"cvv", "cvv2", "cvc", "cvc2", "cvn2",
		"track1", "track2", "track3",
		"secret", "token", "apikey", "api_key", "private_key",
	}
}

// maxKeyBytes bounds how far back a key is read; longer keys are judged by
// their last maxKeyBytes bytes.
const maxKeyBytes = 64

// keySet is a set of sensitive key names, matched without regard to ASCII
// case. A key in a message matches when it equals a name, or when it ends
// with a name that starts at a word boundary inside it: after '_', '.',
// '-' or ':', or at a camel-case hump. So "token" matches "access_token",
// "X-Auth-Token" and "refreshToken", but not "tokens" or "pinyin".
//
// Names are kept in lists by length: a candidate is compared with the few
// names of its length, which is cheaper than hashing it for a map; and
// most keys are refused at once because no name ends with their last
// character.
type keySet struct {
	byLength  [maxKeyBytes + 1][]string // lower-case names by length
	lastChars [256]bool                 // last characters of names, both cases
}

func newKeySet(names []string) *keySet {
	set := &keySet{}
	for _, name := range names {
		lower := strings.ToLower(name)
		if lower == "" || len(lower) > maxKeyBytes || slices.Contains(set.byLength[len(lower)], lower) {
			continue
		}
		set.byLength[len(lower)] = append(set.byLength[len(lower)], lower)
		last := lower[len(lower)-1]
		set.lastChars[last] = true
		set.lastChars[strings.ToUpper(string(last))[0]] = true
	}
	return set
}

// sensitive reports whether key (as written in the message) is sensitive.
func (k *keySet) sensitive(key []byte) bool {
	if len(key) == 0 || !k.lastChars[key[len(key)-1]] {
		return false
	}
	if len(key) > maxKeyBytes {
		key = key[len(key)-maxKeyBytes:]
	}
	for start := range key {
		if start > 0 && !keyWordBoundary(key, start) {
			continue
		}
		suffix := key[start:]
		for _, name := range k.byLength[len(suffix)] {
			if equalLower(suffix, name) {
				return true
			}
		}
	}
	return false
}

// equalLower reports whether text equals the lower-case name, ignoring
// ASCII case.
func equalLower(text []byte, name string) bool {
	for i, c := range text {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != name[i] {
			return false
		}
	}
	return true
}

func keyWordBoundary(key []byte, i int) bool {
	prev, c := key[i-1], key[i]
	switch prev {
	case '_', '.', '-', ':':
		return true
	}
	return prev >= 'a' && prev <= 'z' && c >= 'A' && c <= 'Z'
}

func isKeyChar(c byte) bool {
	return isAlnum(c) || c == '_' || c == '.' || c == '-' || c == ':'
}

// keyStartBefore finds where the key that ends with the word at wordStart
// begins: "db.password" and "x-auth-token" are keys of several words.
func keyStartBefore(src []byte, wordStart int) int {
	start := wordStart
	for start > 0 && isKeyChar(src[start-1]) && wordStart-start < maxKeyBytes {
		start--
	}
	return start
}

// The ways a key and its value are written.
type valueForm uint8

const (
	formNone        valueForm = iota
	formKeyValue              // key=value, key = "value"
	formJSON                  // "key": "value", and 'key': 'value' as Python prints a dict
	formEscapedJSON           // \"key\": \"value\" (JSON inside a JSON string)
	formXML                   // <key>value</key>
)

// word handles an ASCII word starting at i: if it ends a sensitive key
// followed by a value, the value is masked. It returns where the scan
// resumes.
func (s *textScanner) word(i int) int {
	src := s.src
	end := skipAlnum(src, i)
	if !s.rules.on(detectKeys) || end == len(src) {
		return end
	}
	switch src[end] {
	case '=', ' ', '\t', '"', '\'', '\\', '>', '/':
	default:
		return end // cheap refusal of most words
	}
	keyStart := keyStartBefore(src, i)
	if !s.rules.keys.sensitive(src[keyStart:end]) {
		return end
	}
	form, valueStart := keyForm(src, keyStart, end)
	if form == formNone {
		return end
	}
	if next, masked := s.maskValue(form, valueStart); masked {
		return next
	}
	return end
}

// keyForm tells how the key src[keyStart:keyEnd] is written and where its
// value starts.
func keyForm(src []byte, keyStart, keyEnd int) (valueForm, int) {
	before := byte(0)
	if keyStart > 0 {
		before = src[keyStart-1]
	}
	switch {
	case before == '"' && keyStart > 1 && src[keyStart-2] == '\\':
		if bytes.HasPrefix(src[keyEnd:], []byte(`\"`)) {
			if p, ok := afterColon(src, keyEnd+2); ok {
				return formEscapedJSON, p
			}
		}
	case before == '"' || before == '\'':
		if src[keyEnd] == before {
			if p, ok := afterColon(src, keyEnd+1); ok {
				return formJSON, p
			}
		}
	case before == '<':
		if p, ok := afterTag(src, keyEnd); ok {
			return formXML, p
		}
	}
	if p, ok := afterEquals(src, keyEnd); ok {
		return formKeyValue, p
	}
	return formNone, 0
}

func skipBlanks(src []byte, p int) int {
	for p < len(src) && (src[p] == ' ' || src[p] == '\t') {
		p++
	}
	return p
}

func afterColon(src []byte, p int) (int, bool) {
	p = skipBlanks(src, p)
	if p >= len(src) || src[p] != ':' {
		return 0, false
	}
	return skipBlanks(src, p+1), true
}

// afterEquals accepts "key=value" and "key = value"; blanks after '=' are
// skipped only when there were blanks before it, so that an empty value
// ("password= user=bob") does not take the next pair as its value.
func afterEquals(src []byte, p int) (int, bool) {
	eq := skipBlanks(src, p)
	if eq >= len(src) || src[eq] != '=' {
		return 0, false
	}
	if eq > p {
		return skipBlanks(src, eq+1), true
	}
	return eq + 1, true
}

// maxTagBytes bounds the search for the '>' that closes an opening tag
// with attributes.
const maxTagBytes = 512

// afterTag finds the end of an opening tag whose name ends at p. A
// self-closing tag has no value.
func afterTag(src []byte, p int) (int, bool) {
	limit := min(len(src), p+maxTagBytes)
	for j := p; j < limit; j++ {
		switch src[j] {
		case '>':
			if src[j-1] == '/' {
				return 0, false
			}
			return j + 1, true
		case '<':
			return 0, false
		}
	}
	return 0, false
}

// maskValue masks the value that starts at p and returns the end of it. It
// reports false if there was nothing to mask (an empty value, or a JSON
// object, array, boolean or null).
func (s *textScanner) maskValue(form valueForm, p int) (int, bool) {
	src := s.src
	switch form {
	case formXML:
		return s.maskXMLValue(p)
	case formJSON, formEscapedJSON:
		if p < len(src) && (isDigit(src[p]) || src[p] == '-') {
			return s.maskJSONNumber(p, form == formEscapedJSON)
		}
	}
	switch {
	case bytes.HasPrefix(src[p:], []byte(`\"`)):
		return s.maskRange(p+2, escapedQuoteEnd(src, p+2))
	case p < len(src) && (src[p] == '"' || src[p] == '\''):
		return s.maskRange(p+1, quoteEnd(src, p+1, src[p]))
	case form == formKeyValue:
		return s.maskRange(p, bareValueEnd(src, p))
	}
	return 0, false
}

// maskRange writes the fixed mask instead of the value src[start:end]; of
// a quoted value only the content is replaced, the quotes stay.
func (s *textScanner) maskRange(start, end int) (int, bool) {
	if end <= start {
		return 0, false
	}
	s.edit.replace(start, end, fixedMask)
	s.stats.Masked[KindKeyValue]++
	return end, true
}

// maskJSONNumber turns a number value into the string "******", so the
// JSON stays valid.
func (s *textScanner) maskJSONNumber(p int, escaped bool) (int, bool) {
	src := s.src
	end := p + 1
	for end < len(src) && (isDigit(src[end]) || src[end] == '.' || src[end] == 'e' ||
		src[end] == 'E' || src[end] == '+' || src[end] == '-') {
		end++
	}
	quoted := `"` + fixedMask + `"`
	if escaped {
		quoted = `\"` + fixedMask + `\"`
	}
	s.edit.replace(p, end, quoted)
	s.stats.Masked[KindKeyValue]++
	return end, true
}

// cdataStart and cdataEnd delimit an XML CDATA section.
const (
	cdataStart = "<![CDATA["
	cdataEnd   = "]]>"
)

// maskXMLValue masks the text up to the next tag, or the content of a
// CDATA section. A value that never ends is masked to the end of the
// message: a truncated datagram must not leak the secret.
func (s *textScanner) maskXMLValue(p int) (int, bool) {
	src := s.src
	if bytes.HasPrefix(src[p:], []byte(cdataStart)) {
		start := p + len(cdataStart)
		end := bytes.Index(src[start:], []byte(cdataEnd))
		if end < 0 {
			return s.maskRange(start, len(src))
		}
		return s.maskRange(start, start+end)
	}
	end := bytes.IndexByte(src[p:], '<')
	if end < 0 {
		return s.maskRange(p, len(src))
	}
	return s.maskRange(p, p+end)
}

// quoteEnd finds the closing quote of a string that starts at p, skipping
// backslash escapes. An unterminated string ends at the end of the line.
func quoteEnd(src []byte, p int, quote byte) int {
	for p < len(src) {
		switch src[p] {
		case '\\':
			p += 2
			continue
		case quote, '\n':
			return p
		}
		p++
	}
	return len(src)
}

// escapedQuoteEnd finds the \" that closes a string of JSON that is itself
// inside a JSON string: there \" is a quote of the inner JSON and \\ a
// backslash of it, so \\\" is an escaped quote inside the inner string.
func escapedQuoteEnd(src []byte, p int) int {
	innerEscape := false
	for p < len(src) {
		c, width := src[p], 1
		if c == '\\' && p+1 < len(src) {
			c, width = src[p+1], 2
		}
		switch {
		case width == 1 && (c == '"' || c == '\n'):
			return p // the outer string ends: so does the value
		case innerEscape:
			innerEscape = false
		case width == 2 && c == '"':
			return p
		case width == 2 && c == '\\':
			innerEscape = true
		}
		p += width
	}
	return len(src)
}

// bareValueEnd finds the end of an unquoted value: the next blank or
// delimiter. A backslash starting an escape (\" \n ...) ends it too, so a
// pair written inside a JSON string keeps that string valid.
func bareValueEnd(src []byte, p int) int {
	for ; p < len(src); p++ {
		switch src[p] {
		case ' ', '\t', '\r', '\n', '&', ',', ';', '"', '\'', '<', '>', ')', ']', '}', '|':
			return p
		case '\\':
			if p+1 < len(src) && strings.IndexByte(`"'\nrt`, src[p+1]) >= 0 {
				return p
			}
		}
	}
	return p
}
