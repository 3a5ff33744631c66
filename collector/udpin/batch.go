package udpin

import (
	"encoding/binary"
	"net/netip"
	"os"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Packet is one received datagram.
type Packet struct {
	// Data is the datagram's payload. It points into the socket's receive
	// arena and is overwritten by the next read: it is valid only until
	// the handler returns. Copy it to keep it.
	Data []byte
	// From is the sender. IPv4 senders on a dual-stack socket appear as
	// plain IPv4 addresses; a link-local IPv6 sender carries its numeric
	// zone, so WriteTo can answer it.
	From netip.AddrPort
}

// sockaddrSize is room for the largest source address recvmmsg returns
// (struct sockaddr_in6); an IPv4 source uses the first 16 bytes.
const sockaddrSize = unix.SizeofSockaddrInet6

// controlSize is room for the one control message we enable (SO_RXQ_OVFL,
// a uint32), with headroom so it is never truncated (MSG_CTRUNC).
var controlSize = 2 * unix.CmsgSpace(4)

// batchCounts is what one read observed besides the delivered packets.
type batchCounts struct {
	// messages is how many datagrams recvmmsg returned, delivered or not.
	messages int
	// truncated datagrams were longer than the receive buffer.
	truncated uint64
	// kernelDrops is the growth of the socket's SO_RXQ_OVFL counter.
	kernelDrops uint64
}

// batchReader reads up to len(headers) datagrams from one socket with one
// recvmmsg call into buffers it allocated once. It is used by one goroutine.
type batchReader struct {
	rawConn         syscall.RawConn
	maxDatagramSize int

	arena    []byte // len(headers) receive buffers of maxDatagramSize bytes
	headers  []unix.Mmsghdr
	iovecs   []unix.Iovec
	sockaddr []byte // len(headers) source addresses of sockaddrSize bytes
	control  []byte // len(headers) control buffers of controlSize bytes
	packets  []Packet

	// lastDropCounter is the socket's cumulative SO_RXQ_OVFL counter as of
	// the last datagram that carried it.
	lastDropCounter uint32

	// Set by recvmmsg for read to pick up; recvmmsg is bound to the
	// reader once so that passing it to RawConn.Read does not allocate.
	boundRecvmmsg func(fd uintptr) bool
	received      int
	recvErr       error
	// returnWhenEmpty makes a read return nothing instead of waiting when
	// the socket has no datagram queued (draining on Close).
	returnWhenEmpty bool
}

func newBatchReader(rawConn syscall.RawConn, batchSize, maxDatagramSize int) *batchReader {
	r := &batchReader{
		rawConn:         rawConn,
		maxDatagramSize: maxDatagramSize,
		arena:           make([]byte, batchSize*maxDatagramSize),
		headers:         make([]unix.Mmsghdr, batchSize),
		iovecs:          make([]unix.Iovec, batchSize),
		sockaddr:        make([]byte, batchSize*sockaddrSize),
		control:         make([]byte, batchSize*controlSize),
		packets:         make([]Packet, 0, batchSize),
	}
	for i := range r.headers {
		r.iovecs[i].Base = &r.arena[i*maxDatagramSize]
		r.iovecs[i].SetLen(maxDatagramSize)
		hdr := &r.headers[i].Hdr
		hdr.Iov = &r.iovecs[i]
		hdr.SetIovlen(1)
		hdr.Name = &r.sockaddr[i*sockaddrSize]
		hdr.Control = &r.control[i*controlSize]
	}
	r.boundRecvmmsg = r.recvmmsg
	return r
}

// read waits for at least one datagram (unless returnWhenEmpty) and reads
// as many as are queued, up to the batch size. The packets it returns are
// valid until the next read.
func (r *batchReader) read() ([]Packet, batchCounts, error) {
	for i := range r.headers {
		hdr := &r.headers[i].Hdr
		hdr.Namelen = sockaddrSize
		hdr.SetControllen(controlSize)
		hdr.Flags = 0
		r.headers[i].Len = 0
	}
	r.received, r.recvErr = 0, nil
	if err := r.rawConn.Read(r.boundRecvmmsg); err != nil {
		return nil, batchCounts{}, err
	}
	if r.recvErr != nil {
		return nil, batchCounts{}, r.recvErr
	}
	return r.unpack(r.received)
}

// recvmmsg is called by RawConn.Read with the socket's descriptor; it
// returns false to wait until the socket is readable.
func (r *batchReader) recvmmsg(fd uintptr) bool {
	for {
		n, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, fd,
			uintptr(unsafe.Pointer(&r.headers[0])), uintptr(len(r.headers)),
			unix.MSG_DONTWAIT, 0, 0)
		switch errno {
		case 0:
			r.received = int(n)
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return r.returnWhenEmpty
		default:
			r.recvErr = os.NewSyscallError("recvmmsg", errno)
			return true
		}
	}
}

