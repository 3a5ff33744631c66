package logblock

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
)

const (
	benchMessageLen = 200
	benchBlockSize  = 64 << 10
)

// benchRecords returns records with 200-byte messages, as many as fill a
// 64 KiB block: log-like text that snappy compresses, or random bytes
// that it does not.
func benchRecords(text bool) []Record {
	rng := rand.New(rand.NewPCG(7, 8))
	var (
		records []Record
		size    int
	)
	for i := 0; size < benchBlockSize; i++ {
		msg := make([]byte, benchMessageLen)
		if text {
			line := fmt.Appendf(nil, "2026-11-22 05:54:38.%03d INFO [pay-worker-%02d] order=%08d amount=%d.%02d card=411111******1111 status=APPROVED latency_ms=%d trace=%016x ",
				i%1000, rng.IntN(32), rng.IntN(1e8), rng.IntN(10000), rng.IntN(100), rng.IntN(500), rng.Uint64())
			copy(msg, bytes.Repeat(line, 2))
		} else {
			for j := range msg {
				msg[j] = byte(rng.UintN(256))
			}
		}
		r := Record{ReceivedNanos: goldenTime + int64(i)*1000, Source: []byte("10.1.2.3:40001"),
			SysID: []byte("payment"), MsgType: []byte("text"), FileName: []byte("pay/worker.log"), Message: msg}
		records = append(records, r)
		size += r.EncodedSize()
	}
	return records
}

var benchKinds = []struct {
	name string
	text bool
}{{"text", true}, {"random", false}}

func reportRecords(b *testing.B, perOp int) {
	b.ReportMetric(float64(perOp)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkBuild: Add every record of a 64 KiB block, then Finish.
func BenchmarkBuild(b *testing.B) {
	for _, kind := range benchKinds {
		b.Run(kind.name, func(b *testing.B) {
			records := benchRecords(kind.text)
			var builder Builder
			b.SetBytes(benchBlockSize)
			b.ReportAllocs()
			for b.Loop() {
				for _, r := range records {
					if err := builder.Add(r); err != nil {
						b.Fatal(err)
					}
				}
				if _, _, err := builder.Finish(goldenWriterID, 1); err != nil {
					b.Fatal(err)
				}
			}
			reportRecords(b, len(records))
		})
	}
}

// BenchmarkIterate: read every record of a 64 KiB block with a reused
// Iterator.
func BenchmarkIterate(b *testing.B) {
	for _, kind := range benchKinds {
		b.Run(kind.name, func(b *testing.B) {
			records := benchRecords(kind.text)
			payload, userData := build(b, records, goldenWriterID, 1)
			var it Iterator
			b.SetBytes(benchBlockSize)
			b.ReportAllocs()
			for b.Loop() {
				if err := it.Reset(payload, userData); err != nil {
					b.Fatal(err)
				}
				for it.Next() {
				}
				if err := it.Err(); err != nil {
					b.Fatal(err)
				}
			}
			reportRecords(b, len(records))
		})
	}
}

// BenchmarkDecode: Decode a 64 KiB block into a slice of records.
func BenchmarkDecode(b *testing.B) {
	for _, kind := range benchKinds {
		b.Run(kind.name, func(b *testing.B) {
			records := benchRecords(kind.text)
			payload, userData := build(b, records, goldenWriterID, 1)
			b.SetBytes(benchBlockSize)
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := Decode(payload, userData); err != nil {
					b.Fatal(err)
				}
			}
			reportRecords(b, len(records))
		})
	}
}

// BenchmarkAppendJSON: the JSON form of one record, as cat --logs --json
// writes it.
func BenchmarkAppendJSON(b *testing.B) {
	r := benchRecords(true)[0]
	var line []byte
	b.ReportAllocs()
	for b.Loop() {
		line = r.AppendJSON(line[:0])
	}
	reportRecords(b, 1)
}
