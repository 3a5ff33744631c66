package clogs

import (
	"encoding/binary"
	"strconv"
)

// The constants below are part of the clogs datagram format, version 1.
// They must not change; a change needs a new version.
const (
	// Version is the datagram format version this package reads and writes.
	Version = 1

	magicSize      = 2
	versionSize    = 1
	kindSize       = 1
	seqSize        = 4
	nameLenSize    = 1 // the length byte before sys_id, msg_type and file_name
	headLenSize    = 2
	messageLenSize = 4

	// MaxSysID is the longest sys_id.
	MaxSysID = 16
	// MaxMsgType is the longest msg_type.
	MaxMsgType = 16
	// MaxFileName is the longest file_name.
	MaxFileName = 128
	// MaxDatagram is the largest datagram: the most one UDP datagram
	// carries over IPv4 (65,535 less 20 bytes of IP and 8 of UDP header).
	MaxDatagram = 65507

	fixedHeaderSize = magicSize + versionSize + kindSize + seqSize
	// MinDatagram is the size of a datagram with empty fields and message:
	// every ping and pong, and the smallest possible datagram.
	MinDatagram = fixedHeaderSize + 3*nameLenSize + headLenSize + messageLenSize
	// MaxMessage is the longest message a log datagram can carry: the one
	// with a one-byte sys_id and file_name and an empty msg_type.
	MaxMessage = MaxDatagram - MinDatagram - 1 - 1
)

// Field offsets of the fixed part; the fields after seq move with the
// lengths before them.
const (
	offMagic   = 0
	offVersion = offMagic + magicSize
	offKind    = offVersion + versionSize
	offSeq     = offKind + kindSize
	offSysID   = offSeq + seqSize // the sys_id length byte
)

// magic opens every datagram.
var magic = [magicSize]byte{0xC1, 0x06}

// Compile-time checks that the derived sizes are the documented ones.
var (
	_ = [1]struct{}{}[fixedHeaderSize-8]
	_ = [1]struct{}{}[MinDatagram-17]
	_ = [1]struct{}{}[MaxMessage-65488]
)

// Kind is what a datagram is for.
type Kind uint8

// The kinds, as written in the datagram. Zero is not a kind.
const (
	KindLog  Kind = 1 // one log line
	KindPing Kind = 2 // a sender's health check
	KindPong Kind = 3 // the collector's answer to a ping
)

func (k Kind) String() string {
	switch k {
	case KindLog:
		return "log"
	case KindPing:
		return "ping"
	case KindPong:
		return "pong"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

func (k Kind) valid() bool { return k >= KindLog && k <= KindPong }

// Datagram is one decoded clogs datagram. After Decode its byte slices
// point into the decoded buffer (no copies), so they are valid only as long
// as that buffer is; copy what must outlive it.
type Datagram struct {
	Kind Kind
	// Seq is the sender's sequence number for a log, the ping ID for a
	// ping, and the ping ID plus one for a pong.
	Seq      uint32
	SysID    []byte // subsystem ID, 1-16 bytes for a log
	MsgType  []byte // message type, 0-16 bytes; selects masking rules
	FileName []byte // 1-128 bytes for a log
	// HeadLen is how many bytes at the start of Message are an
	// application header (masking skips them, e.g. before ISO 8583).
	HeadLen uint16
	Message []byte
}

// Size returns the encoded size of d, whether or not d is valid.
func (d *Datagram) Size() int {
	return MinDatagram + len(d.SysID) + len(d.MsgType) + len(d.FileName) + len(d.Message)
}

// NewPing returns a ping carrying id.
func NewPing(id uint32) Datagram { return Datagram{Kind: KindPing, Seq: id} }

// PongFor returns the pong that answers ping: the ping's ID plus one,
// wrapping at 2^32. The caller checks that ping is a ping.
func PongFor(ping *Datagram) Datagram { return Datagram{Kind: KindPong, Seq: ping.Seq + 1} }

// IsPongFor reports whether d is the pong answering the ping with pingID.
func IsPongFor(d *Datagram, pingID uint32) bool {
	return d.Kind == KindPong && d.Seq == pingID+1
}

// AppendEncode appends the encoding of d to dst. If d breaks a rule of the
// format it returns dst unchanged and a *MalformedError (Offset -1) with
// the Reason that Decode gives such a datagram.
func AppendEncode(dst []byte, d *Datagram) ([]byte, error) {
	if err := validate(d); err != nil {
		return dst, err
	}
	dst = append(dst, magic[:]...)
	dst = append(dst, Version, byte(d.Kind))
	dst = binary.BigEndian.AppendUint32(dst, d.Seq)
	dst = appendName(dst, d.SysID)
	dst = appendName(dst, d.MsgType)
	dst = appendName(dst, d.FileName)
	dst = binary.BigEndian.AppendUint16(dst, d.HeadLen)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(d.Message)))
	return append(dst, d.Message...), nil
}

