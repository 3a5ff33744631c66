package extent

import (
	"errors"
	"fmt"
)

// Sentinel errors. Test with errors.Is.
var (
	// ErrSealed: the extent is sealed and takes no more appends.
	ErrSealed = errors.New("extent: sealed")
	// ErrClosed: the extent was closed.
	ErrClosed = errors.New("extent: closed")
	// ErrFailed: an earlier write or sync failed; the extent takes no more
	// appends until it is reopened (recovery decides what survived).
	ErrFailed = errors.New("extent: failed after an I/O error")
	// ErrFull: the append would grow the extent past its maximum size.
	ErrFull = errors.New("extent: full")
	// ErrBlockSize: a payload is empty or larger than MaxPayload.
	ErrBlockSize = errors.New("extent: bad payload size")
	// ErrUserDataSize: user data is longer than MaxUserData.
	ErrUserDataSize = errors.New("extent: user data too long")
	// ErrOffsetMismatch: an append at an expected offset found another end.
	// The error is an *OffsetMismatchError carrying the current end.
	ErrOffsetMismatch = errors.New("extent: offset mismatch")
	// ErrBadOffset: a read offset is not a block address of this extent.
	ErrBadOffset = errors.New("extent: not a block offset")
	// ErrBadSealLength: a seal length is beyond the commit length, before
	// the first block, or not on a block boundary.
	ErrBadSealLength = errors.New("extent: bad seal length")
	// ErrSealConflict: the extent is already sealed at another length.
	ErrSealConflict = errors.New("extent: already sealed at another length")
	// ErrNoXattrSupport: the directory's filesystem lacks user extended
	// attributes, which hold the sealed length.
	ErrNoXattrSupport = errors.New("extent: filesystem lacks user extended attributes")
	// ErrCorrupt matches every *CorruptionError.
	ErrCorrupt = errors.New("extent: corrupt")
	// ErrTornTail matches every *TornTailError.
	ErrTornTail = errors.New("extent: torn tail")
)

// OffsetMismatchError is returned by AppendAt when the extent's end is not
// the expected offset. Nothing was written.
type OffsetMismatchError struct {
	ExtentID uint64
	Expected uint64
	End      uint64 // the extent's current end
}

func (e *OffsetMismatchError) Error() string {
	return fmt.Sprintf("extent %d: append expected offset %d, end is %d", e.ExtentID, e.Expected, e.End)
}

// Is makes errors.Is(err, ErrOffsetMismatch) true.
func (e *OffsetMismatchError) Is(target error) bool { return target == ErrOffsetMismatch }

// CorruptionError reports bytes that fail their checks where a crash cannot
// have left them: damage inside the extent, not at its tail.
type CorruptionError struct {
	ExtentID uint64
	Offset   uint64 // where the bad block or header starts
	Err      error  // what check failed
}

func (e *CorruptionError) Error() string {
	return fmt.Sprintf("extent %d: corruption at offset %d: %v", e.ExtentID, e.Offset, e.Err)
}

// Unwrap returns the failed check.
func (e *CorruptionError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptionError) Is(target error) bool { return target == ErrCorrupt }

// TornTailError describes an incomplete tail that recovery cut off: the
// bytes from Offset to the old end held no valid block, as a crash during
// an unsynced write leaves them.
type TornTailError struct {
	ExtentID uint64
	Offset   uint64 // the new end: the first invalid byte
	Dropped  uint64 // bytes removed
	Err      error  // why the first dropped block was invalid
}

func (e *TornTailError) Error() string {
	return fmt.Sprintf("extent %d: torn tail at offset %d, %d bytes dropped: %v", e.ExtentID, e.Offset, e.Dropped, e.Err)
}

// Unwrap returns why the first dropped block was invalid.
func (e *TornTailError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrTornTail) true.
func (e *TornTailError) Is(target error) bool { return target == ErrTornTail }