// unpack turns the first n headers into packets and counts what was lost.
func (r *batchReader) unpack(n int) ([]Packet, batchCounts, error) {
	counts := batchCounts{messages: n}
	r.packets = r.packets[:0]
	for i := range n {
		msg := &r.headers[i]
		controlLen := min(int(msg.Hdr.Controllen), controlSize)
		if counter, ok := dropCounter(r.control[i*controlSize:][:controlLen]); ok {
			counts.kernelDrops += r.dropsSince(counter)
		}
		if msg.Hdr.Flags&unix.MSG_TRUNC != 0 {
			counts.truncated++
			continue
		}
		start := i * r.maxDatagramSize
		length := min(int(msg.Len), r.maxDatagramSize)
		r.packets = append(r.packets, Packet{
			Data: r.arena[start : start+length : start+r.maxDatagramSize],
			From: decodeSockaddr(r.sockaddr[i*sockaddrSize:][:min(int(msg.Hdr.Namelen), sockaddrSize)]),
		})
	}
	return r.packets, counts, nil
}

// dropsSince advances lastDropCounter to counter and returns the growth.
// The kernel's counter is a wrapping uint32; a value behind the last one
// (datagrams queued out of order by different CPUs) adds nothing.
func (r *batchReader) dropsSince(counter uint32) uint64 {
	delta := counter - r.lastDropCounter
	if delta == 0 || delta >= 1<<31 {
		return 0
	}
	r.lastDropCounter = counter
	return uint64(delta)
}

// dropCounter finds the SO_RXQ_OVFL control message in control and returns
// the socket's cumulative drop counter it carries. The kernel attaches it
// only once the counter is non-zero.
func dropCounter(control []byte) (uint32, bool) {
	for len(control) >= unix.CmsgLen(0) {
		hdr, data, rest, err := unix.ParseOneSocketControlMessage(control)
		if err != nil {
			return 0, false
		}
		if hdr.Level == unix.SOL_SOCKET && hdr.Type == unix.SO_RXQ_OVFL && len(data) >= 4 {
			return binary.NativeEndian.Uint32(data), true
		}
		control = rest
	}
	return 0, false
}

// decodeSockaddr decodes a struct sockaddr_in or sockaddr_in6 as the kernel
// wrote it: family in host byte order, port in network byte order. An
// address of another family decodes to the zero AddrPort.
func decodeSockaddr(b []byte) netip.AddrPort {
	if len(b) < 2 {
		return netip.AddrPort{}
	}
	switch binary.NativeEndian.Uint16(b) {
	case unix.AF_INET:
		if len(b) < unix.SizeofSockaddrInet4 {
			return netip.AddrPort{}
		}
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[4:8])), binary.BigEndian.Uint16(b[2:4]))
	case unix.AF_INET6:
		if len(b) < unix.SizeofSockaddrInet6 {
			return netip.AddrPort{}
		}
		addr := netip.AddrFrom16([16]byte(b[8:24])).Unmap()
		if scopeID := binary.NativeEndian.Uint32(b[24:28]); scopeID != 0 && addr.Is6() {
			addr = addr.WithZone(strconv.FormatUint(uint64(scopeID), 10))
		}
		return netip.AddrPortFrom(addr, binary.BigEndian.Uint16(b[2:4]))
	}
	return netip.AddrPort{}
}
