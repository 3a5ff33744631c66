package mask

// The text rules run in one left-to-right pass over the message, without
// regular expressions. The pass reads only the input; every decision is
// taken on the original bytes, and the output is assembled by an editor
// that copies untouched stretches and writes masked ones.

// Character classes of the main loop. Everything that is not a digit, an
// ASCII letter or '@' is skipped at once; bytes of non-ASCII text (>= 0x80)
// are "other", which is why a number right next to CJK text still matches.
const (
	classOther byte = iota
	classDigit
	classLetter
	classAt
)

var charClass = func() (table [256]byte) {
	for c := '0'; c <= '9'; c++ {
		table[c] = classDigit
	}
	for c := 'a'; c <= 'z'; c++ {
		table[c] = classLetter
		table[c-'a'+'A'] = classLetter
	}
	table['@'] = classAt
	return table
}()

func isDigit(c byte) bool  { return charClass[c] == classDigit }
func isLetter(c byte) bool { return charClass[c] == classLetter }
func isAlnum(c byte) bool  { return isDigit(c) || isLetter(c) }

// groupSeparator reports whether c may stand between the digit groups of a
// written card or mobile number.
func groupSeparator(c byte) bool { return c == ' ' || c == '-' }

// Digit groups of a separated number ("4111 1111 1111 1111", "4-6-5",
// "139-1234-5678") have 3 to 6 digits each; a run of groups whose sizes fit
// is judged as a whole, so part of a longer grouped number is never masked.
const (
	groupMinDigits = 3
	groupMaxDigits = 6
	// A card has at most 19 digits, so at most 6 groups of 3 or more.
	maxCardGroups = cardMaxDigits / groupMinDigits
)

// editor builds the output from src: stretches nobody touched are copied
// when the next edit (or finish) comes. It allocates only on the first edit.
type editor struct {
	src  []byte
	out  []byte // nil until the first edit
	done int    // src[:done] is already represented in out
}

// span copies src[start:end] into the output and returns that copy for the
// caller to overwrite in place. start must not be before done.
func (e *editor) span(start, end int) []byte {
	e.flushTo(start)
	n := len(e.out)
	e.out = append(e.out, e.src[start:end]...)
	e.done = end
	return e.out[n:]
}

// replace writes with instead of src[start:end].
func (e *editor) replace(start, end int, with string) {
	e.flushTo(start)
	e.out = append(e.out, with...)
	e.done = end
}

func (e *editor) flushTo(start int) {
	if e.out == nil {
		e.out = make([]byte, 0, len(e.src)+len(fixedMask))
	}
	e.out = append(e.out, e.src[e.done:start]...)
}

// finish returns the output, or src itself if nothing was edited.
func (e *editor) finish() []byte {
	if e.out == nil {
		return e.src
	}
	return append(e.out, e.src[e.done:]...)
}

// textScanner is the state of one pass of the text rules over one message.
// It counts into its own Stats, held by value: a pointer kept here would
// make the caller's Stats escape to the heap.
type textScanner struct {
	src   []byte
	edit  editor
	rules *ruleSet
	stats Stats
}

// maskText applies the built-in text detectors of rs to msg.
func (rs *ruleSet) maskText(msg []byte, st *Stats) []byte {
	if rs.detectors&textDetectors == 0 {
		return msg
	}
	s := textScanner{src: msg, edit: editor{src: msg}, rules: rs}
	s.run()
	st.add(s.stats)
	return s.edit.finish()
}

func (s *textScanner) run() {
	src := s.src
	for i := 0; i < len(src); {
		switch charClass[src[i]] {
		case classDigit:
			i = s.digits(i)
		case classLetter:
			i = s.word(i)
		case classAt:
			i = s.email(i)
		default:
			i++
		}
	}
}

func skipDigits(src []byte, i int) int {
	for i < len(src) && isDigit(src[i]) {
		i++
	}
	return i
}

func skipAlnum(src []byte, i int) int {
	for i < len(src) && isAlnum(src[i]) {
		i++
	}
	return i
}

