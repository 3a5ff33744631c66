package vfs

import (
	"io"
	"io/fs"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
)

// MemFS is an in-memory FS that models durability for crash tests.
//
// Each file (inode) has its current content and its durable content: the
// state its last Datasync (data and size) or Sync (also xattrs) left. The
// namespace has a current and a durable view too: creations and removals
// become durable with SyncDir of the directory. Crash, CrashTorn and
// CrashKeepingUnsynced build a new MemFS from the durable state, as a power
// loss would leave it; the original keeps working.
//
// Directories are implicit: Create records the parent directories, as
// MkdirAll does, and recorded directories are always durable.
type MemFS struct {
	mu      sync.Mutex
	files   map[string]*memNode // current namespace, by cleaned path
	durable map[string]*memNode // durable namespace, by cleaned path
	dirs    map[string]bool     // recorded directories, by cleaned path
}

var _ FS = (*MemFS)(nil)

// NewMem returns an empty MemFS.
func NewMem() *MemFS {
	return &MemFS{
		files:   map[string]*memNode{},
		durable: map[string]*memNode{},
		dirs:    map[string]bool{},
	}
}

// memNode is an inode. Its lock is taken after MemFS.mu, never before.
type memNode struct {
	mu            sync.RWMutex
	data          []byte
	xattrs        map[string][]byte
	syncedData    []byte
	syncedXattrs  map[string][]byte
	unsynced      []memOp // data operations since the last Datasync or Sync
	unsyncedUnits int     // sum of memOp.units over unsynced
}

// memOp is one unsynced data operation: a write of data at off, or a
// truncate to size off.
type memOp struct {
	truncate bool
	off      int64
	data     []byte
}

// units is the op's length in the unsynced stream: a write counts its
// bytes, a truncate counts one.
func (op memOp) units() int {
	if op.truncate {
		return 1
	}
	return len(op.data)
}

func newMemNode() *memNode {
	return &memNode{xattrs: map[string][]byte{}, syncedXattrs: map[string][]byte{}}
}

// applyOp applies op to buf and returns the result (possibly reallocated).
func applyOp(buf []byte, op memOp) []byte {
	if op.truncate {
		return resize(buf, op.off)
	}
	end := op.off + int64(len(op.data))
	if end > int64(len(buf)) {
		buf = resize(buf, end)
	}
	copy(buf[op.off:], op.data)
	return buf
}

// resize returns buf cut or zero-extended to size.
func resize(buf []byte, size int64) []byte {
	if size <= int64(len(buf)) {
		return buf[:size]
	}
	old := len(buf)
	buf = slices.Grow(buf, int(size)-old)[:size]
	clear(buf[old:])
	return buf
}

// record applies op to the current data and logs it as unsynced. The
// caller holds n.mu for writing and passes op.data already copied.
func (n *memNode) record(op memOp) {
	n.data = applyOp(n.data, op)
	n.unsynced = append(n.unsynced, op)
	n.unsyncedUnits += op.units()
}

// datasync makes the data and size durable. The caller holds n.mu.
func (n *memNode) datasync() {
	for _, op := range n.unsynced {
		n.syncedData = applyOp(n.syncedData, op)
	}
	n.unsynced = nil
	n.unsyncedUnits = 0
}

// crashCopy returns a new inode holding the durable state plus the first
// keep units of the unsynced stream.
func (n *memNode) crashCopy(keep int) *memNode {
	c := newMemNode()
	c.data = slices.Clone(n.syncedData)
	for _, op := range n.unsynced {
		if keep <= 0 {
			break
		}
		if !op.truncate && len(op.data) > keep {
			op.data = op.data[:keep] // torn write
		}
		c.data = applyOp(c.data, op)
		keep -= op.units()
	}
	c.syncedData = slices.Clone(c.data)
	c.xattrs = cloneXattrs(n.syncedXattrs)
	c.syncedXattrs = cloneXattrs(n.syncedXattrs)
	return c
}

func cloneXattrs(m map[string][]byte) map[string][]byte {
	c := make(map[string][]byte, len(m))
	for k, v := range m {
		c[k] = slices.Clone(v)
	}
	return c
}

// Crash returns a new MemFS with what a power loss would leave: the durable
// namespace, each file with its durable data, size and xattrs only.
func (m *MemFS) Crash() *MemFS {
	return m.crash(func(string, *memNode) int { return 0 })
}

// CrashKeepingUnsynced is Crash, except that each file also keeps the first
// keep(name, total) units of its unsynced operation stream, applied in
// order. A write counts its bytes and a truncate counts one unit, so a
// prefix that ends inside a write keeps only the first part of it (a torn
// write). keep is called once per durable file that has unsynced
// operations, in name order, with m locked, so it must not use m; its
// result is clamped to [0, total].
func (m *MemFS) CrashKeepingUnsynced(keep func(name string, unsyncedBytes int) int) *MemFS {
	return m.crash(func(name string, n *memNode) int {
		if n.unsyncedUnits == 0 {
			return 0
		}
		return keep(name, n.unsyncedUnits)
	})
}

