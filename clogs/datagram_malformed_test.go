package clogs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

// rawDatagram lays out a datagram with no checks at all, so tests can
// build what the encoder refuses to write. Lengths wrap at the width of
// their field.
func rawDatagram(kind Kind, seq uint32, sys, msgType, file string, headLen uint16, msg string) []byte {
	b := []byte{0xC1, 0x06, Version, byte(kind)}
	b = binary.BigEndian.AppendUint32(b, seq)
	for _, name := range []string{sys, msgType, file} {
		b = append(b, byte(len(name)))
		b = append(b, name...)
	}
	b = binary.BigEndian.AppendUint16(b, headLen)
	b = binary.BigEndian.AppendUint32(b, uint32(len(msg)))
	return append(b, msg...)
}

// patched returns a copy of b with b[i] = v.
func patched(b []byte, i int, v byte) []byte {
	out := bytes.Clone(b)
	out[i] = v
	return out
}

type malformedCase struct {
	name   string
	input  []byte
	reason Reason
	field  string
}

func malformedCases(t testing.TB) []malformedCase {
	log := mustEncode(t, &goldenLog)
	ping := mustEncode(t, &goldenFiles[1].datagram)
	const msgLenAt = 37 // where the golden log's message length starts
	hugeMsgLen := bytes.Clone(log)
	binary.BigEndian.PutUint32(hugeMsgLen[msgLenAt:], 0xFFFFFFFF)
	tooLarge := rawDatagram(KindLog, 1, "s", "", "f", 0, strings.Repeat("m", MaxMessage+1))
	return []malformedCase{
		{"one byte too large", tooLarge, ReasonTooLarge, ""},
		{"far too large", make([]byte, 1<<20), ReasonTooLarge, ""},
		{"empty", nil, ReasonShort, ""},
		{"a ping less one byte", ping[:MinDatagram-1], ReasonShort, ""},
		{"magic only", []byte{0xC1, 0x06}, ReasonShort, ""},
		{"bad first magic byte", patched(log, 0, 0xC0), ReasonBadMagic, "magic"},
		{"bad second magic byte", patched(log, 1, 0x07), ReasonBadMagic, "magic"},
		{"zero bytes", make([]byte, 64), ReasonBadMagic, "magic"},
		{"version 0", patched(log, 2, 0), ReasonBadVersion, "version"},
		{"version 2", patched(log, 2, 2), ReasonBadVersion, "version"},
		{"kind 0", patched(log, 3, 0), ReasonBadKind, "kind"},
		{"kind 4", patched(log, 3, 4), ReasonBadKind, "kind"},
		{"kind 255", patched(log, 3, 255), ReasonBadKind, "kind"},
		{"sys_id of 17", rawDatagram(KindLog, 1, strings.Repeat("s", 17), "", "f", 0, ""), ReasonFieldLength, "sys_id"},
		{"sys_id length 255", patched(log, 8, 255), ReasonFieldLength, "sys_id"},
		{"msg_type of 17", rawDatagram(KindLog, 1, "s", strings.Repeat("t", 17), "f", 0, ""), ReasonFieldLength, "msg_type"},
		{"file_name of 129", rawDatagram(KindLog, 1, "s", "", strings.Repeat("f", 129), 0, ""), ReasonFieldLength, "file_name"},
		{"ping with long sys_id", rawDatagram(KindPing, 1, strings.Repeat("s", 17), "", "", 0, ""), ReasonFieldLength, "sys_id"},
		{"sys_id past the end", patched(ping, 8, 9), ReasonTruncated, "sys_id"},
		{"file_name past the end", append(rawDatagram(KindLog, 1, "s", "", "", 0, "")[:11], 100, 'f', 0, 0, 0, 0, 0, 0), ReasonTruncated, "file_name"},
		{"no message length", log[:msgLenAt+2], ReasonTruncated, "message"},
		{"message one byte short", log[:len(log)-1], ReasonTruncated, "message"},
		{"message length 2^32-1", hugeMsgLen, ReasonTruncated, "message"},
		{"one byte after the message", append(bytes.Clone(log), 0), ReasonTrailingBytes, ""},
		{"ping with a byte after it", append(bytes.Clone(ping), 'x'), ReasonTrailingBytes, ""},
		{"log with empty sys_id", rawDatagram(KindLog, 1, "", "t", "f", 0, "m"), ReasonEmptyField, "sys_id"},
		{"log with empty file_name", rawDatagram(KindLog, 1, "s", "t", "", 0, "m"), ReasonEmptyField, "file_name"},
		{"log with no names", rawDatagram(KindLog, 1, "", "", "", 0, ""), ReasonEmptyField, "sys_id"},
		{"ping with sys_id", rawDatagram(KindPing, 1, "s", "", "", 0, ""), ReasonControlNotEmpty, "sys_id"},
		{"ping with msg_type", rawDatagram(KindPing, 1, "", "t", "", 0, ""), ReasonControlNotEmpty, "msg_type"},
		{"pong with file_name", rawDatagram(KindPong, 1, "", "", "f", 0, ""), ReasonControlNotEmpty, "file_name"},
		{"ping with head_len", rawDatagram(KindPing, 1, "", "", "", 1, ""), ReasonControlNotEmpty, "head_len"},
		{"pong with a message", rawDatagram(KindPong, 1, "", "", "", 0, "m"), ReasonControlNotEmpty, "message"},
		{"head_len past the message", rawDatagram(KindLog, 1, "s", "", "f", 4, "abc"), ReasonHeadLen, "head_len"},
		{"head_len with no message", rawDatagram(KindLog, 1, "s", "", "f", 1, ""), ReasonHeadLen, "head_len"},
	}
}

