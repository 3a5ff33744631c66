package extent

import (
	"errors"
	"fmt"
	"io"

	"github.com/clogs-io/clogs/extent/vfs"
)

// Report is what Inspect found in an extent file. It changes nothing.
type Report struct {
	Path         string
	Header       Header
	Size         uint64 // file size
	Sealed       bool
	SealedLength uint64
	Blocks       int    // valid blocks
	ValidEnd     uint64 // end of the last valid block
	// Problem is nil for a clean file, else the first problem found: a
	// *TornTailError (what Open would cut), or a *CorruptionError (damage
	// Open would refuse).
	Problem error
}

// Inspect reads an extent file without changing it, checking the header,
// the sealed state and every block (up to the sealed length, when sealed),
// and calls fn, if not nil, for each valid block in order. fn's block
// slices are only valid during the call. Errors from fn stop the walk and
// are returned; errors reading the file are returned; invalid data is
// described by Report.Problem.
func Inspect(fsys vfs.FS, path string, fn func(BlockAt) error) (Report, error) {
	if fsys == nil {
		fsys = vfs.Default
	}
	f, err := fsys.OpenReadOnly(path)
	if err != nil {
		return Report{Path: path}, fmt.Errorf("inspect extent: %w", err)
	}
	defer f.Close()
	r := Report{Path: path, ValidEnd: ExtentHeaderSize}
	h, size, err := readHeader(f)
	r.Size = size
	if err != nil {
		return r, headerProblem(&r, err)
	}
	r.Header = h
	if err := inspectSealed(f, &r); err != nil {
		return r, err
	}
	limit := size
	if r.Sealed {
		limit = min(size, r.SealedLength)
	}
	return r, inspectBlocks(f, &r, limit, fn)
}

// headerProblem files a corrupt header as the report's problem.
func headerProblem(r *Report, err error) error {
	var corrupt *CorruptionError
	if errors.As(err, &corrupt) {
		r.Problem = corrupt
		return nil
	}
	return err
}

func inspectSealed(f vfs.File, r *Report) error {
	length, sealed, err := readSealedLength(f, r.Header.ExtentID)
	var corrupt *CorruptionError
	if errors.As(err, &corrupt) {
		r.Problem = corrupt
		return nil
	}
	if err != nil {
		return err
	}
	r.Sealed, r.SealedLength = sealed, length
	if sealed && r.Size < length {
		r.Problem = &CorruptionError{ExtentID: r.Header.ExtentID, Offset: r.Size, Err: fmt.Errorf("sealed at %d but the file has %d bytes", length, r.Size)}
	}
	return nil
}

func inspectBlocks(f vfs.File, r *Report, limit uint64, fn func(BlockAt) error) error {
	s := newScanner(f, ExtentHeaderSize, limit)
	for {
		b, off, err := s.next()
		if err == io.EOF {
			return nil
		}
		var ioErr errIO
		if errors.As(err, &ioErr) {
			return err
		}
		if err != nil {
			return classifyInvalid(s, r, off, limit, err)
		}
		r.Blocks++
		r.ValidEnd = off + BlockSize(len(b.Payload))
		if fn != nil {
			if err := fn(BlockAt{Offset: off, Block: b}); err != nil {
				return err
			}
		}
	}
}

// classifyInvalid records the first invalid block as torn tail or
// corruption, the way Open would judge it. In a sealed extent every byte up
// to the sealed length was agreed on, so any invalid block is corruption.
func classifyInvalid(s *scanner, r *Report, off, limit uint64, cause error) error {
	if r.Problem != nil {
		return nil // the first problem found (header, seal) is the one Open reports
	}
	id := r.Header.ExtentID
	next, found, err := s.validBlockAfter(off + BlockHeaderSize)
	if err != nil {
		return err
	}
	switch {
	case found:
		r.Problem = &CorruptionError{ExtentID: id, Offset: off, Err: fmt.Errorf("%w (a valid block follows at %d)", cause, next)}
	case r.Sealed:
		r.Problem = &CorruptionError{ExtentID: id, Offset: off, Err: cause}
	default:
		zeroTail, err := s.zerosFrom(off)
		if err != nil {
			return err
		}
		if !zeroTail { // zeros past the end are a zero fill's, cut quietly by Open
			r.Problem = &TornTailError{ExtentID: id, Offset: off, Dropped: limit - off, Err: cause}
		}
	}
	return nil
}