// CrashTorn is Crash, except that each file also keeps a random prefix of
// its unsynced operations, in order; the last write kept may be cut at a
// random byte (a torn write). Files are visited in name order, so a seeded
// rng gives a reproducible result.
func (m *MemFS) CrashTorn(rng *rand.Rand) *MemFS {
	return m.crash(func(_ string, n *memNode) int { return tornUnits(rng, n.unsynced) })
}

// tornUnits picks how many units of ops survive: a uniformly chosen number
// of whole operations, the last one cut at a random byte half the time if
// it is a write.
func tornUnits(rng *rand.Rand, ops []memOp) int {
	if len(ops) == 0 {
		return 0
	}
	k := rng.IntN(len(ops) + 1)
	units := 0
	for _, op := range ops[:k] {
		units += op.units()
	}
	if last := k - 1; last >= 0 && !ops[last].truncate && rng.IntN(2) == 0 {
		units -= len(ops[last].data) - rng.IntN(len(ops[last].data)+1)
	}
	return units
}

// crash builds the post-crash MemFS; keep says how many unsynced units each
// durable file keeps. It is called with the node locked.
func (m *MemFS) crash(keep func(name string, n *memNode) int) *MemFS {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := NewMem()
	c.dirs = maps.Clone(m.dirs)
	copies := map[*memNode]*memNode{}
	for _, name := range slices.Sorted(maps.Keys(m.durable)) {
		n := m.durable[name]
		if cp, ok := copies[n]; ok {
			c.files[name], c.durable[name] = cp, cp
			continue
		}
		n.mu.RLock()
		cp := n.crashCopy(min(max(keep(name, n), 0), n.unsyncedUnits))
		n.mu.RUnlock()
		copies[n] = cp
		c.files[name], c.durable[name] = cp, cp
	}
	return c
}

// Create creates a new, empty file; it fails with fs.ErrExist if the name
// exists.
func (m *MemFS) Create(name string) (File, error) {
	p := filepath.Clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.files[p]; ok || m.dirs[p] {
		return nil, &fs.PathError{Op: "create", Path: name, Err: fs.ErrExist}
	}
	if err := m.recordDirs(filepath.Dir(p)); err != nil {
		return nil, &fs.PathError{Op: "create", Path: name, Err: err}
	}
	n := newMemNode()
	m.files[p] = n
	return &memFile{node: n, name: name}, nil
}

// Open opens an existing file for reading and writing.
func (m *MemFS) Open(name string) (File, error) { return m.open("open", name, false) }

// OpenReadOnly opens an existing file for reading only.
func (m *MemFS) OpenReadOnly(name string) (File, error) { return m.open("open", name, true) }

func (m *MemFS) open(op, name string, readOnly bool) (File, error) {
	p := filepath.Clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	n, ok := m.files[p]
	if !ok {
		err := fs.ErrNotExist
		if m.dirs[p] {
			err = syscall.EISDIR
		}
		return nil, &fs.PathError{Op: op, Path: name, Err: err}
	}
	return &memFile{node: n, name: name, readOnly: readOnly}, nil
}

// Remove removes a file from the current namespace; the removal is durable
// after SyncDir. Open files keep working.
func (m *MemFS) Remove(name string) error {
	p := filepath.Clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.files[p]; !ok {
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrNotExist}
	}
	delete(m.files, p)
	return nil
}

// SyncDir makes the creations and removals in dir durable.
func (m *MemFS) SyncDir(dir string) error {
	d := filepath.Clean(dir)
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.isDir(d) {
		return &fs.PathError{Op: "open", Path: dir, Err: fs.ErrNotExist}
	}
	for p := range m.durable {
		if filepath.Dir(p) == d {
			delete(m.durable, p)
		}
	}
	for p, n := range m.files {
		if filepath.Dir(p) == d {
			m.durable[p] = n
		}
	}
	return nil
}

// MkdirAll records dir and its parents as directories. perm is ignored.
func (m *MemFS) MkdirAll(dir string, _ fs.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.recordDirs(filepath.Clean(dir)); err != nil {
		return &fs.PathError{Op: "mkdir", Path: dir, Err: err}
	}
	return nil
}

