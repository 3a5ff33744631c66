package mask

import (
	"bytes"
	"errors"
)

// fieldFormat is how an ISO 8583 data element is laid out in an ASCII
// message. The names are those of the rules file.
type fieldFormat uint8

const (
	formatAbsent    fieldFormat = iota
	formatFixed                 // length ASCII characters (jPOS IFA_NUMERIC, IF_CHAR, IFA_AMOUNT)
	formatLLVar                 // 2 ASCII digits of length, then that many characters (IFA_LLNUM, IFA_LLCHAR)
	formatLLLVar                // 3 ASCII digits of length, then that many characters (IFA_LLLCHAR)
	formatBinary                // length bytes written as 2*length hex characters (IFA_BINARY)
	formatLLBinary              // 2 ASCII digits counting bytes, then 2 hex characters a byte (IFA_LLBINARY)
	formatLLLBinary             // 3 ASCII digits counting bytes, then 2 hex characters a byte (IFA_LLLBINARY)
)

var fieldFormatNames = map[string]fieldFormat{
	"fixed":     formatFixed,
	"llvar":     formatLLVar,
	"lllvar":    formatLLLVar,
	"binary":    formatBinary,
	"llbinary":  formatLLBinary,
	"lllbinary": formatLLLBinary,
}

// prefixDigits is the size of the length prefix of a format.
func (f fieldFormat) prefixDigits() int {
	switch f {
	case formatLLVar, formatLLBinary:
		return 2
	case formatLLLVar, formatLLLBinary:
		return 3
	}
	return 0
}

func (f fieldFormat) hex() bool {
	return f == formatBinary || f == formatLLBinary || f == formatLLLBinary
}

// maxLength is the largest length (or maximum length) a format can state.
func (f fieldFormat) maxLength() int {
	if f.prefixDigits() == 2 {
		return 99
	}
	return 999
}

// fieldMask is what happens to the value of a data element.
type fieldMask uint8

const (
	maskNone fieldMask = iota // kept
	maskCard                  // first 6 and last 4 kept, like a card number
	maskAll                   // every byte becomes '*'
)

var fieldMaskNames = map[string]fieldMask{
	"none": maskNone,
	"card": maskCard,
	"all":  maskAll,
}

type fieldSpec struct {
	format fieldFormat
	length int // fixed length, or the maximum of a variable field (bytes for the binary formats)
	mask   fieldMask
}

// ISO 8583 message structure constants.
const (
	mtiLength       = 4
	bitmapHexLength = 16 // one 64-bit bitmap as hex characters
	maxField        = 128
	// An ISO 8583 PAN is 13 to 19 digits; a shorter field 2 would show all
	// its digits if 6+4 were kept, so it is masked entirely.
	fieldCardMinLength = cardMinDigits
)

// isoLayout gives the spec of data elements 2 to 128 (index = field number).
type isoLayout [maxField + 1]fieldSpec

