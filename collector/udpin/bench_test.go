package udpin

import (
	"fmt"
	"net"
	"testing"
	"time"
)

// BenchmarkReceive measures the receive path alone (recvmmsg, unpacking,
// address decoding) for 200-byte datagrams: each round fills a socket's
// receive buffer with the timer stopped, then times reading it empty. It
// reports datagrams/s read; ns/op is per datagram sent.
func BenchmarkReceive(b *testing.B) {
	for _, batchSize := range []int{1, 8, 32, 128} {
		b.Run(fmt.Sprintf("batch=%d", batchSize), func(b *testing.B) { benchmarkReceive(b, batchSize, 200) })
	}
}

func benchmarkReceive(b *testing.B, batchSize, datagramSize int) {
	// Forced (as root) to hold a whole round; unforced, rounds overflow and
	// the drops are reported below.
	const round = 16384
	conn, granted, err := listenSocket("127.0.0.1:0", 64<<20)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	rawConn, err := conn.SyscallConn()
	if err != nil {
		b.Fatal(err)
	}
	reader := newBatchReader(rawConn, batchSize, MaxDatagramSize)
	reader.returnWhenEmpty = true
	sender, err := net.DialUDP("udp", nil, conn.LocalAddr().(*net.UDPAddr))
	if err != nil {
		b.Fatal(err)
	}
	defer sender.Close()
	datagram := pattern(datagramSize, 0)

	var read, drops uint64
	var elapsed time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for sent := 0; sent < b.N; {
		b.StopTimer()
		n := min(round, b.N-sent)
		for range n {
			if _, err := sender.Write(datagram); err != nil {
				b.Fatal(err)
			}
		}
		sent += n
		start := time.Now()
		b.StartTimer()
		for {
			packets, counts, err := reader.read()
			if err != nil {
				b.Fatal(err)
			}
			read += uint64(len(packets))
			drops += counts.kernelDrops
			if counts.messages == 0 {
				break
			}
		}
		elapsed += time.Since(start)
	}
	b.StopTimer()
	b.ReportMetric(float64(read)/elapsed.Seconds(), "datagrams/s")
	if drops > 0 {
		b.Logf("%d kernel drops (receive buffer %d bytes, forced %v)", drops, granted.effective, granted.forced)
	}
}
