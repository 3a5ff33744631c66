package erasure

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/klauspost/reedsolomon"

	"github.com/clogs-io/clogs/extent/vfs"
)

// newCoder returns the Reed–Solomon coder of params. The matrix is part of
// the format: reedsolomon.New's default (a Vandermonde matrix made
// systematic, over GF(2^8)); the golden test pins it. Options that change
// the matrix (Cauchy, PAR1, Jerasure, fast one-parity, Leopard) must
// never be passed.
func newCoder(params Params) (reedsolomon.Encoder, error) {
	coder, err := reedsolomon.New(params.DataShards, params.ParityShards, reedsolomon.WithAutoGoroutines(params.ChunkSize))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrBadParams, params, err)
	}
	return coder, nil
}

// stripeBuffers are one stripe's chunk records, each ChunkSize data bytes
// and a checksum, and the data views the coder works on.
type stripeBuffers struct {
	records [][]byte
	data    [][]byte
}

func newStripeBuffers(params Params) stripeBuffers {
	b := stripeBuffers{records: make([][]byte, params.Shards()), data: make([][]byte, params.Shards())}
	for i := range b.records {
		b.records[i] = make([]byte, params.chunkRecordSize())
		b.data[i] = b.records[i][:params.ChunkSize]
	}
	return b
}

// Encode codes the first sealedLength bytes of src, the sealed extent
// extentID, into params.Shards() shard files written to shards in order:
// shards[i] receives shard i, header first. It works one stripe at a
// time, so it holds one stripe's chunks in memory whatever the extent's
// size. It trusts src: the caller verifies the extent's blocks (a replica
// that passed extent.Inspect) before coding them.
func Encode(src io.ReaderAt, extentID, sealedLength uint64, params Params, shards []io.Writer) error {
	if err := params.Validate(); err != nil {
		return err
	}
	switch {
	case len(shards) != params.Shards():
		return fmt.Errorf("%w: %d shard writers for %s", ErrBadParams, len(shards), params)
	case sealedLength == 0 || sealedLength > MaxSealedLength:
		return fmt.Errorf("%w: sealed length %d, want 1 to %d", ErrBadParams, sealedLength, uint64(MaxSealedLength))
	}
	coder, err := newCoder(params)
	if err != nil {
		return err
	}
	for i, w := range shards {
		hdr := EncodeShardHeader(ShardHeader{ExtentID: extentID, Index: i, Params: params, SealedLength: sealedLength})
		if _, err := w.Write(hdr); err != nil {
			return fmt.Errorf("encode extent %d: write shard %d: %w", extentID, i, err)
		}
	}
	buf := newStripeBuffers(params)
	for stripe := range params.Stripes(sealedLength) {
		if err := readStripe(src, stripe, sealedLength, params, buf.data[:params.DataShards]); err != nil {
			return fmt.Errorf("encode extent %d: %w", extentID, err)
		}
		if err := coder.Encode(buf.data); err != nil {
			return fmt.Errorf("encode extent %d stripe %d: %w", extentID, stripe, err)
		}
		for i, w := range shards {
			sealChunk(buf.records[i], stripe, i)
			if _, err := w.Write(buf.records[i]); err != nil {
				return fmt.Errorf("encode extent %d: write shard %d: %w", extentID, i, err)
			}
		}
	}
	return nil
}

// readStripe fills the data chunks of stripe from src, with zeros past
// sealedLength.
func readStripe(src io.ReaderAt, stripe, sealedLength uint64, params Params, chunks [][]byte) error {
	pos := stripe * params.StripeSize()
	for _, chunk := range chunks {
		n := min(uint64(len(chunk)), sealedLength-min(pos, sealedLength))
		if n > 0 {
			if err := readFull(src, chunk[:n], pos); err != nil {
				return fmt.Errorf("read the extent: %w", err)
			}
		}
		clear(chunk[n:])
		pos += uint64(len(chunk))
	}
	return nil
}

// FileWriter writes a new shard file through a vfs.FS, from offset 0 on.
// Commit makes it durable; Abort removes it. A crash before Commit returns
// leaves no file, or one that OpenFile or Verify refuses (it is shorter
// than its header says, or a chunk fails its checksum), never one that
// passes with other contents.
type FileWriter struct {
	fsys vfs.FS
	path string
	f    vfs.File
	off  int64
	done bool // closed by Commit or Abort
}

// CreateFile creates the shard file path, which must not exist.
func CreateFile(fsys vfs.FS, path string) (*FileWriter, error) {
	if fsys == nil {
		fsys = vfs.Default
	}
	f, err := fsys.Create(path)
	if err != nil {
		return nil, fmt.Errorf("create shard: %w", err)
	}
	return &FileWriter{fsys: fsys, path: path, f: f}, nil
}

// Write appends p to the file.
func (w *FileWriter) Write(p []byte) (int, error) {
	if err := w.f.WritevAt([][]byte{p}, w.off); err != nil {
		return 0, err
	}
	w.off += int64(len(p))
	return len(p), nil
}

// Written returns the bytes written so far.
func (w *FileWriter) Written() int64 { return w.off }

// Commit makes the file's data and its directory entry durable, and
// closes it.
func (w *FileWriter) Commit() error {
	if w.done {
		return fmt.Errorf("commit shard %s: already closed", w.path)
	}
	w.done = true
	if err := w.f.Datasync(); err != nil {
		w.f.Close()
		return fmt.Errorf("sync shard %s: %w", w.path, err)
	}
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("close shard %s: %w", w.path, err)
	}
	if err := w.fsys.SyncDir(filepath.Dir(w.path)); err != nil {
		return fmt.Errorf("sync the directory of shard %s: %w", w.path, err)
	}
	return nil
}

// Abort closes and removes the file, best effort: what is left is refused
// by OpenFile (see FileWriter). It may follow a Commit that failed.
func (w *FileWriter) Abort() error {
	if !w.done {
		w.done = true
		w.f.Close()
	}
	if err := w.fsys.Remove(w.path); err != nil {
		return fmt.Errorf("remove shard %s: %w", w.path, err)
	}
	return w.fsys.SyncDir(filepath.Dir(w.path))
}