// digits judges the digit run starting at i and returns where the scan
// resumes. A run glued to an ASCII letter or digit on either side is no
// number at all, and neither is part of a decimal number ("12.5") or a
// dotted one (an IP address).
func (s *textScanner) digits(i int) int {
	src := s.src
	if i > 0 && (isAlnum(src[i-1]) || (i > 1 && src[i-1] == '.' && isDigit(src[i-2]))) {
		return skipAlnum(src, i)
	}
	end := skipDigits(src, i)
	if end == len(src) {
		s.plainNumber(i, end)
		return end
	}
	switch next := src[end]; {
	case isLetter(next):
		if s.residentIDWithX(i, end) {
			return end + 1
		}
		return skipAlnum(src, end)
	case next == '.' && end+1 < len(src) && isDigit(src[end+1]):
		return end
	case next == '@' && s.rules.on(detectEmail):
		if _, ok := scanDomain(src, end+1); ok {
			return end // the local part of an e-mail address: email masks it
		}
	}
	if size := end - i; size >= groupMinDigits && size <= groupMaxDigits {
		return s.groupedNumber(i, end)
	}
	s.plainNumber(i, end)
	return end
}

// residentIDWithX handles 17 digits followed by the check character X.
func (s *textScanner) residentIDWithX(start, digitsEnd int) bool {
	src := s.src
	idEnd := digitsEnd + 1
	if digitsEnd-start != residentIDLength-1 || src[digitsEnd]|0x20 != 'x' ||
		(idEnd < len(src) && isAlnum(src[idEnd])) || !s.rules.on(detectResidentID) {
		return false
	}
	if !validResidentID(src[start:idEnd]) {
		return false
	}
	s.maskDigits(start, idEnd, idKeepHead, idKeepTail, KindResidentID)
	return true
}

// plainNumber judges a run of digits without separators.
func (s *textScanner) plainNumber(start, end int) {
	src := s.src
	digits := src[start:end]
	switch {
	case len(digits) == residentIDLength && s.rules.on(detectResidentID) && validResidentID(digits):
		s.maskDigits(start, end, idKeepHead, idKeepTail, KindResidentID)
	case len(digits) == mobileLength && s.rules.on(detectMobile) && validMobile(digits):
		s.maskDigits(start, end, mobileKeepHead, mobileKeepTail, KindMobile)
	case s.internationalMobile(start, end):
		s.maskDigits(start+2, end, mobileKeepHead, mobileKeepTail, KindMobile)
	case s.rules.on(detectCard) && plausibleCard(digits):
		s.maskDigits(start, end, cardKeepHead, cardKeepTail, KindCard)
	}
}

// internationalMobile recognises "+8613912345678": country code 86 glued
// to a mobile number, after a plus sign.
func (s *textScanner) internationalMobile(start, end int) bool {
	src := s.src
	return end-start == 2+mobileLength && start > 0 && src[start-1] == '+' &&
		src[start] == '8' && src[start+1] == '6' &&
		s.rules.on(detectMobile) && validMobile(src[start+2:end])
}

// digitGroups is a run of digit groups of 3 to 6 digits, all joined by the
// same separator.
type digitGroups struct {
	end    int // end of the last group
	count  int
	sizes  [maxCardGroups]int // sizes of the first groups
	digits [cardMaxDigits]byte
	total  int // digits in all groups; digits holds the first of them
}

// groupedNumber collects the run of groups that starts with the group
// src[start:firstEnd] and masks it if, as a whole, it is a mobile number
// written 3-4-4 or a card number. It returns the end of the run either way.
func (s *textScanner) groupedNumber(start, firstEnd int) int {
	groups := s.collectGroups(start, firstEnd)
	if groups.count == 1 {
		return groups.end
	}
	switch {
	case groups.count == 3 && groups.sizes == [maxCardGroups]int{3, 4, 4} &&
		s.rules.on(detectMobile) && validMobile(groups.digits[:mobileLength]):
		s.maskDigits(start, groups.end, mobileKeepHead, mobileKeepTail, KindMobile)
	case groups.total <= cardMaxDigits && s.rules.on(detectCard) && plausibleCard(groups.digits[:groups.total]):
		s.maskDigits(start, groups.end, cardKeepHead, cardKeepTail, KindCard)
	}
	return groups.end
}

