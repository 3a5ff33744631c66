package udpin

import (
	"net"
	"testing"
)

// Reading a batch allocates nothing: buffers, headers and the packet slice
// are the reader's, and source addresses decode into values.
func TestReadDoesNotAllocate(t *testing.T) {
	conn, _, err := listenSocket("127.0.0.1:0", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rawConn, err := conn.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	reader := newBatchReader(rawConn, 8, MaxDatagramSize)
	sender, err := net.DialUDP("udp", nil, conn.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close()
	datagram := pattern(200, 0)
	var readErr error
	allocs := testing.AllocsPerRun(100, func() {
		for range 8 {
			if _, err := sender.Write(datagram); err != nil {
				readErr = err
			}
		}
		for got := 0; got < 8 && readErr == nil; {
			var packets []Packet
			packets, _, readErr = reader.read()
			got += len(packets)
		}
	})
	if readErr != nil {
		t.Fatal(readErr)
	}
	// The sender's Write does not allocate either, so any allocation is
	// the reader's.
	if allocs != 0 {
		t.Fatalf("%v allocations per 8 datagrams sent and read, want 0", allocs)
	}
}

func TestWriteToDoesNotAllocate(t *testing.T) {
	s := listen(t, testConfig(2), func([]Packet) {})
	peer, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	to := peer.LocalAddr().(*net.UDPAddr).AddrPort()
	pong := []byte("pong")
	var writeErr error
	allocs := testing.AllocsPerRun(100, func() {
		if err := s.WriteTo(pong, to); err != nil {
			writeErr = err
		}
	})
	if writeErr != nil {
		t.Fatal(writeErr)
	}
	if allocs != 0 {
		t.Fatalf("WriteTo: %v allocations, want 0", allocs)
	}
}
