package conn

import (
	"io"
	"sync"

	"github.com/golang/snappy"
	"google.golang.org/grpc/encoding"
)

// Snappy is the name of the snappy compressor in gRPC: the value of
// Config.Compression, of grpc.UseCompressor, and of the grpc-encoding
// header. Messages use snappy's framing format
// (https://github.com/google/snappy/blob/main/framing_format.txt): chunks of
// at most 64 KiB, each with a CRC32C of its uncompressed bytes, so a corrupt
// message fails to decompress instead of delivering wrong bytes.
const Snappy = "snappy"

func init() {
	encoding.RegisterCompressor(newSnappyCompressor())
}

// snappyCompressor implements encoding.Compressor. A framing writer holds
// about 140 KiB of buffers and a reader about the same; they are pooled so
// that a message does not allocate them anew.
type snappyCompressor struct {
	writers sync.Pool // of *snappyWriter
	readers sync.Pool // of *snappyReader
}

func newSnappyCompressor() *snappyCompressor {
	c := &snappyCompressor{}
	c.writers.New = func() any {
		return &snappyWriter{Writer: snappy.NewBufferedWriter(nil), pool: &c.writers}
	}
	c.readers.New = func() any {
		return &snappyReader{Reader: snappy.NewReader(nil), pool: &c.readers}
	}
	return c
}

// Name returns Snappy.
func (c *snappyCompressor) Name() string { return Snappy }

// Compress returns a writer that compresses into w. Its Close flushes the
// last chunk and returns the writer to the pool; it must be called exactly
// once, as gRPC does.
func (c *snappyCompressor) Compress(w io.Writer) (io.WriteCloser, error) {
	sw := c.writers.Get().(*snappyWriter)
	sw.Reset(w)
	return sw, nil
}

// Decompress returns a reader of the bytes compressed in r. gRPC calls its
// Close once the message is read, which returns it to the pool; gRPC also
// bounds how much it reads, so a small message cannot expand without limit.
func (c *snappyCompressor) Decompress(r io.Reader) (io.Reader, error) {
	sr := c.readers.Get().(*snappyReader)
	sr.Reset(r)
	return sr, nil
}

type snappyWriter struct {
	*snappy.Writer
	pool *sync.Pool
}

// Close flushes and recycles the writer. The reset drops the reference to
// gRPC's output buffer, so a pooled writer does not keep it alive.
func (w *snappyWriter) Close() error {
	err := w.Writer.Close()
	w.Reset(nil)
	w.pool.Put(w)
	return err
}

type snappyReader struct {
	*snappy.Reader
	pool *sync.Pool
}

// Close recycles the reader; it never fails.
func (r *snappyReader) Close() error {
	r.Reset(nil)
	r.pool.Put(r)
	return nil
}