func TestDecodeMalformed(t *testing.T) {
	covered := map[Reason]bool{}
	for _, c := range malformedCases(t) {
		t.Run(c.name, func(t *testing.T) {
			d := goldenLog // Decode must clear it
			err := Decode(c.input, &d)
			var m *MalformedError
			if !errors.As(err, &m) {
				t.Fatalf("Decode = %v, want a *MalformedError", err)
			}
			if !errors.Is(err, ErrMalformed) || ReasonOf(err) != c.reason || m.Field != c.field {
				t.Fatalf("Decode = %v (reason %v, field %q), want reason %v, field %q", err, m.Reason, m.Field, c.reason, c.field)
			}
			if d.Kind != 0 || d.Seq != 0 || d.SysID != nil || d.Message != nil {
				t.Fatalf("failed Decode left %+v, want zero", d)
			}
			if !strings.HasPrefix(err.Error(), "clogs: malformed datagram ("+c.reason.String()+"): ") {
				t.Fatalf("error text %q", err)
			}
			covered[c.reason] = true
		})
	}
	for _, r := range Reasons() {
		if !covered[r] {
			t.Errorf("no malformed case has reason %v", r)
		}
	}
}

// TestEveryCutIsTruncated cuts the golden log at every length at which it
// is not simply short: every cut is truncated, none is misread.
func TestEveryCutIsTruncated(t *testing.T) {
	log := mustEncode(t, &goldenLog)
	var d Datagram
	for n := MinDatagram; n < len(log); n++ {
		if r := ReasonOf(Decode(log[:n], &d)); r != ReasonTruncated {
			t.Fatalf("cut at %d of %d: reason %v, want truncated", n, len(log), r)
		}
	}
}

