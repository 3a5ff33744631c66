package node

import (
	"context"
	"fmt"
	"sync"

	"github.com/clogs-io/clogs/extent"
	clogspb "github.com/clogs-io/clogs/proto"
)

// replica is this node's copy of one extent, with the replication state
// around the engine's file.
//
// Lock order: replica.mu before the engine's locks (SubmitAt is called
// under mu; the engine never calls back).
type replica struct {
	id   uint64
	ext  *extent.Extent
	disk *disk

	mu sync.Mutex
	// set lists the replicas, primary first; selfIndex is this node's
	// place in it. Both are known from AllocExtent; after a restart an
	// unsealed replica does not know them and is recovering.
	set        []*clogspb.Replica // guarded by mu
	selfIndex  int                // guarded by mu
	recovering bool               // guarded by mu
	// ackedEnd: on the primary, the end of the last batch durable on all
	// replicas; on a sealed replica, the sealed length.
	ackedEnd uint64 // guarded by mu
	// assignedEnd: the end of every append started (primary batches,
	// secondary submissions), durable or not.
	assignedEnd uint64 // guarded by mu
	sealed      bool   // guarded by mu
	sealing     bool   // guarded by mu
	// fenced: a fencing CommitLength was answered; appends stop, and
	// appends in flight are answered with an error even if they land,
	// so that no block is acknowledged past the lengths the stream
	// manager collects for the seal.
	fenced bool // guarded by mu
	// failure is the first replication or write error; appends stop.
	failure error // guarded by mu
	// damage is the first block found failing its checksum (damage.go).
	damage *extent.CorruptionError // guarded by mu
	// changed is closed and replaced whenever ackedEnd, assignedEnd or
	// the sealed state changes, to wake tailing readers and secondaries
	// waiting for their turn.
	changed chan struct{} // guarded by mu

	pipeline pipeline // primary only; guarded by mu
}

func newReplica(id uint64, ext *extent.Extent, d *disk) *replica {
	r := &replica{id: id, ext: ext, disk: d, changed: make(chan struct{})}
	length, sealed := ext.Sealed()
	r.assignedEnd = length
	r.sealed = sealed
	r.ackedEnd = extent.ExtentHeaderSize // nothing is acked by this process yet
	if sealed {
		r.ackedEnd = length
	}
	return r
}

// notifyLocked wakes everyone waiting for a change.
func (r *replica) notifyLocked() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// waitChangeLocked releases mu until the next change or ctx ends, and
// takes it again.
func (r *replica) waitChangeLocked(ctx context.Context) error {
	ch := r.changed
	r.mu.Unlock()
	defer r.mu.Lock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *replica) isPrimaryLocked() bool { return !r.recovering && r.set != nil && r.selfIndex == 0 }

// sealedErrLocked says why no more appends land, if so.
func (r *replica) closedForAppendsLocked() error {
	switch {
	case r.sealed:
		return fmt.Errorf("extent %d: %w", r.id, extent.ErrSealed)
	case r.sealing || r.fenced:
		return fmt.Errorf("extent %d: %w", r.id, ErrFenced)
	case r.recovering:
		return fmt.Errorf("extent %d: %w", r.id, ErrRecovering)
	case r.failure != nil:
		return fmt.Errorf("extent %d: %w: %w", r.id, ErrReplicaFailed, r.failure)
	}
	return nil
}

