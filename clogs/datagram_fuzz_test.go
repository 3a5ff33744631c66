package clogs

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzDatagram: Decode never panics, fails only with a *MalformedError
// that names a Reason, and whatever decodes re-encodes to the same bytes.
func FuzzDatagram(f *testing.F) {
	for _, g := range goldenFiles {
		f.Add(mustEncode(f, &g.datagram))
	}
	for _, c := range malformedCases(f) {
		if len(c.input) <= MaxDatagram+1 {
			f.Add(c.input)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var d Datagram
		err := Decode(data, &d)
		if err != nil {
			if !errors.Is(err, ErrMalformed) || ReasonOf(err) == 0 || ReasonOf(err) > MaxReason {
				t.Fatalf("Decode failed without a reason: %v", err)
			}
			return
		}
		if d.Size() != len(data) {
			t.Fatalf("Size() = %d for %d decoded bytes", d.Size(), len(data))
		}
		again, err := AppendEncode(nil, &d)
		if err != nil {
			t.Fatalf("decoded datagram does not re-encode: %v", err)
		}
		if !bytes.Equal(again, data) {
			t.Fatalf("decode then encode changed the bytes\n got %x\nwant %x", again, data)
		}
	})
}
