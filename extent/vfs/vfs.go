// Package vfs is the small filesystem interface that every extent file
// operation goes through. It has three implementations:
//
//   - Default (OS): the real filesystem, with pwritev, fdatasync, xattrs and
//     fallocate from golang.org/x/sys/unix.
//   - MemFS: an in-memory filesystem that remembers which bytes, sizes,
//     xattrs and directory entries were made durable by a sync, and can
//     produce the state a crash would leave (only synced state, optionally
//     plus a prefix of the unsynced writes, as a torn write would).
//   - ErrorFS: wraps another FS and fails the Nth operation, so tests can
//     inject an error at every step of a scenario.
//
// The model follows pebble's vfs/errorfs and CrashableMem.
package vfs

import (
	"errors"
	"io/fs"
)

// ErrNoXattr is returned by File.GetXattr when the attribute is not set.
var ErrNoXattr = errors.New("vfs: no such extended attribute")

// ErrXattrUnsupported is returned when the filesystem does not support user
// extended attributes at all.
var ErrXattrUnsupported = errors.New("vfs: extended attributes not supported")

// ErrInjected is the error ErrorFS returns from the operation it fails.
var ErrInjected = errors.New("vfs: injected error")

// FS is the part of a filesystem the extent engine uses.
type FS interface {
	// Create creates a new file for reading and writing; it fails if the
	// file exists. The new name is durable only after SyncDir of its
	// directory.
	Create(name string) (File, error)
	// Open opens an existing file for reading and writing.
	Open(name string) (File, error)
	// OpenReadOnly opens an existing file for reading only.
	OpenReadOnly(name string) (File, error)
	// Remove removes a file; the removal is durable after SyncDir.
	Remove(name string) error
	// SyncDir makes the directory's entries (creations, removals) durable.
	SyncDir(dir string) error
	// MkdirAll creates a directory and its parents.
	MkdirAll(dir string, perm fs.FileMode) error
	// List returns the names (not paths) of the entries in dir, sorted.
	List(dir string) ([]string, error)
}

// File is an open file. ReadAt may run concurrently with everything else;
// the other methods are called by one goroutine at a time.
type File interface {
	// ReadAt reads len(p) bytes at off; like io.ReaderAt it returns an
	// error (io.EOF at the end) when fewer bytes were read.
	ReadAt(p []byte, off int64) (int, error)
	// WritevAt writes the concatenation of bufs at off: all of it, or it
	// returns an error.
	WritevAt(bufs [][]byte, off int64) error
	// Datasync flushes the file's data and size (fdatasync).
	Datasync() error
	// Sync flushes data and all metadata, extended attributes included
	// (fsync).
	Sync() error
	// Truncate sets the file's size.
	Truncate(size int64) error
	// Size returns the file's current size.
	Size() (int64, error)
	// Allocate reserves space for [off, off+length) without changing the
	// file's size (fallocate with FALLOC_FL_KEEP_SIZE).
	Allocate(off, length int64) error
	// SetXattr sets an extended attribute.
	SetXattr(name string, value []byte) error
	// GetXattr returns an extended attribute, or ErrNoXattr.
	GetXattr(name string) ([]byte, error)
	// Close closes the file.
	Close() error
	// Name returns the name the file was opened with.
	Name() string
}