func (s *textScanner) collectGroups(start, firstEnd int) digitGroups {
	src := s.src
	var groups digitGroups
	groups.add(src[start:firstEnd])
	groups.end = firstEnd
	var sep byte
	for pos := firstEnd; pos+1 < len(src) && groupSeparator(src[pos]) && isDigit(src[pos+1]); {
		if sep != 0 && src[pos] != sep {
			break
		}
		groupEnd := skipDigits(src, pos+1)
		size := groupEnd - pos - 1
		if size < groupMinDigits || size > groupMaxDigits || (groupEnd < len(src) && isLetter(src[groupEnd])) {
			break
		}
		sep = src[pos]
		groups.add(src[pos+1 : groupEnd])
		groups.end = groupEnd
		pos = groupEnd
	}
	return groups
}

func (g *digitGroups) add(group []byte) {
	if g.count < len(g.sizes) {
		g.sizes[g.count] = len(group)
	}
	g.count++
	if g.total < len(g.digits) {
		copy(g.digits[g.total:], group)
	}
	g.total += len(group)
}

// maskDigits stars every digit of src[start:end] but the first keepHead and
// the last keepTail; separators stay.
func (s *textScanner) maskDigits(start, end, keepHead, keepTail int, kind Kind) {
	total := 0
	for _, c := range s.src[start:end] {
		if !groupSeparator(c) {
			total++
		}
	}
	out := s.edit.span(start, end)
	index := 0
	for j, c := range out {
		if groupSeparator(c) {
			continue
		}
		if index >= keepHead && index < total-keepTail {
			out[j] = '*'
		}
		index++
	}
	s.stats.Masked[kind]++
}

// Limits of an e-mail address (RFC 5321: local part 64, domain 255).
const (
	maxEmailLocal  = 64
	maxEmailDomain = 255
)

// isEmailLocalChar is the usual subset of RFC 5322 atext found in real
// addresses; the rarer characters (=, ?, {, ...) would swallow the key of
// "user=alice@example.com".
func isEmailLocalChar(c byte) bool {
	return isAlnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-'
}

// email is called at an '@'. It masks all of the local part but its first
// character and returns the end of the domain, or at+1 if this is not an
// address.
func (s *textScanner) email(at int) int {
	if !s.rules.on(detectEmail) {
		return at + 1
	}
	src := s.src
	localStart := at
	for localStart > 0 && isEmailLocalChar(src[localStart-1]) {
		if at-localStart == maxEmailLocal {
			return at + 1
		}
		localStart--
	}
	for localStart < at && src[localStart] == '.' {
		localStart++
	}
	// A number masked just before (as in "13912345678.bob@x.cn") stays as
	// it is; the rest of the local part is masked on its own.
	localStart = max(localStart, s.edit.done)
	domainEnd, ok := scanDomain(src, at+1)
	if !ok || localStart >= at {
		return at + 1
	}
	if at-localStart >= 2 {
		out := s.edit.span(localStart, at)
		for j := 1; j < len(out); j++ {
			out[j] = '*'
		}
		s.stats.Masked[KindEmail]++
	}
	return domainEnd
}

// scanDomain reads a domain name at p: labels of letters, digits and
// hyphens joined by dots, ending in a top-level label of two or more
// letters. It returns the end of the domain.
func scanDomain(src []byte, p int) (end int, ok bool) {
	end = p
	for end < len(src) && end-p < maxEmailDomain && (isAlnum(src[end]) || src[end] == '.' || src[end] == '-') {
		end++
	}
	for end > p && (src[end-1] == '.' || src[end-1] == '-') {
		end--
	}
	domain := src[p:end]
	if len(domain) == 0 || !isAlnum(domain[0]) {
		return p, false
	}
	lastDot := -1
	for j := 1; j < len(domain); j++ {
		if domain[j] == '.' {
			if domain[j-1] == '.' {
				return p, false
			}
			lastDot = j
		}
	}
	if lastDot < 0 || len(domain)-lastDot-1 < 2 {
		return p, false
	}
	for _, c := range domain[lastDot+1:] {
		if !isLetter(c) {
			return p, false
		}
	}
	return end, true
}
