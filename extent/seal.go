package extent

import (
	"fmt"
	"strconv"
)

// Seal makes the extent read-only at length, which must be a block
// boundary no further than the commit length. Blocks past it (an unacked
// tail this replica has and others lack) are cut. The order on disk is:
// truncate, fsync, set the sealed-length xattr, fsync; Open repairs a crash
// between the two. Sealing again at the same length is a no-op; at another
// length it fails with ErrSealConflict. In-flight appends finish first;
// later ones fail with ErrSealed.
func (e *Extent) Seal(length uint64) error {
	e.mu.Lock()
	for e.sealing {
		e.idle.Wait()
	}
	if err := e.sealableLocked(length); err != nil || e.sealed {
		e.mu.Unlock()
		return err
	}
	e.sealing = true
	for e.writing {
		e.idle.Wait()
	}
	e.mu.Unlock()

	badLength := e.checkSealLength(length)
	var ioErr error
	if badLength == nil {
		ioErr = e.writeSeal(length)
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	e.sealing = false
	e.idle.Broadcast()
	if badLength != nil {
		return fmt.Errorf("seal extent %d at %d: %w", e.ID(), length, badLength)
	}
	if ioErr != nil {
		if e.failErr == nil {
			e.failErr = ioErr
		}
		return fmt.Errorf("seal extent %d at %d: %w", e.ID(), length, ioErr)
	}
	e.sealed = true
	return nil
}

// sealableLocked checks the seal request against the current state.
func (e *Extent) sealableLocked(length uint64) error {
	if e.closed.Load() {
		return ErrClosed
	}
	if e.sealed && length != e.durableEnd.Load() {
		return fmt.Errorf("seal extent %d at %d: %w (sealed at %d)", e.ID(), length, ErrSealConflict, e.durableEnd.Load())
	}
	return nil
}

// checkSealLength fails with ErrBadSealLength unless length is a block
// boundary within the commit length. Appends are held off meanwhile.
func (e *Extent) checkSealLength(length uint64) error {
	end := e.durableEnd.Load()
	if length > end {
		return fmt.Errorf("%w: %d is beyond the commit length %d", ErrBadSealLength, length, end)
	}
	ok, err := e.isBoundary(length, end)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: %d is not a block boundary", ErrBadSealLength, length)
	}
	return nil
}

// writeSeal cuts the extent at length and records the seal durably. Only
// the sealing goroutine runs it; appends are held off.
func (e *Extent) writeSeal(length uint64) error {
	e.durableEnd.Store(length) // readers stop at the new end before it is cut
	e.boundaries.truncate(length)
	if err := e.f.Truncate(int64(length)); err != nil {
		return err
	}
	if err := e.f.Sync(); err != nil {
		return err
	}
	if err := e.f.SetXattr(SealedXattr, []byte(strconv.FormatUint(length, 10))); err != nil {
		return err
	}
	return e.f.Sync()
}