func appendName(dst, name []byte) []byte {
	dst = append(dst, byte(len(name)))
	return append(dst, name...)
}

// validate checks d against every rule of the format before it is
// encoded.
func validate(d *Datagram) error {
	if size := d.Size(); size > MaxDatagram {
		return &MalformedError{Reason: ReasonTooLarge, Offset: -1, Value: size, Limit: MaxDatagram}
	}
	if !d.Kind.valid() {
		return &MalformedError{Reason: ReasonBadKind, Field: "kind", Offset: -1, Value: int(d.Kind)}
	}
	for _, f := range [...]struct {
		name  string
		value []byte
		limit int
	}{{"sys_id", d.SysID, MaxSysID}, {"msg_type", d.MsgType, MaxMsgType}, {"file_name", d.FileName, MaxFileName}} {
		if len(f.value) > f.limit {
			return &MalformedError{Reason: ReasonFieldLength, Field: f.name, Offset: -1, Value: len(f.value), Limit: f.limit}
		}
	}
	return checkKindRules(d)
}

// checkKindRules checks the rules that depend on the kind, and head_len;
// both Decode and AppendEncode end with it.
func checkKindRules(d *Datagram) error {
	switch d.Kind {
	case KindLog:
		if len(d.SysID) == 0 {
			return &MalformedError{Reason: ReasonEmptyField, Field: "sys_id", Offset: -1}
		}
		if len(d.FileName) == 0 {
			return &MalformedError{Reason: ReasonEmptyField, Field: "file_name", Offset: -1}
		}
	case KindPing, KindPong:
		if err := checkControlEmpty(d); err != nil {
			return err
		}
	}
	if int(d.HeadLen) > len(d.Message) {
		return &MalformedError{Reason: ReasonHeadLen, Field: "head_len", Offset: -1, Value: int(d.HeadLen), Limit: len(d.Message)}
	}
	return nil
}

// checkControlEmpty checks that a ping or pong carries nothing but its ID.
func checkControlEmpty(d *Datagram) error {
	for _, f := range [...]struct {
		name   string
		length int
	}{{"sys_id", len(d.SysID)}, {"msg_type", len(d.MsgType)}, {"file_name", len(d.FileName)},
		{"head_len", int(d.HeadLen)}, {"message", len(d.Message)}} {
		if f.length != 0 {
			return &MalformedError{Reason: ReasonControlNotEmpty, Field: f.name, Offset: -1, Value: f.length}
		}
	}
	return nil
}

// Decode decodes the datagram b into d. The byte slices of d point into b
// and are capped at their own length, so appending to one never writes
// into b. Decode allocates nothing unless it fails; it then returns a
// *MalformedError and leaves d zero.
func Decode(b []byte, d *Datagram) error {
	*d = Datagram{}
	if err := decodeFixed(b, d); err != nil {
		return err
	}
	if err := decodeFields(b, d); err != nil {
		*d = Datagram{}
		return err
	}
	if err := checkKindRules(d); err != nil {
		*d = Datagram{}
		return err
	}
	return nil
}

