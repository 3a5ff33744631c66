package logblock

import (
	"errors"
	"fmt"
)

// Sentinel errors. Test with errors.Is.
var (
	// ErrNotLogBlock: the user data does not start with the log block
	// magic; the block is a raw block.
	ErrNotLogBlock = errors.New("logblock: not a log block")
	// ErrVersion: a log block of a version this build does not read.
	ErrVersion = errors.New("logblock: unsupported version")
	// ErrCorrupt matches every *CorruptError.
	ErrCorrupt = errors.New("logblock: corrupt")
	// ErrEmpty: Finish on a builder without records; a block holds at
	// least one.
	ErrEmpty = errors.New("logblock: no records")
	// ErrFieldTooLong: a record field is longer than its limit (MaxNameLen,
	// MaxMessage). The record was not added.
	ErrFieldTooLong = errors.New("logblock: field too long")
	// ErrBlockFull: the record would take the block past MaxRecordsLen.
	// Finish the block and add the record to the next.
	ErrBlockFull = errors.New("logblock: block full")
)

// The checks a corrupt block fails, wrapped in CorruptError.Err so tests
// can tell them apart.
var (
	errHeaderSize    = errors.New("header size")
	errHeaderField   = errors.New("header field")
	errPayloadLength = errors.New("payload length")
	errSnappy        = errors.New("snappy")
	errVarint        = errors.New("length not a shortest uvarint")
	errTruncated     = errors.New("runs past the end")
	errFieldLength   = errors.New("field over its limit")
	errBodyLeft      = errors.New("bytes left in the record body")
	errCount         = errors.New("record count")
	errTimes         = errors.New("receive times")
)

// CorruptError reports a log block that breaks a rule of the format.
type CorruptError struct {
	// Record is the index of the record at fault, or -1 when the fault is
	// in the header or the payload as a whole.
	Record int
	// Offset is where the record at fault starts in the uncompressed
	// records, or -1.
	Offset int
	// Err is the check that failed.
	Err error
}

func (e *CorruptError) Error() string {
	if e.Record < 0 {
		return fmt.Sprintf("logblock: corrupt block: %v", e.Err)
	}
	return fmt.Sprintf("logblock: corrupt record %d at offset %d: %v", e.Record, e.Offset, e.Err)
}

// Unwrap returns the failed check.
func (e *CorruptError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// headerCorrupt reports a header or payload that fails check.
func headerCorrupt(check error, format string, args ...any) *CorruptError {
	return &CorruptError{Record: -1, Offset: -1, Err: fmt.Errorf("%w: "+format, append([]any{check}, args...)...)}
}

// recordCorrupt reports record index, starting at offset, failing check.
func recordCorrupt(index, offset int, check error, format string, args ...any) *CorruptError {
	return &CorruptError{Record: index, Offset: offset, Err: fmt.Errorf("%w: "+format, append([]any{check}, args...)...)}
}
