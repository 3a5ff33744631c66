package collector

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clogs-io/clogs/clogs"
)

// BenchmarkCollector sends 200-byte log lines over 64 files from two
// sender goroutines as fast as they go to a collector in this process,
// which stores them through a real cluster in this process (three nodes,
// fsync). It reports datagrams accepted and lines stored per second, and
// what was dropped. make bench-collector runs the same with real
// processes; this one is for profiles.
func BenchmarkCollector(b *testing.B) {
	c := startCluster(b)
	cfg := testConfig(c)
	col, err := Start(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer col.Close()
	const files = 64
	var datagrams [files][]byte
	for f := range files {
		msg := fmt.Sprintf("2026-11-22T06:16:53.123+08:00 INFO [pay-gateway] order=ORD2026112206165300%02d card=4111111111111111 amount=100.00 status=OK %s", f, strings.Repeat("x", 80))
		d := clogs.Datagram{Kind: clogs.KindLog, SysID: []byte("bench"), MsgType: []byte("log"), FileName: []byte(fmt.Sprintf("f%02d.log", f)), Message: []byte(msg[:200])}
		datagrams[f], _ = clogs.AppendEncode(nil, &d)
	}
	b.ResetTimer()
	began := time.Now()
	var wg sync.WaitGroup
	const senders = 2
	for s := range senders {
		wg.Go(func() {
			conn, err := net.DialUDP("udp", nil, col.Addr().(*net.UDPAddr))
			if err != nil {
				b.Error(err)
				return
			}
			defer conn.Close()
			for i := s; i < b.N; i += senders {
				conn.Write(datagrams[i%files])
			}
		})
	}
	wg.Wait()
	sent := time.Since(began)
	st := col.Stats()
	col.Close()
	final := col.Stats()
	b.ReportMetric(float64(st.Datagrams["clogs/log"])/sent.Seconds(), "accepted/s")
	b.ReportMetric(float64(b.N)/sent.Seconds(), "sent/s")
	b.ReportMetric(float64(final.KernelDrops), "kernel-drops")
	b.ReportMetric(float64(final.DroppedTotal), "dropped")
	b.ReportMetric(float64(final.LinesStored), "stored")
}
