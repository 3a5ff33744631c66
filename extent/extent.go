package extent

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/clogs-io/clogs/extent/vfs"
	"github.com/clogs-io/clogs/xlog"
)

// Extent is one open extent file. Appends, reads, seal and close may be
// called from many goroutines.
//
// Lock order: fileMu before mu. fileMu only guards the file's lifetime
// (readers hold it shared; Close takes it exclusively); mu guards the
// append queue and the state below it.
type Extent struct {
	cfg    Config
	fs     vfs.FS
	path   string
	header Header
	lg     *zap.Logger

	fileMu sync.RWMutex
	f      vfs.File // guarded by fileMu (closed under its write lock)

	// durableEnd is the end of the last block made durable (the commit
	// length). Reads never pass it. Written under mu, read without it.
	durableEnd atomic.Uint64
	closed     atomic.Bool

	mu             sync.Mutex
	idle           *sync.Cond       // signalled when writing or sealing ends; uses mu
	pending        []*appendRequest // guarded by mu
	writing        bool             // a leader is writing a batch; guarded by mu
	sealing        bool             // a seal is in progress; guarded by mu
	sealed         bool             // guarded by mu
	failErr        error            // first write/sync failure; guarded by mu
	allocEnd       uint64           // end of preallocated space; only the batch leader touches it
	zeroedEnd      uint64           // the file holds written zeros from the end up to here; only the writer touches it
	noZeroFill     bool             // a zero fill failed: no more; only the writer touches it
	lastBatchBytes uint64           // size of the last batch written; only the writer touches it
	boundaries     boundaryIndex    // has its own lock

	recovered *TornTailError // what Open cut off, if anything
}

// Create makes a new, empty extent file at path and makes it durable: the
// header and the directory entry are synced before Create returns.
func Create(path string, id uint64, cfg Config) (*Extent, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	fsys := cfg.fs()
	f, err := fsys.Create(path)
	if err != nil {
		return nil, fmt.Errorf("create extent %d: %w", id, err)
	}
	h := Header{ExtentID: id, Version: FormatVersion, CreatedNanos: time.Now().UnixNano()}
	if err := writeHeader(f, h); err != nil {
		f.Close()
		fsys.Remove(path)
		return nil, fmt.Errorf("create extent %d: %w", id, err)
	}
	if err := fsys.SyncDir(filepath.Dir(path)); err != nil {
		f.Close()
		fsys.Remove(path)
		return nil, fmt.Errorf("create extent %d: %w", id, err)
	}
	e := newExtent(cfg, path, h, f)
	e.durableEnd.Store(ExtentHeaderSize)
	return e, nil
}

func writeHeader(f vfs.File, h Header) error {
	if err := f.WritevAt([][]byte{encodeExtentHeader(h)}, 0); err != nil {
		return err
	}
	return f.Sync()
}

func newExtent(cfg Config, path string, h Header, f vfs.File) *Extent {
	e := &Extent{cfg: cfg, fs: cfg.fs(), path: path, header: h, f: f, lg: xlog.OrNop(cfg.Logger)}
	e.idle = sync.NewCond(&e.mu)
	return e
}

