package node

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/google/uuid"
	"golang.org/x/sys/unix"

	"github.com/clogs-io/clogs/extent"
)

// diskIDFile holds a disk's stable UUID, so that a disk moved between
// mount points keeps its identity.
const diskIDFile = "disk-id"

// damagedSuffix names the marker file kept next to an extent file whose
// replica failed a checksum (see markerPath).
const damagedSuffix = ".damaged"

// diskStatsFunc reads a disk's total and free bytes.
type diskStatsFunc func(path string) (total, free uint64, err error)

// disk is one directory the node keeps extents in.
type disk struct {
	path  string
	id    string
	stats diskStatsFunc // statfs unless a test fakes it

	mu      sync.Mutex
	failure error // guarded by mu; set when the disk returned an I/O error
	extents int   // guarded by mu
}

// openDisk creates dir if needed, checks that it can hold extents (user
// xattrs) and reads or creates its ID file.
func openDisk(dir string) (*disk, error) {
	return openDiskWith(dir, nil)
}

// openDiskWith is openDisk with a function for the disk's total and free
// bytes; nil means statfs.
func openDiskWith(dir string, stats diskStatsFunc) (*disk, error) {
	if stats == nil {
		stats = statfs
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("disk %s: %w", dir, err)
	}
	if err := extent.CheckXattrSupport(nil, dir); err != nil {
		return nil, err
	}
	id, err := readOrCreateDiskID(dir)
	if err != nil {
		return nil, fmt.Errorf("disk %s: %w", dir, err)
	}
	return &disk{path: dir, id: id, stats: stats}, nil
}

func readOrCreateDiskID(dir string) (string, error) {
	path := filepath.Join(dir, diskIDFile)
	raw, err := os.ReadFile(path)
	if err == nil {
		id := strings.TrimSpace(string(raw))
		if _, perr := uuid.Parse(id); perr != nil {
			return "", fmt.Errorf("%s holds %q, not a UUID", path, id)
		}
		return id, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	id := uuid.NewString()
	if err := writeFileDurably(path, []byte(id+"\n")); err != nil {
		return "", err
	}
	return id, nil
}

// writeFileDurably writes a small file through a temporary name, fsyncs it
// and its directory, so a crash leaves the old state or the new one.
func writeFileDurably(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// syncDir makes a directory's entries durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// extentPath is where extent id lives on this disk.
func (d *disk) extentPath(id uint64) string {
	return filepath.Join(d.path, extent.FileName(id))
}

// markerPath is where the marker of a damaged replica of extent id lives:
// the extent file's name with damagedSuffix. It holds the offset of the
// first bad block in decimal on its first line, then why. The marker makes
// a restarted node still know that the replica is damaged; it goes away
// with the replica (delete, repair).
func (d *disk) markerPath(id uint64) string {
	return d.extentPath(id) + damagedSuffix
}

// statfs reads the filesystem's total bytes and the bytes free to
// unprivileged users.
func statfs(path string) (total, free uint64, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, 0, fmt.Errorf("statfs %s: %w", path, err)
	}
	return st.Blocks * uint64(st.Bsize), st.Bavail * uint64(st.Bsize), nil
}

// usage reads the filesystem's total and free bytes.
func (d *disk) usage() (total, free uint64, err error) {
	return d.stats(d.path)
}

// aboveHighWater says whether more than highWater of the disk's bytes are
// in use.
func aboveHighWater(total, free uint64, highWater float64) bool {
	if total == 0 {
		return false
	}
	used := total - min(free, total)
	return float64(used) > highWater*float64(total)
}

// failed returns why the disk was taken out of service, or nil.
func (d *disk) failed() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.failure
}

// noteError takes the disk out of service if err is an I/O error. Full
// disks (ENOSPC) stay in service for reads; placement avoids them by free
// space.
func (d *disk) noteError(err error) bool {
	if !errors.Is(err, syscall.EIO) && !errors.Is(err, syscall.EROFS) {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.failure == nil {
		d.failure = err
	}
	return true
}

func (d *disk) addExtents(n int) {
	d.mu.Lock()
	d.extents += n
	d.mu.Unlock()
}

func (d *disk) extentCount() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.extents
}

// pickDisk returns the in-service disk below the high-water mark with the
// most free bytes. It fails with ErrDiskFull when every disk in service is
// above the mark, and with ErrNoDisk when none is in service.
func pickDisk(disks []*disk, highWater float64) (*disk, error) {
	var best *disk
	var bestFree uint64
	inService := 0
	for _, d := range disks {
		if d.failed() != nil {
			continue
		}
		total, free, err := d.usage()
		if err != nil {
			d.noteError(err)
			continue
		}
		inService++
		if aboveHighWater(total, free, highWater) {
			continue
		}
		if best == nil || free > bestFree {
			best, bestFree = d, free
		}
	}
	switch {
	case best != nil:
		return best, nil
	case inService > 0:
		return nil, fmt.Errorf("%w (%.0f%%): %d of %d disks in service, all above it", ErrDiskFull, highWater*100, inService, len(disks))
	}
	return nil, fmt.Errorf("%w: all %d disks failed", ErrNoDisk, len(disks))
}

// list returns the names of the files on the disk.
func (d *disk) list() ([]string, error) {
	entries, err := os.ReadDir(d.path)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names, nil
}
