package erasure

import (
	"errors"
	"fmt"
)

// Sentinel errors. Test with errors.Is.
var (
	// ErrBadParams: d, p or the chunk size is outside the format's limits.
	ErrBadParams = errors.New("erasure: bad coding parameters")

	// ErrBadHeader matches every *HeaderError; the error also matches one
	// of the five below, which says what is wrong.
	ErrBadHeader = errors.New("erasure: bad shard header")
	// ErrTruncated: the file is shorter than its header says.
	ErrTruncated = errors.New("erasure: shard file truncated")
	// ErrTrailingBytes: the file is longer than its header says.
	ErrTrailingBytes = errors.New("erasure: shard file longer than its header says")
	// ErrNotShard: the file does not start with the shard magic (zeroed
	// space, or another kind of file).
	ErrNotShard = errors.New("erasure: not a shard file")
	// ErrHeaderChecksum: the header fails its checksum.
	ErrHeaderChecksum = errors.New("erasure: shard header checksum mismatch")
	// ErrVersion: the header has a format version this build cannot read.
	ErrVersion = errors.New("erasure: unsupported shard format version")
	// ErrHeaderField: a header field is out of range or disagrees with
	// another.
	ErrHeaderField = errors.New("erasure: shard header field out of range")

	// ErrCorrupt matches every *CorruptionError.
	ErrCorrupt = errors.New("erasure: corrupt chunk")
	// ErrUnrecoverable matches every *UnrecoverableError.
	ErrUnrecoverable = errors.New("erasure: too few good shards to reconstruct")
	// ErrMismatch: the shards given together are not of one encoding, or
	// not in their places.
	ErrMismatch = errors.New("erasure: shards of different encodings")
	// ErrRange: a read reaches outside the coded extent.
	ErrRange = errors.New("erasure: read outside the extent")
)

// HeaderError says why a shard file's header was refused.
type HeaderError struct {
	Err    error // ErrTruncated, ErrNotShard, ErrHeaderChecksum, ErrVersion, ...
	Detail string
}

func headerErr(kind error, format string, args ...any) *HeaderError {
	return &HeaderError{Err: kind, Detail: fmt.Sprintf(format, args...)}
}

func (e *HeaderError) Error() string { return fmt.Sprintf("%v: %s", e.Err, e.Detail) }

// Unwrap returns what is wrong.
func (e *HeaderError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrBadHeader) true.
func (e *HeaderError) Is(target error) bool { return target == ErrBadHeader }

// CorruptionError reports a chunk that failed its checksum.
type CorruptionError struct {
	ExtentID uint64
	Shard    int    // the shard's index
	Stripe   uint64 // the chunk's stripe
	Offset   uint64 // where the chunk starts in the shard file
	Err      error  // what check failed
}

func (e *CorruptionError) Error() string {
	return fmt.Sprintf("extent %d shard %d: corrupt chunk of stripe %d at offset %d: %v", e.ExtentID, e.Shard, e.Stripe, e.Offset, e.Err)
}

// Unwrap returns the failed check.
func (e *CorruptionError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptionError) Is(target error) bool { return target == ErrCorrupt }

// UnrecoverableError says that a stripe had fewer than d good chunks:
// nothing of it can be served. What went wrong with each chunk is in the
// Report returned beside it.
type UnrecoverableError struct {
	ExtentID uint64
	Stripe   uint64
	Good     int // chunks that passed their checks
	Need     int // d
}

func (e *UnrecoverableError) Error() string {
	return fmt.Sprintf("extent %d stripe %d: %d good chunks, %d needed to reconstruct", e.ExtentID, e.Stripe, e.Good, e.Need)
}

// Is makes errors.Is(err, ErrUnrecoverable) true.
func (e *UnrecoverableError) Is(target error) bool { return target == ErrUnrecoverable }
