package conn

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/golang/snappy"
	"google.golang.org/grpc/encoding"
)

// logLike returns at least n bytes of lines like those the collector
// stores: a payment gateway's, already masked.
func logLike(n int) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	levels := []string{"INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR"}
	services := []string{"payment-gw", "auth-svc", "settle-batch", "risk-engine"}
	statuses := []string{"APPROVED", "APPROVED", "APPROVED", "DECLINED", "TIMEOUT", "REVERSED"}
	bins := []string{"411111", "550000", "622848", "356600"}
	var b bytes.Buffer
	b.Grow(n + 256)
	ms := int64(0)
	for txn := 12345; b.Len() < n; txn++ {
		ms += rng.Int64N(50)
		sec, milli := ms/1000, ms%1000
		fmt.Fprintf(&b, "2026-11-22T03:%02d:%02d.%03dZ %s %s txn=%d card=%s******%04d amount=%d.%02d status=%s latency_ms=%d merchant=M%08d rrn=%012d\n",
			(34+sec/60)%60, sec%60, milli,
			levels[rng.IntN(len(levels))], services[rng.IntN(len(services))], txn,
			bins[rng.IntN(len(bins))], rng.IntN(10000), rng.IntN(5000), rng.IntN(100),
			statuses[rng.IntN(len(statuses))], rng.IntN(900)+5, rng.IntN(1000), rng.Int64N(1e12))
	}
	return b.Bytes()
}

func randomBytes(n int) []byte {
	rng := rand.New(rand.NewPCG(3, 4))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

func snappyCodec(tb testing.TB) encoding.Compressor {
	tb.Helper()
	c := encoding.GetCompressor(Snappy)
	if c == nil {
		tb.Fatal("snappy compressor is not registered")
	}
	return c
}

// compress writes data in pieces of at most piece bytes, as gRPC writes a
// message's buffers one by one.
func compress(c encoding.Compressor, data []byte, piece int) ([]byte, error) {
	var out bytes.Buffer
	w, err := c.Compress(&out)
	if err != nil {
		return nil, err
	}
	for len(data) > 0 {
		n := min(piece, len(data))
		if _, err := w.Write(data[:n]); err != nil {
			return nil, err
		}
		data = data[n:]
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

func decompress(c encoding.Compressor, data []byte) ([]byte, error) {
	r, err := c.Decompress(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	out, err := io.ReadAll(r)
	if closer, ok := r.(io.Closer); ok {
		if cerr := closer.Close(); err == nil {
			err = cerr
		}
	}
	return out, err
}

func TestSnappyRoundTrip(t *testing.T) {
	c := snappyCodec(t)
	if c.Name() != Snappy {
		t.Fatalf("Name() = %q", c.Name())
	}
	cases := []struct {
		name string
		data []byte
		// maxRatio bounds compressed/uncompressed size; 0 means no bound.
		maxRatio float64
	}{
		{"empty", nil, 0},
		{"one byte", []byte{'x'}, 0},
		{"random 1KiB", randomBytes(1 << 10), 0},
		{"random 1MiB", randomBytes(1 << 20), 1.01},
		{"log 64KiB", logLike(64 << 10), 0.6},
		{"log 1MiB", logLike(1 << 20), 0.6},
		{"log 33MiB", logLike(33 << 20), 0.6},
		{"random 33MiB", randomBytes(33 << 20), 1.01},
		{"zeros 33MiB", make([]byte, 33<<20), 0.05},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, piece := range []int{1 << 30, 16 << 10, 1000} {
				if piece < 1<<20 && len(tc.data) > 4<<20 {
					continue // small pieces of a large input add time, not coverage
				}
				compressed, err := compress(c, tc.data, piece)
				if err != nil {
					t.Fatal(err)
				}
				got, err := decompress(c, compressed)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, tc.data) {
					t.Fatalf("round trip in %d-byte pieces changed %d bytes into %d", piece, len(tc.data), len(got))
				}
				if len(tc.data) > 0 && tc.maxRatio > 0 {
					if ratio := float64(len(compressed)) / float64(len(tc.data)); ratio > tc.maxRatio {
						t.Errorf("compressed to %.3f of the input, want at most %.3f", ratio, tc.maxRatio)
					}
				}
			}
		})
	}
}

// TestSnappyFramingInterop checks that the codec speaks the standard
// framing format, both ways, so any snappy implementation can read it.
func TestSnappyFramingInterop(t *testing.T) {
	c := snappyCodec(t)
	data := logLike(300 << 10)

	compressed, err := compress(c, data, len(data))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(snappy.NewReader(bytes.NewReader(compressed)))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("snappy.NewReader on our output: %d bytes, %v", len(got), err)
	}

	var theirs bytes.Buffer
	w := snappy.NewBufferedWriter(&theirs)
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, err = decompress(c, theirs.Bytes())
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("our reader on snappy.NewBufferedWriter output: %d bytes, %v", len(got), err)
	}
}

