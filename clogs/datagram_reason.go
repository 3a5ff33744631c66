package clogs

import (
	"errors"
	"fmt"
	"strconv"
)

// ErrMalformed matches every *MalformedError. Test with errors.Is.
var ErrMalformed = errors.New("clogs: malformed datagram")

// Reason says why a datagram is malformed, and so why the collector drops
// it. Count drops by Reason and label them with String; the numeric values
// are not part of the wire format and may be renumbered.
type Reason uint8

// The reasons, in the order Decode checks for them. The zero Reason is
// not one of them.
const (
	// ReasonTooLarge: longer than MaxDatagram.
	ReasonTooLarge Reason = iota + 1
	// ReasonShort: shorter than MinDatagram, the smallest datagram.
	ReasonShort
	// ReasonBadMagic: the first two bytes are not 0xC1 0x06.
	ReasonBadMagic
	// ReasonBadVersion: a version this package does not read.
	ReasonBadVersion
	// ReasonBadKind: a kind other than log, ping and pong.
	ReasonBadKind
	// ReasonFieldLength: a sys_id, msg_type or file_name length above its
	// limit.
	ReasonFieldLength
	// ReasonTruncated: a field or its length runs past the end.
	ReasonTruncated
	// ReasonTrailingBytes: bytes after the message.
	ReasonTrailingBytes
	// ReasonEmptyField: a log datagram with an empty sys_id or file_name.
	ReasonEmptyField
	// ReasonControlNotEmpty: a ping or pong that carries a sys_id,
	// msg_type, file_name, head_len or message.
	ReasonControlNotEmpty
	// ReasonHeadLen: head_len larger than the message.
	ReasonHeadLen

	reasonEnd // one past the last reason
)

// MaxReason is the largest Reason, so drop counters can be an array of
// MaxReason+1 indexed by Reason.
const MaxReason = reasonEnd - 1

var reasonLabels = [reasonEnd]string{
	ReasonTooLarge:        "too_large",
	ReasonShort:           "short",
	ReasonBadMagic:        "bad_magic",
	ReasonBadVersion:      "bad_version",
	ReasonBadKind:         "bad_kind",
	ReasonFieldLength:     "field_length",
	ReasonTruncated:       "truncated",
	ReasonTrailingBytes:   "trailing_bytes",
	ReasonEmptyField:      "empty_field",
	ReasonControlNotEmpty: "control_not_empty",
	ReasonHeadLen:         "head_len",
}

// String returns the reason's label, lower-case with underscores, fit for
// a metric label. The labels are stable.
func (r Reason) String() string {
	if r == 0 || r >= reasonEnd {
		return "reason(" + strconv.Itoa(int(r)) + ")"
	}
	return reasonLabels[r]
}

// Reasons returns every Reason, in the order Decode checks for them.
func Reasons() []Reason {
	all := make([]Reason, 0, MaxReason)
	for r := Reason(1); r < reasonEnd; r++ {
		all = append(all, r)
	}
	return all
}

// ReasonOf returns the Reason of a *MalformedError in err's chain, or zero
// if there is none.
func ReasonOf(err error) Reason {
	if m, ok := errors.AsType[*MalformedError](err); ok {
		return m.Reason
	}
	return 0
}

// MalformedError describes a datagram that Decode rejects or that
// AppendEncode refuses to write.
type MalformedError struct {
	Reason Reason
	// Field names the field at fault ("sys_id", "message", ...), or is
	// empty when the fault is the datagram as a whole.
	Field string
	// Offset is where the faulty field starts in the datagram, or -1 when
	// the fault is not tied to one position (per-kind rules, encoding).
	Offset int
	// Value is the offending number: a length, a byte count, the kind or
	// version byte.
	Value int
	// Limit is what Value was checked against: the field's limit, the bytes
	// that remain, the message length.
	Limit int
}

func (e *MalformedError) Error() string {
	return fmt.Sprintf("clogs: malformed datagram (%s): %s", e.Reason, e.detail())
}

func (e *MalformedError) detail() string {
	switch e.Reason {
	case ReasonTooLarge:
		return fmt.Sprintf("%d bytes, at most %d", e.Value, e.Limit)
	case ReasonShort:
		return fmt.Sprintf("%d bytes, at least %d", e.Value, e.Limit)
	case ReasonBadMagic:
		return fmt.Sprintf("magic %#04x, want %#04x", e.Value, e.Limit)
	case ReasonBadVersion:
		return fmt.Sprintf("version %d, this build reads %d", e.Value, e.Limit)
	case ReasonBadKind:
		return fmt.Sprintf("kind %d", e.Value)
	case ReasonFieldLength:
		return fmt.Sprintf("%s of %d bytes at offset %d, at most %d", e.Field, e.Value, e.Offset, e.Limit)
	case ReasonTruncated:
		return fmt.Sprintf("%s at offset %d needs %d bytes, %d remain", e.Field, e.Offset, e.Value, e.Limit)
	case ReasonTrailingBytes:
		return fmt.Sprintf("%d bytes after the message at offset %d", e.Value, e.Offset)
	case ReasonEmptyField:
		return fmt.Sprintf("log datagram with an empty %s", e.Field)
	case ReasonControlNotEmpty:
		return fmt.Sprintf("ping or pong with %s of %d, want 0", e.Field, e.Value)
	case ReasonHeadLen:
		return fmt.Sprintf("head_len %d, message is %d bytes", e.Value, e.Limit)
	}
	return fmt.Sprintf("%s value %d limit %d", e.Field, e.Value, e.Limit)
}

// Is makes errors.Is(err, ErrMalformed) true.
func (e *MalformedError) Is(target error) bool { return target == ErrMalformed }
