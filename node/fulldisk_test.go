package node

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/clogs-io/clogs/extent"
	"github.com/clogs-io/clogs/extent/vfs"
	clogspb "github.com/clogs-io/clogs/proto"
)

// fakeDisks reports made-up usage per disk path.
type fakeDisks struct {
	mu   sync.Mutex
	used map[string]float64 // fraction of 1 TiB in use; guarded by mu
}

func (f *fakeDisks) set(path string, used float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.used[path] = used
}

func (f *fakeDisks) stats(path string) (total, free uint64, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	total = 1 << 40
	return total, total - uint64(f.used[path]*float64(total)), nil
}

// TestHighWaterMark: a disk above the high-water mark takes no new
// extents and is reported full; the node places on its other disk, and
// with both full it refuses with disk-full. Extents already on a full
// disk keep working.
func TestHighWaterMark(t *testing.T) {
	root := t.TempDir()
	a, b := filepath.Join(root, "a"), filepath.Join(root, "b")
	disks := &fakeDisks{used: map[string]float64{a: 0.5, b: 0.2}}
	c := startClusterWith(t, 3, func(i int, cfg *Config) {
		if i == 0 {
			cfg.Disks = []string{a, b}
			cfg.DiskStats = disks.stats
			cfg.HighWaterMark = 0.9
		}
	})
	c.alloc(1, 0, 1, 2)
	disks.set(b, 0.95)
	c.alloc(2, 0, 1, 2)
	if onA := c.localReplica(0, 2).disk.path; onA != a {
		t.Fatalf("extent 2 went to %s, past the full %s", onA, b)
	}
	usage, err := c.client(0).DiskUsage(callCtx(t), &clogspb.DiskUsageRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range usage.Disks {
		if u.Full != (u.Path == b) {
			t.Fatalf("disk usage %v", u)
		}
	}

	disks.set(a, 0.91)
	set := c.replicaSet(0, 1, 2)
	_, err = c.client(0).AllocExtent(callCtx(t), &clogspb.AllocExtentRequest{ExtentId: 3, Replicas: set})
	wantRemote(t, err, ErrDiskFull, codes.ResourceExhausted, "disk-full")
	mustAppend(t, c.client(0), 1, testPayload("still", 1000))
}

// TestENOSPCDuringAppend: the primary's disk runs out of space in the
// middle of an append. That append fails with replica-failed, the extent
// takes no more appends, the disk stays in service, another extent on the
// node keeps working, and the failed extent seals cleanly at what the
// replicas agree on.
func TestENOSPCDuringAppend(t *testing.T) {
	efs := vfs.NewErrorFS(vfs.Default, -1)
	efs.SetErr(syscall.ENOSPC)
	var armed atomic.Bool
	efs.SetBeforeOp(func(op string, index int64) {
		if op == "WritevAt" && armed.CompareAndSwap(true, false) {
			efs.SetFailAt(index)
		}
	})
	c := startClusterWith(t, 3, func(i int, cfg *Config) {
		if i == 0 {
			cfg.Extent.FS = efs
		}
	})
	c.alloc(1, 0, 1, 2)
	c.alloc(2, 0, 1, 2)
	before := mustAppend(t, c.client(0), 1, testPayload("before", 5000))

	armed.Store(true)
	_, err := c.client(0).AppendBlocks(callCtx(t), &clogspb.AppendBlocksRequest{ExtentId: 1, Blocks: blocksOf(testPayload("nospace", 5000))})
	re := wantRemote(t, err, ErrReplicaFailed, codes.FailedPrecondition, "replica-failed")
	if !efs.Injected() {
		t.Fatal("no write failed")
	}
	t.Logf("the append failed with %v", re)
	_, err = c.client(0).AppendBlocks(callCtx(t), &clogspb.AppendBlocksRequest{ExtentId: 1, Blocks: blocksOf([]byte("after"))})
	wantRemote(t, err, ErrReplicaFailed, codes.FailedPrecondition, "replica-failed")
	if f := c.nodes[0].disks[0].failed(); f != nil {
		t.Fatalf("ENOSPC took the disk out of service: %v", f)
	}
	mustAppend(t, c.client(0), 2, testPayload("other", 5000))

	length := slicesMin(c.commitLengths(1, 0, 1, 2))
	if length < before.End {
		t.Fatalf("commit lengths %v below the acked end %d", c.commitLengths(1, 0, 1, 2), before.End)
	}
	c.seal(1, length, 0, 1, 2)
	for i := range 3 {
		blocks := readFrom(t, c.client(i), 1, extent.ExtentHeaderSize).blocks
		if len(blocks) == 0 || blocks[0].Offset != before.Offsets[0] {
			t.Fatalf("node %d: %d blocks after the seal", i, len(blocks))
		}
	}
}

// TestENOSPCOnASecondary: a secondary out of space fails the append as
// replica-failed at the primary, too.
func TestENOSPCOnASecondary(t *testing.T) {
	efs := vfs.NewErrorFS(vfs.Default, -1)
	efs.SetErr(syscall.ENOSPC)
	c := startClusterWith(t, 3, func(i int, cfg *Config) {
		if i == 2 {
			cfg.Extent.FS = efs
		}
	})
	c.alloc(1, 0, 1, 2)
	efs.SetFailAt(efs.Ops()) // the secondary's next operation: the write
	_, err := c.client(0).AppendBlocks(callCtx(t), &clogspb.AppendBlocksRequest{ExtentId: 1, Blocks: blocksOf(testPayload("x", 100))})
	wantRemote(t, err, ErrReplicaFailed, codes.FailedPrecondition, "replica-failed")
	if !efs.Injected() {
		t.Fatal("no write failed")
	}
	if f := c.nodes[2].disks[0].failed(); f != nil {
		t.Fatalf("ENOSPC took the secondary's disk out of service: %v", f)
	}
}

// TestDiskFullMapsBack: a full disk, whether the node refused a new
// extent or a write hit ENOSPC, travels as disk-full and maps back to
// ErrDiskFull.
func TestDiskFullMapsBack(t *testing.T) {
	for _, err := range []error{
		fmt.Errorf("extent 7: %w", ErrDiskFull),
		fmt.Errorf("append to extent 7: %w: %w", extent.ErrFailed, &fs.PathError{Op: "WritevAt", Err: syscall.ENOSPC}),
	} {
		re := FromStatus(ToStatus(err, 7)).(*RemoteError)
		if re.Code != codes.ResourceExhausted || re.Reason != "disk-full" || !errors.Is(re, ErrDiskFull) {
			t.Errorf("%v came back as %v", err, re)
		}
	}
}