// TestLimitsAtTheEdge encodes and decodes each limit exactly, then one
// past it.
func TestLimitsAtTheEdge(t *testing.T) {
	names := []struct {
		field string
		limit int
		set   func(d *Datagram, v []byte)
	}{
		{"sys_id", MaxSysID, func(d *Datagram, v []byte) { d.SysID = v }},
		{"msg_type", MaxMsgType, func(d *Datagram, v []byte) { d.MsgType = v }},
		{"file_name", MaxFileName, func(d *Datagram, v []byte) { d.FileName = v }},
	}
	for _, n := range names {
		t.Run(n.field, func(t *testing.T) {
			d := Datagram{Kind: KindLog, SysID: []byte("s"), FileName: []byte("f")}
			n.set(&d, bytes.Repeat([]byte("x"), n.limit))
			atLimit := mustEncode(t, &d)
			var got Datagram
			if err := Decode(atLimit, &got); err != nil {
				t.Fatalf("%s of %d bytes: %v", n.field, n.limit, err)
			}
			n.set(&d, bytes.Repeat([]byte("x"), n.limit+1))
			_, err := AppendEncode(nil, &d)
			assertReason(t, "encode", err, ReasonFieldLength, n.field)
			pastLimit := bytes.Clone(atLimit)
			pastLimit[lengthOffset(n.field, &d)]++
			assertReason(t, "decode", Decode(pastLimit, &got), ReasonFieldLength, n.field)
		})
	}
	t.Run("datagram size", func(t *testing.T) {
		d := Datagram{Kind: KindLog, SysID: []byte("s"), FileName: []byte("f"), Message: make([]byte, MaxMessage)}
		largest := mustEncode(t, &d)
		if len(largest) != MaxDatagram {
			t.Fatalf("largest datagram is %d bytes, want %d", len(largest), MaxDatagram)
		}
		var got Datagram
		if err := Decode(largest, &got); err != nil {
			t.Fatal(err)
		}
		d.Message = make([]byte, MaxMessage+1)
		_, err := AppendEncode(nil, &d)
		assertReason(t, "encode", err, ReasonTooLarge, "")
		assertReason(t, "decode", Decode(append(largest, 0), &got), ReasonTooLarge, "")
	})
	t.Run("head_len", func(t *testing.T) {
		d := Datagram{Kind: KindLog, SysID: []byte("s"), FileName: []byte("f"), HeadLen: 5, Message: []byte("12345")}
		mustEncode(t, &d)
		d.HeadLen++
		_, err := AppendEncode(nil, &d)
		assertReason(t, "encode", err, ReasonHeadLen, "head_len")
	})
}

// lengthOffset is where the length byte of field sits in the log
// datagram d.
func lengthOffset(field string, d *Datagram) int {
	switch field {
	case "sys_id":
		return offSysID
	case "msg_type":
		return offSysID + nameLenSize + len(d.SysID)
	}
	return offSysID + nameLenSize + len(d.SysID) + nameLenSize + len(d.MsgType)
}

func assertReason(t *testing.T, op string, err error, reason Reason, field string) {
	t.Helper()
	var m *MalformedError
	if !errors.As(err, &m) || m.Reason != reason || m.Field != field {
		t.Fatalf("%s: %v, want reason %v on field %q", op, err, reason, field)
	}
}

func TestEncodeRefuses(t *testing.T) {
	for _, c := range []struct {
		name   string
		d      Datagram
		reason Reason
	}{
		{"zero datagram", Datagram{}, ReasonBadKind},
		{"kind 4", Datagram{Kind: 4}, ReasonBadKind},
		{"log without sys_id", Datagram{Kind: KindLog, FileName: []byte("f")}, ReasonEmptyField},
		{"log without file_name", Datagram{Kind: KindLog, SysID: []byte("s")}, ReasonEmptyField},
		{"ping with a message", Datagram{Kind: KindPing, Message: []byte("m")}, ReasonControlNotEmpty},
		{"pong with head_len", Datagram{Kind: KindPong, HeadLen: 1}, ReasonControlNotEmpty},
	} {
		_, err := AppendEncode(nil, &c.d)
		if ReasonOf(err) != c.reason || !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want reason %v", c.name, err, c.reason)
		}
	}
}