// replicate is the secondary's side: append blocks at offset once every
// earlier replicate call has been submitted, so that concurrent calls from
// a pipelining primary land in order. It returns after the blocks are
// durable here.
func (r *replica) replicate(ctx context.Context, offset uint64, blocks []extent.Block) (uint64, error) {
	r.mu.Lock()
	if err := r.closedForAppendsLocked(); err != nil {
		r.mu.Unlock()
		return 0, err
	}
	if r.set == nil || r.selfIndex == 0 {
		r.mu.Unlock()
		return 0, fmt.Errorf("%w: extent %d: replicate sent to its primary", ErrBadRequest, r.id)
	}
	for r.assignedEnd < offset && r.closedForAppendsLocked() == nil {
		if err := r.waitChangeLocked(ctx); err != nil {
			have := r.assignedEnd
			r.mu.Unlock()
			return 0, fmt.Errorf("extent %d: waiting for the appends before offset %d (have %d): %w", r.id, offset, have, err)
		}
	}
	if err := r.closedForAppendsLocked(); err != nil {
		r.mu.Unlock()
		return 0, err
	}
	if r.assignedEnd != offset {
		end := r.assignedEnd
		r.mu.Unlock()
		return 0, &extent.OffsetMismatchError{ExtentID: r.id, Expected: offset, End: end}
	}
	pending := r.ext.SubmitAt(offset, blocks...)
	r.assignedEnd += blocksSize(blocks)
	end := r.assignedEnd
	r.notifyLocked()
	r.mu.Unlock()
	if _, err := pending.Wait(); err != nil {
		r.fail(err)
		return 0, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fenced || r.sealing || r.sealed {
		// Landed, but a seal is deciding the length: the primary must
		// not count this call as durable here.
		return 0, fmt.Errorf("extent %d: %w", r.id, ErrFenced)
	}
	return end, nil
}

// fence stops appends for a coming seal and returns the commit length
// and sealed state; see the fenced field.
func (r *replica) fence() (uint64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.sealed && !r.fenced {
		r.fenced = true
		r.pipeline.failQueuedLocked(fmt.Errorf("extent %d: %w", r.id, ErrFenced))
		r.notifyLocked()
	}
	return r.ext.Sealed()
}

// appendsInFlight says whether the replica is the primary of an unsealed
// extent with appends queued, held or in flight.
func (r *replica) appendsInFlight() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := &r.pipeline
	return r.isPrimaryLocked() && !r.sealed && len(p.queue)+len(p.held)+len(p.inflight) > 0
}

// fail records the first failure and stops appends.
func (r *replica) fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failure == nil {
		r.failure = err
		r.disk.noteError(err)
		r.pipeline.failQueuedLocked(err)
		r.notifyLocked()
	}
}

// readLimit returns how far a reader may read: the sealed length of a
// sealed replica, the acked end on the primary; others refuse.
func (r *replica) readLimitLocked() (uint64, error) {
	switch {
	case r.sealed:
		return r.ackedEnd, nil
	case r.recovering:
		return 0, fmt.Errorf("extent %d: %w", r.id, ErrRecovering)
	case !r.isPrimaryLocked():
		return 0, fmt.Errorf("extent %d: %w", r.id, ErrNotPrimary)
	}
	return r.ackedEnd, nil
}

// waitReadable waits until the readable end passes offset, the replica is
// sealed, or ctx ends. It returns the readable end and whether it is
// sealed.
func (r *replica) waitReadable(ctx context.Context, offset uint64) (uint64, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		limit, err := r.readLimitLocked()
		if err != nil {
			return 0, false, err
		}
		if limit > offset || r.sealed {
			return limit, r.sealed, nil
		}
		if err := r.waitChangeLocked(ctx); err != nil {
			return limit, false, nil // the wait is over; nothing new
		}
	}
}

// seal seals the local file at length and stops appends.
func (r *replica) seal(length uint64) error {
	r.mu.Lock()
	if end := r.ext.CommitLength(); length > end && !r.sealed {
		r.mu.Unlock() // refused without stopping appends
		return fmt.Errorf("extent %d: %w: %d is beyond the commit length %d", r.id, extent.ErrBadSealLength, length, end)
	}
	r.sealing = true
	r.pipeline.failQueuedLocked(fmt.Errorf("extent %d: %w", r.id, ErrFenced))
	r.notifyLocked()
	r.mu.Unlock()

	err := r.ext.Seal(length)

	r.mu.Lock()
	defer r.mu.Unlock()
	r.sealing = false
	if err == nil {
		r.sealed, r.recovering = true, false
		r.ackedEnd, r.assignedEnd = length, length
	} else {
		r.disk.noteError(err)
	}
	r.notifyLocked()
	return err
}

func blocksSize(blocks []extent.Block) uint64 {
	var n uint64
	for _, b := range blocks {
		n += extent.BlockSize(len(b.Payload))
	}
	return n
}

// reallocate answers a repeated AllocExtent: fine for an empty extent with
// the same replica set (a recovering empty one adopts it), ErrExists
// otherwise.
func (r *replica) reallocate(set []*clogspb.Replica, self int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sealed || r.ext.CommitLength() != extent.ExtentHeaderSize {
		return fmt.Errorf("extent %d: %w: it is not empty", r.id, ErrExists)
	}
	if r.set == nil {
		r.set, r.selfIndex, r.recovering = set, self, false
		return nil
	}
	if r.selfIndex != self || !sameReplicas(r.set, set) {
		return fmt.Errorf("extent %d: %w: allocated with another replica set", r.id, ErrExists)
	}
	return nil
}

func sameReplicas(a, b []*clogspb.Replica) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].GetNodeId() != b[i].GetNodeId() || a[i].GetAddr() != b[i].GetAddr() {
			return false
		}
	}
	return true
}