// iso87ASCII is the 1987 layout in ASCII, field by field as jPOS's
// ISO87APackager packs it (the packager class is in each comment). Field
// 55 is IFA_LLLCHAR there, not IFA_LLLBINARY: its 3-digit prefix counts
// characters. A sender that packs 55 as binary overrides it with format
// lllbinary.
var iso87ASCII = withDesignMasks(isoLayout{
	2:   llvar(19),   // IFA_LLNUM pan - primary account number
	3:   fixed(6),    // IFA_NUMERIC processing code
	4:   fixed(12),   // IFA_NUMERIC amount, transaction
	5:   fixed(12),   // IFA_NUMERIC amount, settlement
	6:   fixed(12),   // IFA_NUMERIC amount, cardholder billing
	7:   fixed(10),   // IFA_NUMERIC transmission date and time
	8:   fixed(8),    // IFA_NUMERIC amount, cardholder billing fee
	9:   fixed(8),    // IFA_NUMERIC conversion rate, settlement
	10:  fixed(8),    // IFA_NUMERIC conversion rate, cardholder billing
	11:  fixed(6),    // IFA_NUMERIC system trace audit number
	12:  fixed(6),    // IFA_NUMERIC time, local transaction
	13:  fixed(4),    // IFA_NUMERIC date, local transaction
	14:  fixed(4),    // IFA_NUMERIC date, expiration
	15:  fixed(4),    // IFA_NUMERIC date, settlement
	16:  fixed(4),    // IFA_NUMERIC date, conversion
	17:  fixed(4),    // IFA_NUMERIC date, capture
	18:  fixed(4),    // IFA_NUMERIC merchants type
	19:  fixed(3),    // IFA_NUMERIC acquiring institution country code
	20:  fixed(3),    // IFA_NUMERIC pan extended country code
	21:  fixed(3),    // IFA_NUMERIC forwarding institution country code
	22:  fixed(3),    // IFA_NUMERIC point of service entry mode
	23:  fixed(3),    // IFA_NUMERIC card sequence number
	24:  fixed(3),    // IFA_NUMERIC network international identifier
	25:  fixed(2),    // IFA_NUMERIC point of service condition code
	26:  fixed(2),    // IFA_NUMERIC point of service pin capture code
	27:  fixed(1),    // IFA_NUMERIC authorization identification resp len
	28:  fixed(9),    // IFA_AMOUNT amount, transaction fee
	29:  fixed(9),    // IFA_AMOUNT amount, settlement fee
	30:  fixed(9),    // IFA_AMOUNT amount, transaction processing fee
	31:  fixed(9),    // IFA_AMOUNT amount, settlement processing fee
	32:  llvar(11),   // IFA_LLNUM acquiring institution ident code
	33:  llvar(11),   // IFA_LLNUM forwarding institution ident code
	34:  llvar(28),   // IFA_LLCHAR pan extended
	35:  llvar(37),   // IFA_LLNUM track 2 data
	36:  lllvar(104), // IFA_LLLCHAR track 3 data
	37:  fixed(12),   // IF_CHAR retrieval reference number
	38:  fixed(6),    // IF_CHAR authorization identification response
	39:  fixed(2),    // IF_CHAR response code
	40:  fixed(3),    // IF_CHAR service restriction code
	41:  fixed(8),    // IF_CHAR card acceptor terminal identification
	42:  fixed(15),   // IF_CHAR card acceptor identification code
	43:  fixed(40),   // IF_CHAR card acceptor name/location
	44:  llvar(25),   // IFA_LLCHAR additional response data
	45:  llvar(76),   // IFA_LLCHAR track 1 data
	46:  lllvar(999), // IFA_LLLCHAR additional data - iso
	47:  lllvar(999), // IFA_LLLCHAR additional data - national
	48:  lllvar(999), // IFA_LLLCHAR additional data - private
	49:  fixed(3),    // IF_CHAR currency code, transaction
	50:  fixed(3),    // IF_CHAR currency code, settlement
	51:  fixed(3),    // IF_CHAR currency code, cardholder billing
	52:  binary(8),   // IFA_BINARY pin data
	53:  fixed(16),   // IFA_NUMERIC security related control information
	54:  lllvar(120), // IFA_LLLCHAR additional amounts
	55:  lllvar(999), // IFA_LLLCHAR reserved iso
	56:  lllvar(999), // IFA_LLLCHAR reserved iso
	57:  lllvar(999), // IFA_LLLCHAR reserved national
	58:  lllvar(999), // IFA_LLLCHAR reserved national
	59:  lllvar(999), // IFA_LLLCHAR reserved national
	60:  lllvar(999), // IFA_LLLCHAR reserved private
	61:  lllvar(999), // IFA_LLLCHAR reserved private
	62:  lllvar(999), // IFA_LLLCHAR reserved private
	63:  lllvar(999), // IFA_LLLCHAR reserved private
	64:  binary(8),   // IFA_BINARY message authentication code field
	65:  binary(1),   // IFA_BINARY bitmap, extended
	66:  fixed(1),    // IFA_NUMERIC settlement code
	67:  fixed(2),    // IFA_NUMERIC extended payment code
	68:  fixed(3),    // IFA_NUMERIC receiving institution country code
	69:  fixed(3),    // IFA_NUMERIC settlement institution country code
	70:  fixed(3),    // IFA_NUMERIC network management information code
	71:  fixed(4),    // IFA_NUMERIC message number
	72:  fixed(4),    // IFA_NUMERIC message number last
	73:  fixed(6),    // IFA_NUMERIC date action
	74:  fixed(10),   // IFA_NUMERIC credits number
	75:  fixed(10),   // IFA_NUMERIC credits reversal number
	76:  fixed(10),   // IFA_NUMERIC debits number
	77:  fixed(10),   // IFA_NUMERIC debits reversal number
	78:  fixed(10),   // IFA_NUMERIC transfer number
	79:  fixed(10),   // IFA_NUMERIC transfer reversal number
	80:  fixed(10),   // IFA_NUMERIC inquiries number
	81:  fixed(10),   // IFA_NUMERIC authorization number
	82:  fixed(12),   // IFA_NUMERIC credits, processing fee amount
	83:  fixed(12),   // IFA_NUMERIC credits, transaction fee amount
	84:  fixed(12),   // IFA_NUMERIC debits, processing fee amount
	85:  fixed(12),   // IFA_NUMERIC debits, transaction fee amount
	86:  fixed(16),   // IFA_NUMERIC credits, amount
	87:  fixed(16),   // IFA_NUMERIC credits, reversal amount
	88:  fixed(16),   // IFA_NUMERIC debits, amount
	89:  fixed(16),   // IFA_NUMERIC debits, reversal amount
	90:  fixed(42),   // IFA_NUMERIC original data elements
	91:  fixed(1),    // IF_CHAR file update code
	92:  fixed(2),    // IF_CHAR file security code
	93:  fixed(6),    // IF_CHAR response indicator
	94:  fixed(7),    // IF_CHAR service indicator
	95:  fixed(42),   // IF_CHAR replacement amounts
	96:  binary(16),  // IFA_BINARY message security code
	97:  fixed(17),   // IFA_AMOUNT amount, net settlement
	98:  fixed(25),   // IF_CHAR payee
	99:  llvar(11),   // IFA_LLNUM settlement institution ident code
	100: llvar(11),   // IFA_LLNUM receiving institution ident code
	101: llvar(17),   // IFA_LLCHAR file name
	102: llvar(28),   // IFA_LLCHAR account identification 1
	103: llvar(28),   // IFA_LLCHAR account identification 2
	104: lllvar(100), // IFA_LLLCHAR transaction description
	105: lllvar(999), // IFA_LLLCHAR reserved iso use
	106: lllvar(999), // IFA_LLLCHAR reserved iso use
	107: lllvar(999), // IFA_LLLCHAR reserved iso use
	108: lllvar(999), // IFA_LLLCHAR reserved iso use
	109: lllvar(999), // IFA_LLLCHAR reserved iso use
	110: lllvar(999), // IFA_LLLCHAR reserved iso use
	111: lllvar(999), // IFA_LLLCHAR reserved iso use
	112: lllvar(999), // IFA_LLLCHAR reserved national use
	113: lllvar(999), // IFA_LLLCHAR reserved national use
	114: lllvar(999), // IFA_LLLCHAR reserved national use
	115: lllvar(999), // IFA_LLLCHAR reserved national use
	116: lllvar(999), // IFA_LLLCHAR reserved national use
	117: lllvar(999), // IFA_LLLCHAR reserved national use
	118: lllvar(999), // IFA_LLLCHAR reserved national use
	119: lllvar(999), // IFA_LLLCHAR reserved national use
	120: lllvar(999), // IFA_LLLCHAR reserved private use
	121: lllvar(999), // IFA_LLLCHAR reserved private use
	122: lllvar(999), // IFA_LLLCHAR reserved private use
	123: lllvar(999), // IFA_LLLCHAR reserved private use
	124: lllvar(999), // IFA_LLLCHAR reserved private use
	125: lllvar(999), // IFA_LLLCHAR reserved private use
	126: lllvar(999), // IFA_LLLCHAR reserved private use
	127: lllvar(999), // IFA_LLLCHAR reserved private use
	128: binary(8),   // IFA_BINARY mac 2
})

