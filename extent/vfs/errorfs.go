package vfs

import (
	"errors"
	"fmt"
	"io/fs"
	"sync/atomic"
)

// ErrorFS wraps an FS, counts its operations and fails one of them.
//
// Every mutating or namespace operation counts: Create, Open, OpenReadOnly,
// Remove, SyncDir, MkdirAll and List on the FS; WritevAt, Datasync, Sync,
// Truncate, Allocate, SetXattr and Close on its files. ReadAt, Size,
// GetXattr and Name do not. The operations are numbered from 0; the one
// numbered failAt returns an error wrapping ErrInjected instead of reaching
// the inner FS. The op names given to the SetBeforeOp hook and in errors
// are the method names ("WritevAt", "Datasync", ...).
//
// ErrorFS is safe for concurrent use.
type ErrorFS struct {
	inner    FS
	failAt   atomic.Int64
	ops      atomic.Int64
	injected atomic.Bool
	partial  atomic.Bool
	beforeOp atomic.Pointer[func(op string, index int64)]
	cause    atomic.Pointer[error]
}

var _ FS = (*ErrorFS)(nil)

// NewErrorFS wraps inner and fails operation number failAt (counting from
// 0); failAt < 0 never fails.
func NewErrorFS(inner FS, failAt int64) *ErrorFS {
	e := &ErrorFS{inner: inner}
	e.failAt.Store(failAt)
	return e
}

// SetFailAt changes which operation fails; < 0 means none.
func (e *ErrorFS) SetFailAt(index int64) { e.failAt.Store(index) }

// Ops returns the number of operations counted so far.
func (e *ErrorFS) Ops() int64 { return e.ops.Load() }

// Injected reports whether the failure has fired.
func (e *ErrorFS) Injected() bool { return e.injected.Load() }

// SetBeforeOp sets a hook called before every counted operation, the failing
// one included, with its name and number. nil removes it.
func (e *ErrorFS) SetBeforeOp(hook func(op string, index int64)) {
	if hook == nil {
		e.beforeOp.Store(nil)
		return
	}
	e.beforeOp.Store(&hook)
}

// SetErr sets an error that the injected failure wraps besides
// ErrInjected, such as syscall.ENOSPC; nil wraps ErrInjected alone.
func (e *ErrorFS) SetErr(err error) {
	if err == nil {
		e.cause.Store(nil)
		return
	}
	e.cause.Store(&err)
}

// SetPartialWrites sets whether a failing WritevAt first writes the first
// half of its bytes to the inner file, as a short write would.
func (e *ErrorFS) SetPartialWrites(on bool) { e.partial.Store(on) }

// step counts an operation and returns the injected error if it is the one
// to fail.
func (e *ErrorFS) step(op, path string) error {
	index := e.ops.Add(1) - 1
	if hook := e.beforeOp.Load(); hook != nil {
		(*hook)(op, index)
	}
	if index != e.failAt.Load() {
		return nil
	}
	e.injected.Store(true)
	err := fmt.Errorf("%w (operation %d)", ErrInjected, index)
	if cause := e.cause.Load(); cause != nil {
		err = fmt.Errorf("%w: %w (operation %d)", ErrInjected, *cause, index)
	}
	return &fs.PathError{Op: op, Path: path, Err: err}
}

func (e *ErrorFS) Create(name string) (File, error) {
	return e.wrap(e.step("Create", name), e.inner.Create, name)
}

func (e *ErrorFS) Open(name string) (File, error) {
	return e.wrap(e.step("Open", name), e.inner.Open, name)
}

func (e *ErrorFS) OpenReadOnly(name string) (File, error) {
	return e.wrap(e.step("OpenReadOnly", name), e.inner.OpenReadOnly, name)
}

// wrap opens name with open unless err (from step) is set.
func (e *ErrorFS) wrap(err error, open func(string) (File, error), name string) (File, error) {
	if err != nil {
		return nil, err
	}
	f, err := open(name)
	if err != nil {
		return nil, err
	}
	return &errorFile{fs: e, inner: f}, nil
}

func (e *ErrorFS) Remove(name string) error {
	if err := e.step("Remove", name); err != nil {
		return err
	}
	return e.inner.Remove(name)
}

func (e *ErrorFS) SyncDir(dir string) error {
	if err := e.step("SyncDir", dir); err != nil {
		return err
	}
	return e.inner.SyncDir(dir)
}

func (e *ErrorFS) MkdirAll(dir string, perm fs.FileMode) error {
	if err := e.step("MkdirAll", dir); err != nil {
		return err
	}
	return e.inner.MkdirAll(dir, perm)
}

func (e *ErrorFS) List(dir string) ([]string, error) {
	if err := e.step("List", dir); err != nil {
		return nil, err
	}
	return e.inner.List(dir)
}

// errorFile is a file opened through an ErrorFS.
type errorFile struct {
	fs    *ErrorFS
	inner File
}

var _ File = (*errorFile)(nil)

func (f *errorFile) step(op string) error { return f.fs.step(op, f.inner.Name()) }

func (f *errorFile) Name() string { return f.inner.Name() }

func (f *errorFile) ReadAt(p []byte, off int64) (int, error) { return f.inner.ReadAt(p, off) }

func (f *errorFile) Size() (int64, error) { return f.inner.Size() }

func (f *errorFile) GetXattr(name string) ([]byte, error) { return f.inner.GetXattr(name) }

// WritevAt fails as injected; in partial-write mode the failing write first
// writes the first half of its bytes.
func (f *errorFile) WritevAt(bufs [][]byte, off int64) error {
	err := f.step("WritevAt")
	if err == nil {
		return f.inner.WritevAt(bufs, off)
	}
	if f.fs.partial.Load() {
		if half := firstBytes(bufs, totalLen(bufs)/2); len(half) > 0 {
			err = errors.Join(err, f.inner.WritevAt(half, off))
		}
	}
	return err
}

func totalLen(bufs [][]byte) int {
	n := 0
	for _, b := range bufs {
		n += len(b)
	}
	return n
}

// firstBytes returns the buffers holding the first n bytes of bufs.
func firstBytes(bufs [][]byte, n int) [][]byte {
	var out [][]byte
	for _, b := range bufs {
		if n <= 0 {
			break
		}
		b = b[:min(len(b), n)]
		out = append(out, b)
		n -= len(b)
	}
	return out
}

func (f *errorFile) Datasync() error {
	if err := f.step("Datasync"); err != nil {
		return err
	}
	return f.inner.Datasync()
}

func (f *errorFile) Sync() error {
	if err := f.step("Sync"); err != nil {
		return err
	}
	return f.inner.Sync()
}

func (f *errorFile) Truncate(size int64) error {
	if err := f.step("Truncate"); err != nil {
		return err
	}
	return f.inner.Truncate(size)
}

func (f *errorFile) Allocate(off, length int64) error {
	if err := f.step("Allocate"); err != nil {
		return err
	}
	return f.inner.Allocate(off, length)
}

func (f *errorFile) SetXattr(name string, value []byte) error {
	if err := f.step("SetXattr"); err != nil {
		return err
	}
	return f.inner.SetXattr(name, value)
}

// Close closes the inner file even when it fails as injected, as close(2)
// releases the descriptor even when it reports an error.
func (f *errorFile) Close() error {
	if err := f.step("Close"); err != nil {
		_ = f.inner.Close()
		return err
	}
	return f.inner.Close()
}
