package logblock

import (
	"encoding/base64"
	"time"
	"unicode/utf8"
)

const hexDigits = "0123456789abcdef"

// AppendJSON appends r as one JSON object, without a newline, for
// stream-client cat --logs --json:
//
//	{"time":"2026-11-22T05:54:38.123Z","source":"127.0.0.1:5555","sys":"payment","type":"8583","file":"trace.log","msg":"..."}
//
// time is the receive time in UTC, RFC 3339 with as many fractional digits
// as it needs. The other values are the fields' bytes as JSON strings; a
// byte that is not UTF-8 becomes U+FFFD, as encoding/json does. A message
// that is not valid UTF-8 (GBK text, binary) is also given exactly as
// "msg_base64", standard base64, so nothing is lost.
func (r Record) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"time":"`...)
	dst = appendTime(dst, r.ReceivedNanos)
	dst = append(dst, `","source":`...)
	dst = appendJSONString(dst, r.Source)
	dst = append(dst, `,"sys":`...)
	dst = appendJSONString(dst, r.SysID)
	dst = append(dst, `,"type":`...)
	dst = appendJSONString(dst, r.MsgType)
	dst = append(dst, `,"file":`...)
	dst = appendJSONString(dst, r.FileName)
	dst = append(dst, `,"msg":`...)
	dst = appendJSONString(dst, r.Message)
	if !utf8.Valid(r.Message) {
		dst = append(dst, `,"msg_base64":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, r.Message)
		dst = append(dst, '"')
	}
	return append(dst, '}')
}

// AppendText appends r as one line for people to read, without a newline:
//
//	2026-11-22T05:54:38.123Z 127.0.0.1:5555 payment/8583/trace.log the message
//
// that is the receive time (as in AppendJSON), the source, sys_id,
// msg_type and file_name joined by slashes, and the message. Control
// characters other than tab, and bytes that are not UTF-8, are escaped as
// in Go (\n, \r, \x1b, \u0085), so a record stays on one line and cannot
// drive the terminal. The form is for reading, not parsing: a backslash
// in the message is not escaped. AppendJSON is exact.
func (r Record) AppendText(dst []byte) []byte {
	dst = appendTime(dst, r.ReceivedNanos)
	dst = append(dst, ' ')
	dst = appendPrintable(dst, r.Source)
	dst = append(dst, ' ')
	dst = appendPrintable(dst, r.SysID)
	dst = append(dst, '/')
	dst = appendPrintable(dst, r.MsgType)
	dst = append(dst, '/')
	dst = appendPrintable(dst, r.FileName)
	dst = append(dst, ' ')
	return appendPrintable(dst, r.Message)
}

func appendTime(dst []byte, unixNanos int64) []byte {
	return time.Unix(0, unixNanos).UTC().AppendFormat(dst, time.RFC3339Nano)
}

// appendJSONString appends s as a JSON string, escaped as encoding/json
// escapes it apart from HTML characters, which need no escaping here.
func appendJSONString(dst, s []byte) []byte {
	dst = append(dst, '"')
	start := 0 // s[start:i] is pending, to be copied as it is
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= ' ' && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = appendJSONEscape(append(dst, s[start:i]...), c)
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(append(dst, s[start:i]...), `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' { // valid JSON, but not in JavaScript source
			dst = append(append(dst, s[start:i]...), `\u202`...)
			dst = append(dst, hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(append(dst, s[start:]...), '"')
}

// appendJSONEscape appends the escape of an ASCII byte that JSON does not
// allow bare in a string.
func appendJSONEscape(dst []byte, c byte) []byte {
	switch c {
	case '"', '\\':
		return append(dst, '\\', c)
	case '\b':
		return append(dst, '\\', 'b')
	case '\f':
		return append(dst, '\\', 'f')
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	}
	return append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
}

// appendPrintable appends s with control characters (but tab) and bytes
// that are not UTF-8 escaped.
func appendPrintable(dst, s []byte) []byte {
	start := 0
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRune(s[i:])
		if !needsTextEscape(r, size) {
			i += size
			continue
		}
		dst = append(dst, s[start:i]...)
		switch {
		case size == 1 && r == utf8.RuneError, r < utf8.RuneSelf:
			dst = appendTextByteEscape(dst, s[i])
		default: // a C1 control character, U+0080 to U+009F
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[r>>4], hexDigits[r&0xF])
		}
		i += size
		start = i
	}
	return append(dst, s[start:]...)
}

func needsTextEscape(r rune, size int) bool {
	switch {
	case r == utf8.RuneError && size == 1:
		return true
	case r == '\t':
		return false
	}
	return r < ' ' || (r >= 0x7F && r <= 0x9F)
}

func appendTextByteEscape(dst []byte, c byte) []byte {
	switch c {
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	}
	return append(dst, '\\', 'x', hexDigits[c>>4], hexDigits[c&0xF])
}