// List returns the sorted names of the files and directories directly in
// dir.
func (m *MemFS) List(dir string) ([]string, error) {
	d := filepath.Clean(dir)
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.isDir(d) {
		return nil, &fs.PathError{Op: "open", Path: dir, Err: fs.ErrNotExist}
	}
	names := []string{}
	for p := range m.files {
		if filepath.Dir(p) == d {
			names = append(names, filepath.Base(p))
		}
	}
	for p := range m.dirs {
		if p != d && filepath.Dir(p) == d {
			names = append(names, filepath.Base(p))
		}
	}
	slices.Sort(names)
	return names, nil
}

// isDir reports whether the cleaned path d is a directory. The caller holds
// m.mu.
func (m *MemFS) isDir(d string) bool {
	return m.dirs[d] || filepath.Dir(d) == d
}

// recordDirs records the cleaned path d and its parents as directories; it
// fails with ENOTDIR if one of them is a file. The caller holds m.mu.
func (m *MemFS) recordDirs(d string) error {
	var todo []string
	for ; !m.isDir(d); d = filepath.Dir(d) {
		if _, ok := m.files[d]; ok {
			return syscall.ENOTDIR
		}
		todo = append(todo, d)
	}
	for _, p := range todo {
		m.dirs[p] = true
	}
	return nil
}

// memFile is an open MemFS file.
type memFile struct {
	node     *memNode
	name     string
	readOnly bool
	closed   atomic.Bool
}

var _ File = (*memFile)(nil)

func (f *memFile) Name() string { return f.name }

// check returns the error for op on a closed file, or on a read-only file
// when write is set.
func (f *memFile) check(op string, write bool) error {
	switch {
	case f.closed.Load():
		return &fs.PathError{Op: op, Path: f.name, Err: fs.ErrClosed}
	case write && f.readOnly:
		return &fs.PathError{Op: op, Path: f.name, Err: syscall.EBADF}
	}
	return nil
}

func (f *memFile) invalid(op string) error {
	return &fs.PathError{Op: op, Path: f.name, Err: syscall.EINVAL}
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.check("read", false); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, f.invalid("read")
	}
	if len(p) == 0 {
		return 0, nil
	}
	f.node.mu.RLock()
	defer f.node.mu.RUnlock()
	if off >= int64(len(f.node.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.node.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) WritevAt(bufs [][]byte, off int64) error {
	if err := f.check("pwritev", true); err != nil {
		return err
	}
	if off < 0 {
		return f.invalid("pwritev")
	}
	data := slices.Concat(bufs...) // copies: callers may reuse bufs
	if len(data) == 0 {
		return nil
	}
	f.node.mu.Lock()
	defer f.node.mu.Unlock()
	f.node.record(memOp{off: off, data: data})
	return nil
}

func (f *memFile) Datasync() error {
	if err := f.check("fdatasync", false); err != nil {
		return err
	}
	f.node.mu.Lock()
	defer f.node.mu.Unlock()
	f.node.datasync()
	return nil
}

func (f *memFile) Sync() error {
	if err := f.check("sync", false); err != nil {
		return err
	}
	f.node.mu.Lock()
	defer f.node.mu.Unlock()
	f.node.datasync()
	f.node.syncedXattrs = cloneXattrs(f.node.xattrs)
	return nil
}

func (f *memFile) Truncate(size int64) error {
	if err := f.check("truncate", true); err != nil {
		return err
	}
	if size < 0 {
		return f.invalid("truncate")
	}
	f.node.mu.Lock()
	defer f.node.mu.Unlock()
	f.node.record(memOp{truncate: true, off: size})
	return nil
}

func (f *memFile) Size() (int64, error) {
	if err := f.check("stat", false); err != nil {
		return 0, err
	}
	f.node.mu.RLock()
	defer f.node.mu.RUnlock()
	return int64(len(f.node.data)), nil
}

// Allocate checks its arguments like fallocate and otherwise does nothing.
func (f *memFile) Allocate(off, length int64) error {
	if err := f.check("fallocate", true); err != nil {
		return err
	}
	if off < 0 || length <= 0 {
		return f.invalid("fallocate")
	}
	return nil
}

func (f *memFile) SetXattr(name string, value []byte) error {
	if err := f.check("setxattr", true); err != nil {
		return err
	}
	if name == "" {
		return f.invalid("setxattr")
	}
	f.node.mu.Lock()
	defer f.node.mu.Unlock()
	f.node.xattrs[name] = slices.Clone(value)
	return nil
}

func (f *memFile) GetXattr(name string) ([]byte, error) {
	if err := f.check("getxattr", false); err != nil {
		return nil, err
	}
	f.node.mu.RLock()
	defer f.node.mu.RUnlock()
	v, ok := f.node.xattrs[name]
	if !ok {
		return nil, ErrNoXattr
	}
	return slices.Clone(v), nil
}

func (f *memFile) Close() error {
	if f.closed.Swap(true) {
		return &fs.PathError{Op: "close", Path: f.name, Err: fs.ErrClosed}
	}
	return nil
}
