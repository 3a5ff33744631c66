package node

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	clogspb "github.com/clogs-io/clogs/proto"
)

func TestDiskIDSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	d1, err := openDisk(dir)
	if err != nil {
		t.Fatal(err)
	}
	d2, err := openDisk(dir)
	if err != nil {
		t.Fatal(err)
	}
	if d1.id == "" || d1.id != d2.id {
		t.Fatalf("disk ID %q, then %q", d1.id, d2.id)
	}
	if err := os.WriteFile(filepath.Join(dir, diskIDFile), []byte("not-a-uuid\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := openDisk(dir); err == nil {
		t.Fatal("a garbled disk ID was accepted")
	}
}

func TestDiskThatIsAFileIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := openDisk(path); err == nil {
		t.Fatal("a file was accepted as a disk")
	}
}

// TestFailedDiskIsSkipped: after an I/O error a disk takes no new extents,
// is reported as failed, and the node keeps using its other disks.
func TestFailedDiskIsSkipped(t *testing.T) {
	root := t.TempDir()
	cfg := testConfig(filepath.Join(root, "a"))
	cfg.Disks = append(cfg.Disks, filepath.Join(root, "b"))
	c := &testCluster{t: t}
	nd := c.startNode(cfg)
	defer nd.Stop()
	bad, good := nd.disks[0], nd.disks[1]
	if !bad.noteError(&fs.PathError{Op: "pwritev", Path: bad.path, Err: syscall.EIO}) {
		t.Fatal("EIO did not fail the disk")
	}
	if good.noteError(&fs.PathError{Op: "pwritev", Path: good.path, Err: syscall.ENOSPC}) {
		t.Fatal("ENOSPC took a disk out of service")
	}
	set := []*clogspb.Replica{{NodeId: 1, Addr: nd.Addr()}, {NodeId: 2, Addr: "127.0.0.1:1"}, {NodeId: 3, Addr: "127.0.0.1:2"}}
	for id := uint64(1); id <= 4; id++ {
		if err := nd.alloc(id, set, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(good.extentPath(id)); err != nil {
			t.Fatalf("extent %d not on the good disk: %v", id, err)
		}
	}
	usage := (&service{n: nd})
	resp, err := usage.DiskUsage(context.Background(), &clogspb.DiskUsageRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if !resp.Disks[0].Failed || resp.Disks[1].Failed || resp.Disks[1].Extents != 4 {
		t.Fatalf("disk usage %v", resp.Disks)
	}
	bad.noteError(&fs.PathError{Err: syscall.EIO})
	good.noteError(&fs.PathError{Err: syscall.EIO})
	if err := nd.alloc(9, set, 0); !errors.Is(err, ErrNoDisk) {
		t.Fatalf("alloc with every disk failed: %v", err)
	}
}
