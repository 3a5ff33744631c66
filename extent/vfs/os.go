package vfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"golang.org/x/sys/unix"
)

// Default is the real filesystem.
var Default FS = osFS{}

type osFS struct {
	direct bool // writes aligned ranges with O_DIRECT (DirectWrites)
}

func (o osFS) Create(name string) (File, error) {
	return openOS(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, o.direct)
}

func (o osFS) Open(name string) (File, error) { return openOS(name, os.O_RDWR, o.direct) }

func (osFS) OpenReadOnly(name string) (File, error) { return openOS(name, os.O_RDONLY, false) }

func (osFS) Remove(name string) error { return os.Remove(name) }

func (osFS) MkdirAll(dir string, perm fs.FileMode) error { return os.MkdirAll(dir, perm) }

func (osFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return d.Close()
}

func (osFS) List(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names, nil
}

func openOS(name string, flag int, direct bool) (File, error) {
	name = filepath.Clean(name)
	f, err := os.OpenFile(name, flag, 0o644)
	if err != nil {
		return nil, err
	}
	o := &osFile{f: f, fd: int(f.Fd())}
	if direct {
		o.direct = openDirect(name)
	}
	return o, nil
}

type osFile struct {
	f      *os.File
	fd     int
	direct *directFile // nil: every write is buffered
}

// writesDirect says whether aligned writes bypass the page cache.
func (o *osFile) writesDirect() bool { return o.direct != nil }

// maxIovecs stays below the kernel's IOV_MAX (1024).
const maxIovecs = 1024

func (o *osFile) Name() string { return o.f.Name() }

func (o *osFile) ReadAt(p []byte, off int64) (int, error) { return o.f.ReadAt(p, off) }

func (o *osFile) WritevAt(bufs [][]byte, off int64) error {
	if o.direct != nil {
		var total int64
		for _, b := range bufs {
			total += int64(len(b))
		}
		if o.direct.fits(off, total) {
			if staging := getStaging(); staging != nil {
				defer putStaging(staging)
				return o.direct.writevAt(o.Name(), staging, bufs, off)
			}
		}
	}
	for len(bufs) > 0 {
		chunk := bufs
		if len(chunk) > maxIovecs {
			chunk = chunk[:maxIovecs]
		}
		n, err := unix.Pwritev(o.fd, chunk, off)
		if err != nil {
			return &fs.PathError{Op: "pwritev", Path: o.Name(), Err: err}
		}
		if n == 0 {
			return &fs.PathError{Op: "pwritev", Path: o.Name(), Err: errors.New("wrote 0 bytes")}
		}
		off += int64(n)
		bufs = skipWritten(bufs, n)
	}
	return nil
}

// skipWritten drops the first n bytes from bufs after a (possibly short)
// vectored write.
func skipWritten(bufs [][]byte, n int) [][]byte {
	for n > 0 && len(bufs) > 0 {
		if n < len(bufs[0]) {
			rest := make([][]byte, len(bufs))
			copy(rest, bufs)
			rest[0] = rest[0][n:]
			return rest
		}
		n -= len(bufs[0])
		bufs = bufs[1:]
	}
	for len(bufs) > 0 && len(bufs[0]) == 0 {
		bufs = bufs[1:]
	}
	return bufs
}

func (o *osFile) Datasync() error {
	if err := unix.Fdatasync(o.fd); err != nil {
		return &fs.PathError{Op: "fdatasync", Path: o.Name(), Err: err}
	}
	return nil
}

func (o *osFile) Sync() error { return o.f.Sync() }

func (o *osFile) Truncate(size int64) error { return o.f.Truncate(size) }

func (o *osFile) Size() (int64, error) {
	st, err := o.f.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

func (o *osFile) Allocate(off, length int64) error {
	if err := unix.Fallocate(o.fd, unix.FALLOC_FL_KEEP_SIZE, off, length); err != nil {
		return &fs.PathError{Op: "fallocate", Path: o.Name(), Err: err}
	}
	return nil
}

func (o *osFile) SetXattr(name string, value []byte) error {
	if err := unix.Fsetxattr(o.fd, name, value, 0); err != nil {
		return xattrError("setxattr", o.Name(), err)
	}
	return nil
}

func (o *osFile) GetXattr(name string) ([]byte, error) {
	buf := make([]byte, 64)
	for {
		n, err := unix.Fgetxattr(o.fd, name, buf)
		if errors.Is(err, unix.ERANGE) && len(buf) < 64<<10 {
			buf = make([]byte, 2*len(buf))
			continue
		}
		if err != nil {
			return nil, xattrError("getxattr", o.Name(), err)
		}
		return buf[:n], nil
	}
}

func xattrError(op, path string, err error) error {
	switch {
	case errors.Is(err, unix.ENODATA):
		return ErrNoXattr
	case errors.Is(err, unix.ENOTSUP):
		return &fs.PathError{Op: op, Path: path, Err: ErrXattrUnsupported}
	}
	return &fs.PathError{Op: op, Path: path, Err: err}
}

func (o *osFile) Close() error {
	return errors.Join(o.direct.close(), o.f.Close())
}