// Open opens an existing extent file. A sealed extent opens without a
// scan (its sealed length is trusted; a file cut short of it is
// corruption). An unsealed extent is scanned block by block: a torn tail is
// truncated and reported by Recovered; damage followed by valid blocks is
// a *CorruptionError and the file is left as it is.
func Open(path string, cfg Config) (*Extent, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	f, err := cfg.fs().Open(path)
	if err != nil {
		return nil, fmt.Errorf("open extent: %w", err)
	}
	e, err := openFile(cfg, path, f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return e, nil
}

func openFile(cfg Config, path string, f vfs.File) (*Extent, error) {
	h, size, err := readHeader(f)
	if err != nil {
		return nil, err
	}
	e := newExtent(cfg, path, h, f)
	sealedLen, sealed, err := readSealedLength(f, h.ExtentID)
	if err != nil {
		return nil, err
	}
	if sealed {
		return e, e.openSealed(sealedLen, size)
	}
	return e, e.recover(size)
}

// readHeader reads and checks the extent header; it returns the file size.
func readHeader(f vfs.File) (Header, uint64, error) {
	size, err := f.Size()
	if err != nil {
		return Header{}, 0, fmt.Errorf("open extent %s: %w", f.Name(), err)
	}
	buf := make([]byte, ExtentHeaderSize)
	if size < ExtentHeaderSize {
		return Header{}, 0, &CorruptionError{Offset: 0, Err: fmt.Errorf("file %s has %d bytes, shorter than the extent header", f.Name(), size)}
	}
	if _, err := f.ReadAt(buf, 0); err != nil {
		return Header{}, 0, fmt.Errorf("open extent %s: %w", f.Name(), err)
	}
	h, err := decodeExtentHeader(buf)
	if err != nil {
		return Header{}, 0, &CorruptionError{Offset: 0, Err: fmt.Errorf("%s: %w", f.Name(), err)}
	}
	return h, uint64(size), nil
}

// readSealedLength returns the sealed length from the xattr, if set.
func readSealedLength(f vfs.File, id uint64) (uint64, bool, error) {
	raw, err := f.GetXattr(SealedXattr)
	if errors.Is(err, vfs.ErrNoXattr) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("open extent %d: read %s: %w", id, SealedXattr, err)
	}
	n, err := strconv.ParseUint(string(raw), 10, 64)
	if err != nil || n < ExtentHeaderSize || n%BlockHeaderSize != 0 {
		return 0, false, &CorruptionError{ExtentID: id, Err: fmt.Errorf("%s holds %q, not a sealed length", SealedXattr, raw)}
	}
	return n, true, nil
}

// openSealed finishes opening a sealed extent. A file longer than its
// sealed length crashed between truncate and xattr and is cut back.
func (e *Extent) openSealed(sealedLen, size uint64) error {
	id := e.header.ExtentID
	if size < sealedLen {
		return &CorruptionError{ExtentID: id, Offset: size, Err: fmt.Errorf("sealed at %d but the file has %d bytes", sealedLen, size)}
	}
	if size > sealedLen {
		// A crash between the seal's truncate and xattr leaves a longer
		// file; the xattr then names a block boundary. Anything else is
		// damage, and cutting there would destroy blocks.
		if ok, err := e.isBoundary(sealedLen, size); err != nil || !ok {
			return &CorruptionError{ExtentID: id, Offset: sealedLen, Err: fmt.Errorf("sealed length %d is not a block boundary of the %d-byte file (%v)", sealedLen, size, err)}
		}
		e.lg.Warn("cutting sealed extent back to its sealed length", zap.Uint64("extent", id), zap.Uint64("size", size), zap.Uint64("sealed-length", sealedLen))
		if err := e.f.Truncate(int64(sealedLen)); err != nil {
			return fmt.Errorf("open extent %d: %w", id, err)
		}
		if err := e.f.Sync(); err != nil {
			return fmt.Errorf("open extent %d: %w", id, err)
		}
	}
	e.sealed = true
	e.durableEnd.Store(sealedLen)
	return nil
}

// recover scans an unsealed extent and cuts a torn tail.
func (e *Extent) recover(size uint64) error {
	id := e.header.ExtentID
	s := newScanner(e.f, ExtentHeaderSize, size)
	for {
		_, off, err := s.next()
		if err == io.EOF {
			break
		}
		var ioErr errIO
		if errors.As(err, &ioErr) {
			return fmt.Errorf("open extent %d: %w", id, err)
		}
		if err != nil {
			return e.cutTornTail(s, off, size, err)
		}
		e.boundaries.note(off)
	}
	e.durableEnd.Store(size)
	return nil
}

