package udpin

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

func sockaddrInet4(ip [4]byte, port uint16) []byte {
	b := make([]byte, unix.SizeofSockaddrInet4)
	binary.NativeEndian.PutUint16(b, unix.AF_INET)
	binary.BigEndian.PutUint16(b[2:], port)
	copy(b[4:], ip[:])
	return b
}

func sockaddrInet6(ip [16]byte, port uint16, scopeID uint32) []byte {
	b := make([]byte, unix.SizeofSockaddrInet6)
	binary.NativeEndian.PutUint16(b, unix.AF_INET6)
	binary.BigEndian.PutUint16(b[2:], port)
	copy(b[8:], ip[:])
	binary.NativeEndian.PutUint32(b[24:], scopeID)
	return b
}

func TestDecodeSockaddr(t *testing.T) {
	loopback6 := netip.MustParseAddr("::1").As16()
	mapped := netip.MustParseAddr("::ffff:10.1.2.3").As16()
	linkLocal := netip.MustParseAddr("fe80::1").As16()
	cases := []struct {
		name string
		raw  []byte
		want netip.AddrPort
	}{
		{"ipv4", sockaddrInet4([4]byte{127, 0, 0, 1}, 6000), netip.MustParseAddrPort("127.0.0.1:6000")},
		{"ipv6", sockaddrInet6(loopback6, 65535, 0), netip.MustParseAddrPort("[::1]:65535")},
		{"ipv4 on a dual-stack socket", sockaddrInet6(mapped, 1, 0), netip.MustParseAddrPort("10.1.2.3:1")},
		{"link-local keeps its zone", sockaddrInet6(linkLocal, 7, 3), netip.MustParseAddrPort("[fe80::1%3]:7")},
		{"short ipv4", sockaddrInet4([4]byte{1, 2, 3, 4}, 1)[:8], netip.AddrPort{}},
		{"short ipv6", sockaddrInet6(loopback6, 1, 0)[:20], netip.AddrPort{}},
		{"unix family", []byte{unix.AF_UNIX, 0, 0, 0}, netip.AddrPort{}},
		{"empty", nil, netip.AddrPort{}},
	}
	for _, tc := range cases {
		if got := decodeSockaddr(tc.raw); got != tc.want {
			t.Errorf("%s: decodeSockaddr = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// controlMessage builds one control message as the kernel lays it out.
func controlMessage(level, typ int32, data []byte) []byte {
	b := make([]byte, unix.CmsgSpace(len(data)))
	hdr := unix.Cmsghdr{Level: level, Type: typ}
	hdr.SetLen(unix.CmsgLen(len(data)))
	// Cmsghdr is Len (size_t), Level, Type in host byte order.
	if unix.SizeofCmsghdr == 16 {
		binary.NativeEndian.PutUint64(b, uint64(hdr.Len))
	} else {
		binary.NativeEndian.PutUint32(b, uint32(hdr.Len))
	}
	lenSize := unix.SizeofCmsghdr - 8
	binary.NativeEndian.PutUint32(b[lenSize:], uint32(level))
	binary.NativeEndian.PutUint32(b[lenSize+4:], uint32(typ))
	copy(b[unix.CmsgLen(0):], data)
	return b
}

func TestDropCounter(t *testing.T) {
	counter := binary.NativeEndian.AppendUint32(nil, 41)
	overflow := controlMessage(unix.SOL_SOCKET, unix.SO_RXQ_OVFL, counter)
	other := controlMessage(unix.SOL_SOCKET, unix.SO_TIMESTAMP, make([]byte, 16))
	cases := []struct {
		name    string
		control []byte
		want    uint32
		wantOK  bool
	}{
		{"none", nil, 0, false},
		{"counter", overflow, 41, true},
		{"after another message", append(append([]byte{}, other...), overflow...), 41, true},
		{"other only", other, 0, false},
		{"other level", controlMessage(unix.IPPROTO_IP, unix.SO_RXQ_OVFL, counter), 0, false},
		{"short data", controlMessage(unix.SOL_SOCKET, unix.SO_RXQ_OVFL, counter[:2]), 0, false},
		{"length past the end", overflow[:unix.CmsgLen(2)], 0, false},
	}
	for _, tc := range cases {
		got, ok := dropCounter(tc.control)
		if got != tc.want || ok != tc.wantOK {
			t.Errorf("%s: dropCounter = %d, %v; want %d, %v", tc.name, got, ok, tc.want, tc.wantOK)
		}
	}
}

func TestDropsSince(t *testing.T) {
	var r batchReader
	steps := []struct {
		counter uint32
		want    uint64
	}{
		{5, 5},
		{5, 0},         // the same counter on the next datagram
		{3, 0},         // behind (queued out of order): ignored
		{9, 4},         // growth since 5, not since 3
		{9 + 1<<31, 0}, // half the range ahead reads as behind: ignored
		{1 << 31, 1<<31 - 9},
		{1<<32 - 2, 1<<31 - 2},
		{2, 4}, // wraps past zero
	}
	for i, step := range steps {
		if got := r.dropsSince(step.counter); got != step.want {
			t.Fatalf("step %d: dropsSince(%d) = %d, want %d", i, step.counter, got, step.want)
		}
	}
}