// decodeFixed checks the size and decodes the fixed first 8 bytes.
func decodeFixed(b []byte, d *Datagram) error {
	if len(b) > MaxDatagram {
		return &MalformedError{Reason: ReasonTooLarge, Value: len(b), Limit: MaxDatagram}
	}
	if len(b) < MinDatagram {
		return &MalformedError{Reason: ReasonShort, Value: len(b), Limit: MinDatagram}
	}
	if b[offMagic] != magic[0] || b[offMagic+1] != magic[1] {
		return &MalformedError{Reason: ReasonBadMagic, Field: "magic", Offset: offMagic,
			Value: int(binary.BigEndian.Uint16(b[offMagic:])), Limit: int(binary.BigEndian.Uint16(magic[:]))}
	}
	if b[offVersion] != Version {
		return &MalformedError{Reason: ReasonBadVersion, Field: "version", Offset: offVersion, Value: int(b[offVersion]), Limit: Version}
	}
	kind := Kind(b[offKind])
	if !kind.valid() {
		return &MalformedError{Reason: ReasonBadKind, Field: "kind", Offset: offKind, Value: int(kind)}
	}
	d.Kind = kind
	d.Seq = binary.BigEndian.Uint32(b[offSeq:])
	return nil
}

// decodeFields decodes everything after the fixed part, each length
// checked against its limit and against what remains.
func decodeFields(b []byte, d *Datagram) error {
	c := cursor{buf: b, off: offSysID}
	var err error
	if d.SysID, err = c.name("sys_id", MaxSysID); err != nil {
		return err
	}
	if d.MsgType, err = c.name("msg_type", MaxMsgType); err != nil {
		return err
	}
	if d.FileName, err = c.name("file_name", MaxFileName); err != nil {
		return err
	}
	headLen, err := c.fixed("head_len", headLenSize)
	if err != nil {
		return err
	}
	d.HeadLen = binary.BigEndian.Uint16(headLen)
	if d.Message, err = c.message(); err != nil {
		return err
	}
	return nil
}

// cursor reads the variable part of a datagram front to back.
type cursor struct {
	buf []byte
	off int
}

func (c *cursor) remaining() int { return len(c.buf) - c.off }

// take returns the next n bytes, which the caller has checked remain,
// capped so that appending to them cannot write into buf.
func (c *cursor) take(n int) []byte {
	out := c.buf[c.off : c.off+n : c.off+n]
	c.off += n
	return out
}

// fixed returns the next n bytes of a fixed-size field.
func (c *cursor) fixed(field string, n int) ([]byte, error) {
	if c.remaining() < n {
		return nil, &MalformedError{Reason: ReasonTruncated, Field: field, Offset: c.off, Value: n, Limit: c.remaining()}
	}
	return c.take(n), nil
}

// name returns a field of a one-byte length and at most limit bytes.
func (c *cursor) name(field string, limit int) ([]byte, error) {
	start := c.off
	if c.remaining() < nameLenSize {
		return nil, &MalformedError{Reason: ReasonTruncated, Field: field, Offset: start, Value: nameLenSize, Limit: c.remaining()}
	}
	n := int(c.take(nameLenSize)[0])
	if n > limit {
		return nil, &MalformedError{Reason: ReasonFieldLength, Field: field, Offset: start, Value: n, Limit: limit}
	}
	if c.remaining() < n {
		return nil, &MalformedError{Reason: ReasonTruncated, Field: field, Offset: start, Value: nameLenSize + n, Limit: nameLenSize + c.remaining()}
	}
	return c.take(n), nil
}

// message returns the length-prefixed message, which must end the
// datagram exactly.
func (c *cursor) message() ([]byte, error) {
	start := c.off
	lenBytes, err := c.fixed("message", messageLenSize)
	if err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint32(lenBytes))
	if n > c.remaining() {
		return nil, &MalformedError{Reason: ReasonTruncated, Field: "message", Offset: start,
			Value: messageLenSize + n, Limit: messageLenSize + c.remaining()}
	}
	msg := c.take(n)
	if c.remaining() > 0 {
		return nil, &MalformedError{Reason: ReasonTrailingBytes, Offset: c.off, Value: c.remaining()}
	}
	return msg, nil
}