// cutTornTail handles the first invalid block at off: corruption when a
// valid block follows it, otherwise a torn tail that is truncated away.
func (e *Extent) cutTornTail(s *scanner, off, size uint64, cause error) error {
	id := e.header.ExtentID
	next, found, err := s.validBlockAfter(off + BlockHeaderSize)
	if err != nil {
		return fmt.Errorf("open extent %d: %w", id, err)
	}
	if found {
		return &CorruptionError{ExtentID: id, Offset: off, Err: fmt.Errorf("%w (a valid block follows at %d)", cause, next)}
	}
	zeroTail, err := s.zerosFrom(off)
	if err != nil {
		return fmt.Errorf("open extent %d: %w", id, err)
	}
	var torn *TornTailError
	if zeroTail {
		// Zeros written ahead of the end (Config.ZeroAhead): nothing was
		// lost, nothing to report.
		e.lg.Debug("cutting zeros past the last block", zap.Uint64("extent", id), zap.Uint64("offset", off), zap.Uint64("bytes", size-off))
	} else {
		torn = &TornTailError{ExtentID: id, Offset: off, Dropped: size - off, Err: cause}
		e.lg.Warn("truncating torn tail", zap.Uint64("extent", id), zap.Uint64("offset", off), zap.Uint64("dropped", torn.Dropped), zap.Error(cause))
	}
	if err := e.f.Truncate(int64(off)); err != nil {
		return fmt.Errorf("open extent %d: cut tail at %d: %w", id, off, err)
	}
	if err := e.f.Datasync(); err != nil {
		return fmt.Errorf("open extent %d: cut tail at %d: %w", id, off, err)
	}
	e.recovered = torn
	e.durableEnd.Store(off)
	return nil
}

// ID returns the extent's ID from its header.
func (e *Extent) ID() uint64 { return e.header.ExtentID }

// Header returns the decoded extent header.
func (e *Extent) Header() Header { return e.header }

// Path returns the extent file's path.
func (e *Extent) Path() string { return e.path }

// CommitLength returns the end of the last durable block.
func (e *Extent) CommitLength() uint64 { return e.durableEnd.Load() }

// Sealed reports whether the extent is sealed, and at what length.
func (e *Extent) Sealed() (uint64, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.durableEnd.Load(), e.sealed
}

// Recovered returns what Open cut off as a torn tail, or nil.
func (e *Extent) Recovered() *TornTailError { return e.recovered }

// Failed returns the write or sync error that stopped appends, or nil.
func (e *Extent) Failed() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.failErr
}

// Close waits for in-flight appends and a running seal, then closes the
// file. Later calls fail with ErrClosed; closing twice is not an error.
func (e *Extent) Close() error {
	e.mu.Lock()
	if e.closed.Swap(true) {
		e.mu.Unlock()
		return nil
	}
	for e.writing || e.sealing {
		e.idle.Wait()
	}
	e.mu.Unlock()
	e.fileMu.Lock()
	defer e.fileMu.Unlock()
	if err := e.f.Close(); err != nil {
		return fmt.Errorf("close extent %d: %w", e.ID(), err)
	}
	return nil
}

// Remove closes the extent and deletes its file durably.
func (e *Extent) Remove() error {
	if err := e.Close(); err != nil {
		return err
	}
	if err := e.fs.Remove(e.path); err != nil {
		return fmt.Errorf("remove extent %d: %w", e.ID(), err)
	}
	if err := e.fs.SyncDir(filepath.Dir(e.path)); err != nil {
		return fmt.Errorf("remove extent %d: %w", e.ID(), err)
	}
	return nil
}

// CheckXattrSupport fails with ErrNoXattrSupport, naming dir, when the
// filesystem holding dir cannot store the sealed-length attribute. Nodes
// call it for every disk at start.
func CheckXattrSupport(fsys vfs.FS, dir string) error {
	if fsys == nil {
		fsys = vfs.Default
	}
	probe := filepath.Join(dir, fmt.Sprintf(".xattr-probe-%d", os.Getpid()))
	f, err := fsys.Create(probe)
	if err != nil {
		return fmt.Errorf("check xattr support in %s: %w", dir, err)
	}
	defer fsys.Remove(probe)
	defer f.Close()
	if err := f.SetXattr(SealedXattr, []byte("0")); err != nil {
		if errors.Is(err, vfs.ErrXattrUnsupported) {
			return fmt.Errorf("%w: directory %s (mount it with user_xattr, or use ext4/xfs)", ErrNoXattrSupport, dir)
		}
		return fmt.Errorf("check xattr support in %s: %w", dir, err)
	}
	return nil
}