func fixed(length int) fieldSpec  { return fieldSpec{format: formatFixed, length: length} }
func llvar(length int) fieldSpec  { return fieldSpec{format: formatLLVar, length: length} }
func lllvar(length int) fieldSpec { return fieldSpec{format: formatLLLVar, length: length} }
func binary(length int) fieldSpec { return fieldSpec{format: formatBinary, length: length} }

// withDesignMasks sets what DESIGN.md "Desensitization" masks: the PAN as
// a card number; track 2, track 3, track 1, PIN data and ICC data entirely.
func withDesignMasks(layout isoLayout) isoLayout {
	layout[2].mask = maskCard
	for _, field := range []int{35, 36, 45, 52, 55} {
		layout[field].mask = maskAll
	}
	return layout
}

// Reasons an ISO 8583 message does not parse. They never leave the
// package: such a message is masked as text and counted.
var (
	errISOTruncated    = errors.New("mask: iso8583: message ends inside a field")
	errISOBadMTI       = errors.New("mask: iso8583: message type indicator is not 4 digits")
	errISOBadBitmap    = errors.New("mask: iso8583: bitmap is not hex")
	errISOBadPrefix    = errors.New("mask: iso8583: length prefix is not digits or exceeds the field's maximum")
	errISONotHex       = errors.New("mask: iso8583: binary field is not hex")
	errISOUnknownField = errors.New("mask: iso8583: field not in the layout")
	errISOTrailing     = errors.New("mask: iso8583: bytes after the last field")
	errISONoHeader     = errors.New("mask: iso8583: message shorter than its header")
)

// isoSpan is the value of one data element that is to be masked.
type isoSpan struct {
	start, end int
	mask       fieldMask
}

