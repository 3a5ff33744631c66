package extent

import (
	"errors"
	"io/fs"
	"strings"
	"testing"

	"github.com/clogs-io/clogs/extent/vfs"
)

// noXattrFS is a filesystem whose files refuse extended attributes, as
// some tmpfs and FUSE mounts do.
type noXattrFS struct{ vfs.FS }

func (n noXattrFS) Create(name string) (vfs.File, error) {
	f, err := n.FS.Create(name)
	return noXattrFile{f}, err
}

type noXattrFile struct{ vfs.File }

func (noXattrFile) SetXattr(string, []byte) error {
	return &fs.PathError{Op: "setxattr", Path: "x", Err: vfs.ErrXattrUnsupported}
}

func TestCheckXattrSupport(t *testing.T) {
	dir := t.TempDir()
	if err := CheckXattrSupport(nil, dir); err != nil {
		t.Fatalf("real filesystem at %s: %v", dir, err)
	}
	err := CheckXattrSupport(noXattrFS{vfs.NewMem()}, "/disk1")
	if !errors.Is(err, ErrNoXattrSupport) || !strings.Contains(err.Error(), "/disk1") {
		t.Fatalf("filesystem without xattrs: %v (want ErrNoXattrSupport naming /disk1)", err)
	}
}
