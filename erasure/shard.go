package erasure

import (
	"errors"
	"fmt"
	"io"

	"github.com/clogs-io/clogs/extent/vfs"
)

// Shard is an open shard file whose header was checked. Its methods may be
// called from many goroutines if its reader allows concurrent ReadAt (a
// vfs.File and an *os.File do).
type Shard struct {
	r      io.ReaderAt
	closer io.Closer // nil unless OpenFile opened the file
	header ShardHeader
}

// OpenShard checks the header of the shard file r of size bytes and that
// the size is the one the header implies. The errors for a bad file are
// *HeaderError (errors.Is(err, ErrBadHeader)); read errors are returned
// wrapped.
func OpenShard(r io.ReaderAt, size int64) (*Shard, error) {
	if size < ShardHeaderSize {
		return nil, headerErr(ErrTruncated, "file of %d bytes, the header alone is %d", size, ShardHeaderSize)
	}
	buf := make([]byte, ShardHeaderSize)
	if err := readFull(r, buf, 0); err != nil {
		return nil, fmt.Errorf("read shard header: %w", err)
	}
	h, err := DecodeShardHeader(buf)
	if err != nil {
		return nil, err
	}
	switch want := h.ShardSize(); {
	case uint64(size) < want:
		return nil, headerErr(ErrTruncated, "extent %d shard %d: file of %d bytes, the header says %d", h.ExtentID, h.Index, size, want)
	case uint64(size) > want:
		return nil, headerErr(ErrTrailingBytes, "extent %d shard %d: file of %d bytes, the header says %d", h.ExtentID, h.Index, size, want)
	}
	return &Shard{r: r, header: h}, nil
}

// OpenFile opens the shard file at path read-only and checks it as
// OpenShard does. Close the Shard to close the file.
func OpenFile(fsys vfs.FS, path string) (*Shard, error) {
	if fsys == nil {
		fsys = vfs.Default
	}
	f, err := fsys.OpenReadOnly(path)
	if err != nil {
		return nil, fmt.Errorf("open shard: %w", err)
	}
	size, err := f.Size()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open shard %s: %w", path, err)
	}
	s, err := OpenShard(f, size)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open shard %s: %w", path, err)
	}
	s.closer = f
	return s, nil
}

// Header returns the shard's header.
func (s *Shard) Header() ShardHeader { return s.header }

// Close closes the file OpenFile opened; for a shard from OpenShard it
// does nothing.
func (s *Shard) Close() error {
	if s.closer == nil {
		return nil
	}
	return s.closer.Close()
}

// RecordSize returns the bytes ReadChunk needs: the chunk size plus its
// checksum.
func (s *Shard) RecordSize() int { return int(s.header.Params.chunkRecordSize()) }

// ReadChunk reads stripe's chunk into record, which must hold RecordSize
// bytes, checks its checksum and returns its data (a prefix of record). A
// failed checksum is a *CorruptionError; a read error is returned
// wrapped.
func (s *Shard) ReadChunk(stripe uint64, record []byte) ([]byte, error) {
	h := s.header
	if stripe >= h.Stripes {
		return nil, fmt.Errorf("%w: extent %d shard %d: stripe %d of %d", ErrRange, h.ExtentID, h.Index, stripe, h.Stripes)
	}
	if len(record) < s.RecordSize() {
		return nil, fmt.Errorf("extent %d shard %d: chunk buffer of %d bytes, need %d", h.ExtentID, h.Index, len(record), s.RecordSize())
	}
	record = record[:s.RecordSize()]
	off := h.Params.ChunkOffset(stripe)
	if err := readFull(s.r, record, off); err != nil {
		return nil, fmt.Errorf("extent %d shard %d: read chunk of stripe %d: %w", h.ExtentID, h.Index, stripe, err)
	}
	if err := VerifyChunk(record, stripe, h.Index); err != nil {
		return nil, &CorruptionError{ExtentID: h.ExtentID, Shard: h.Index, Stripe: stripe, Offset: off, Err: err}
	}
	return record[:h.Params.ChunkSize], nil
}

// Verify reads every chunk and checks its checksum. It returns every
// corrupt chunk (joined *CorruptionError), or the first read error.
func (s *Shard) Verify() error {
	record := make([]byte, s.RecordSize())
	var corrupt []error
	for stripe := range s.header.Stripes {
		_, err := s.ReadChunk(stripe, record)
		switch {
		case errors.Is(err, ErrCorrupt):
			corrupt = append(corrupt, err)
		case err != nil:
			return err
		}
	}
	return errors.Join(corrupt...)
}

// readFull reads len(p) bytes at off; a short read is an error
// (io.ErrUnexpectedEOF when the reader reports io.EOF).
func readFull(r io.ReaderAt, p []byte, off uint64) error {
	n, err := r.ReadAt(p, int64(off))
	switch {
	case n == len(p):
		return nil
	case err == nil || errors.Is(err, io.EOF):
		return fmt.Errorf("%d of %d bytes at %d: %w", n, len(p), off, io.ErrUnexpectedEOF)
	}
	return fmt.Errorf("%d bytes at %d: %w", len(p), off, err)
}