// isoSpans collects the spans of one message without allocating.
type isoSpans struct {
	list  [maxField]isoSpan
	count int
}

// mask masks msg as an ISO 8583 message after headLen bytes of header and
// reports whether it parsed. The output has the length of the input. A
// message that does not parse still gets the fields read before the
// failure masked: the text rules that mask it next cannot see a PAN glued
// to its length prefix, and a truncated datagram must not leak it.
func (l *isoLayout) mask(msg []byte, headLen int, st *Stats) (out []byte, parsed bool) {
	var spans isoSpans
	err := l.parse(msg, headLen, &spans)
	out, cloned := msg, false
	for _, span := range spans.list[:spans.count] {
		if span.end == span.start {
			continue
		}
		if !cloned {
			out, cloned = bytes.Clone(msg), true
		}
		maskField(out[span.start:span.end], span.mask)
		st.Masked[KindISO8583Field]++
	}
	return out, err == nil
}

func maskField(value []byte, mask fieldMask) {
	keepHead, keepTail := 0, 0
	if mask == maskCard && len(value) >= fieldCardMinLength {
		keepHead, keepTail = cardKeepHead, cardKeepTail
	}
	for j := keepHead; j < len(value)-keepTail; j++ {
		value[j] = '*'
	}
}

// parse walks the message and records the values to mask.
func (l *isoLayout) parse(msg []byte, headLen int, spans *isoSpans) error {
	if headLen < 0 || headLen > len(msg) {
		return errISONoHeader
	}
	p := headLen
	if len(msg)-p < mtiLength+bitmapHexLength {
		return errISOTruncated
	}
	for _, c := range msg[p : p+mtiLength] {
		if !isDigit(c) {
			return errISOBadMTI
		}
	}
	p += mtiLength
	primary, ok := parseHex64(msg[p : p+bitmapHexLength])
	if !ok {
		return errISOBadBitmap
	}
	p += bitmapHexLength
	var secondary uint64
	if primary&(1<<63) != 0 {
		if len(msg)-p < bitmapHexLength {
			return errISOTruncated
		}
		if secondary, ok = parseHex64(msg[p : p+bitmapHexLength]); !ok {
			return errISOBadBitmap
		}
		p += bitmapHexLength
	}
	for field := 2; field <= maxField; field++ {
		if !fieldPresent(primary, secondary, field) {
			continue
		}
		var err error
		if p, err = l.parseField(msg, p, field, spans); err != nil {
			return err
		}
	}
	return checkEnd(msg[p:])
}

// fieldPresent reads the bitmaps: bit 1 is the most significant bit of
// the primary bitmap, bit 65 that of the secondary.
func fieldPresent(primary, secondary uint64, field int) bool {
	if field <= 64 {
		return primary&(1<<(64-field)) != 0
	}
	return secondary&(1<<(128-field)) != 0
}

// parseField reads data element field at p and returns the position after it.
func (l *isoLayout) parseField(msg []byte, p, field int, spans *isoSpans) (int, error) {
	spec := l[field]
	if spec.format == formatAbsent {
		return 0, errISOUnknownField
	}
	length := spec.length
	if digits := spec.format.prefixDigits(); digits > 0 {
		if len(msg)-p < digits {
			return 0, errISOTruncated
		}
		prefix := msg[p : p+digits]
		for _, c := range prefix {
			if !isDigit(c) {
				return 0, errISOBadPrefix
			}
		}
		if length = number(prefix); length > spec.length {
			return 0, errISOBadPrefix
		}
		p += digits
	}
	if spec.format.hex() {
		length *= 2
	}
	if len(msg)-p < length {
		return 0, errISOTruncated
	}
	value := msg[p : p+length]
	if spec.format.hex() && !allHex(value) {
		return 0, errISONotHex
	}
	if spec.mask != maskNone {
		spans.list[spans.count] = isoSpan{start: p, end: p + length, mask: spec.mask}
		spans.count++
	}
	return p + length, nil
}

// checkEnd accepts the end of the message, or one line terminator (a
// message read from a log file often keeps its newline).
func checkEnd(rest []byte) error {
	switch string(rest) {
	case "", "\n", "\r\n":
		return nil
	}
	return errISOTrailing
}

func hexValue(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

func parseHex64(text []byte) (uint64, bool) {
	var v uint64
	for _, c := range text {
		nibble, ok := hexValue(c)
		if !ok {
			return 0, false
		}
		v = v<<4 | uint64(nibble)
	}
	return v, true
}

func allHex(text []byte) bool {
	for _, c := range text {
		if _, ok := hexValue(c); !ok {
			return false
		}
	}
	return true
}