func TestSnappyCorruption(t *testing.T) {
	c := snappyCodec(t)
	data := logLike(200 << 10)
	compressed, err := compress(c, data, len(data))
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range []int{len(compressed) / 3, len(compressed) / 2, len(compressed) - 1} {
		bad := bytes.Clone(compressed)
		bad[at] ^= 0x55
		if got, err := decompress(c, bad); err == nil && bytes.Equal(got, data) {
			t.Errorf("flipping byte %d went unnoticed", at)
		} else if err == nil {
			t.Errorf("flipping byte %d returned wrong data without an error", at)
		}
	}
	if _, err := decompress(c, compressed[:len(compressed)/2]); err == nil {
		t.Error("a truncated stream decompressed without error")
	}
}

// TestSnappyConcurrent runs round trips in parallel: the pooled writers and
// readers must never be shared (run with -race).
func TestSnappyConcurrent(t *testing.T) {
	c := snappyCodec(t)
	inputs := [][]byte{logLike(100 << 10), randomBytes(100 << 10), logLike(7000), nil}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 20 {
				data := inputs[(g+i)%len(inputs)]
				compressed, err := compress(c, data, 4096)
				if err != nil {
					t.Error(err)
					return
				}
				got, err := decompress(c, compressed)
				if err != nil || !bytes.Equal(got, data) {
					t.Errorf("round trip of %d bytes: %d bytes, %v", len(data), len(got), err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// BenchmarkSnappy measures the codec on 4 MiB messages, the size of a
// typical log block. "ratio" is uncompressed/compressed size; MB/s counts
// uncompressed bytes in both directions.
func BenchmarkSnappy(b *testing.B) {
	const size = 4 << 20
	inputs := []struct {
		name string
		data []byte
	}{
		{"log", logLike(size)[:size]},
		{"random", randomBytes(size)},
	}
	c := snappyCodec(b)
	for _, in := range inputs {
		compressed, err := compress(c, in.data, 16<<10)
		if err != nil {
			b.Fatal(err)
		}
		ratio := float64(len(in.data)) / float64(len(compressed))
		b.Run(in.name+"/compress", func(b *testing.B) {
			b.SetBytes(int64(len(in.data)))
			b.ReportAllocs()
			var out bytes.Buffer
			out.Grow(len(compressed) + 1<<10)
			for b.Loop() {
				out.Reset()
				w, _ := c.Compress(&out)
				if _, err := w.Write(in.data); err != nil {
					b.Fatal(err)
				}
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(ratio, "ratio")
		})
		b.Run(in.name+"/decompress", func(b *testing.B) {
			b.SetBytes(int64(len(in.data)))
			b.ReportAllocs()
			buf := make([]byte, 64<<10)
			src := bytes.NewReader(compressed)
			for b.Loop() {
				src.Reset(compressed)
				r, _ := c.Decompress(src)
				n, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{r}, buf)
				if err != nil || n != int64(len(in.data)) {
					b.Fatalf("decompressed %d bytes: %v", n, err)
				}
				_ = r.(io.Closer).Close()
			}
			b.ReportMetric(ratio, "ratio")
		})
	}
}
