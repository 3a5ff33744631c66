package extentbench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/clogs-io/clogs/extent"
)

// The read extents hold blocks of readPayloadSize bytes, written
// readBatchBlocks at a time; they are read back readBufferSize bytes at a
// time through one buffer.
const (
	readPayloadSize = 64 << 10
	readBatchBlocks = 16
	readBufferSize  = 4 << 20
)

// The page-cache states a read runs in.
const (
	cacheCold = "cold"
	cacheWarm = "warm"
)

// dropCachesPath drops the clean page cache when "1" is written to it.
const dropCachesPath = "/proc/sys/vm/drop_caches"

// ReadResult is one sequential read of a sealed extent. Rates count
// payload bytes. ExtentBytes is the size asked for; the extent holds as
// many whole blocks as fit in it.
type ReadResult struct {
	Workload           string        `json:"workload"`
	ExtentBytes        uint64        `json:"extent_bytes"`
	Cache              string        `json:"cache"`
	PayloadBytes       uint64        `json:"payload_bytes"`
	Elapsed            time.Duration `json:"elapsed_ns"`
	PayloadBytesPerSec float64       `json:"payload_bytes_per_sec"`
	PeakHeapBytes      uint64        `json:"peak_heap_bytes"`
}

// MemoryResult is the peak Go heap while reading a small and a large
// sealed extent (warm), through the same ReadBufferBytes buffer.
type MemoryResult struct {
	ReadBufferBytes    uint64 `json:"read_buffer_bytes"`
	SmallExtentBytes   uint64 `json:"small_extent_bytes"`
	SmallPeakHeapBytes uint64 `json:"small_peak_heap_bytes"`
	LargeExtentBytes   uint64 `json:"large_extent_bytes"`
	LargePeakHeapBytes uint64 `json:"large_peak_heap_bytes"`
}

// readPhase is what the read workloads found.
type readPhase struct {
	results   []ReadResult
	memory    MemoryResult
	dropError error // why the page cache could not be dropped, if so
}

// readExtent is a sealed extent written for the read workloads.
type readExtent struct {
	*extent.Extent
	label string // its nominal size, "1 GiB"
	size  uint64 // its nominal size in bytes
}

// runReads writes the read extents, reads them cold (when the page cache
// can be dropped) and warm, and removes them.
func (r *runner) runReads(ctx context.Context) (phase readPhase, err error) {
	large, small, err := r.writeReadExtents(ctx)
	if err != nil {
		return readPhase{}, err
	}
	defer func() { err = errors.Join(err, large.Remove(), small.Remove()) }()
	buf := make([]byte, readBufferSize)
	if phase.dropError = dropPageCache(); phase.dropError == nil {
		if err := r.readInto(ctx, &phase, large, cacheCold, buf); err != nil {
			return phase, err
		}
	}
	for _, e := range []readExtent{large, small} {
		if err := r.readInto(ctx, &phase, e, cacheWarm, buf); err != nil {
			return phase, err
		}
	}
	phase.memory = memoryResult(phase.results)
	return phase, nil
}

// readInto runs one timed read and adds its result to phase.
func (r *runner) readInto(ctx context.Context, phase *readPhase, e readExtent, cache string, buf []byte) error {
	result, err := r.timedRead(ctx, e, cache, buf)
	if err != nil {
		return fmt.Errorf("%s: %w", result.Workload, err)
	}
	phase.results = append(phase.results, result)
	return nil
}

// writeReadExtents writes the sealed extents of read-size and a quarter
// of it, without fdatasync; Seal makes them durable.
func (r *runner) writeReadExtents(ctx context.Context) (large, small readExtent, err error) {
	largeSize, smallSize := r.opts.ReadSize, r.opts.ReadSize/4
	r.progress.Note(fmt.Sprintf("writing sealed extents of %s and %s for the reads (no fdatasync, then Seal)", FormatBytes(largeSize), FormatBytes(smallSize)))
	if large, err = r.writeSealedExtent(ctx, largeSize); err != nil {
		return readExtent{}, readExtent{}, err
	}
	if small, err = r.writeSealedExtent(ctx, smallSize); err != nil {
		return readExtent{}, readExtent{}, errors.Join(err, large.Remove())
	}
	return large, small, nil
}

// writeSealedExtent fills a fresh extent with 64 KiB blocks up to size
// and seals it.
func (r *runner) writeSealedExtent(ctx context.Context, size uint64) (readExtent, error) {
	e, err := r.createExtent(0, false, true)
	if err != nil {
		return readExtent{}, err
	}
	if err := fillExtent(ctx, e, size); err != nil {
		return readExtent{}, errors.Join(err, e.Remove())
	}
	if err := e.Seal(e.CommitLength()); err != nil {
		return readExtent{}, errors.Join(fmt.Errorf("seal read extent: %w", err), e.Remove())
	}
	return readExtent{Extent: e, label: FormatBytes(size), size: size}, nil
}

// fillExtent appends blocks of readPayloadSize while they fit in size.
func fillExtent(ctx context.Context, e *extent.Extent, size uint64) error {
	batch := make([]extent.Block, readBatchBlocks)
	payload := randomPayload(readPayloadSize)
	for i := range batch {
		batch[i].Payload = payload
	}
	blockSize := extent.BlockSize(readPayloadSize)
	for e.CommitLength()+blockSize <= size {
		if err := ctx.Err(); err != nil {
			return err
		}
		fit := min(uint64(readBatchBlocks), (size-e.CommitLength())/blockSize)
		if _, err := e.Append(batch[:fit]...); err != nil {
			return fmt.Errorf("fill read extent: %w", err)
		}
	}
	return nil
}

// dropPageCache asks the kernel to drop the clean page cache (root only).
func dropPageCache() error {
	if err := os.WriteFile(dropCachesPath, []byte("1"), 0); err != nil {
		return fmt.Errorf("drop page cache: %w", err)
	}
	return nil
}

// timedRead reads e from start to end, again and again, until the
// duration is over, sampling the heap. A cold read makes one pass (the
// second would be warm); a warm read first makes one untimed pass so that
// all of e is in the page cache.
func (r *runner) timedRead(ctx context.Context, e readExtent, cache string, buf []byte) (ReadResult, error) {
	result := ReadResult{Workload: fmt.Sprintf("read sealed %s %s", e.label, cache), ExtentBytes: e.size, Cache: cache}
	r.progress.Start(result.Workload, r.opts.Duration)
	if cache == cacheWarm {
		if _, _, err := readPass(ctx, e.Extent, buf, time.Time{}); err != nil {
			return result, err
		}
	}
	runtime.GC() // the peak should not count earlier workloads' garbage
	sampler := startHeapSampler()
	start := time.Now()
	bytesRead, err := readPasses(ctx, e.Extent, buf, start.Add(r.opts.Duration), cache == cacheCold)
	result.Elapsed = time.Since(start)
	result.PeakHeapBytes = sampler.Stop()
	result.PayloadBytes = bytesRead
	result.PayloadBytesPerSec = float64(bytesRead) / result.Elapsed.Seconds()
	return result, err
}

// readPasses reads e from the start, again and again, until the
// deadline; only once when onePass.
func readPasses(ctx context.Context, e *extent.Extent, buf []byte, deadline time.Time, onePass bool) (uint64, error) {
	var total uint64
	for {
		n, complete, err := readPass(ctx, e, buf, deadline)
		total += n
		if err != nil || !complete || onePass || !time.Now().Before(deadline) {
			return total, err
		}
	}
}

// readPass reads e from its first block to its end, or until the deadline
// (none when zero). It returns the payload bytes read and whether it got
// to the end.
func readPass(ctx context.Context, e *extent.Extent, buf []byte, deadline time.Time) (uint64, bool, error) {
	var payloadBytes uint64
	offset := uint64(extent.ExtentHeaderSize)
	for {
		if err := ctx.Err(); err != nil {
			return payloadBytes, false, err
		}
		if !deadline.IsZero() && !time.Now().Before(deadline) {
			return payloadBytes, false, nil
		}
		blocks, next, err := e.Read(offset, buf)
		if err != nil {
			return payloadBytes, false, fmt.Errorf("read pass: %w", err)
		}
		if len(blocks) == 0 {
			return payloadBytes, true, nil
		}
		for _, b := range blocks {
			payloadBytes += uint64(len(b.Payload))
		}
		offset = next
	}
}

// memoryResult takes the warm reads' heap peaks; the first warm read is
// of the large extent, the second of the small one.
func memoryResult(results []ReadResult) MemoryResult {
	var warm []ReadResult
	for _, result := range results {
		if result.Cache == cacheWarm {
			warm = append(warm, result)
		}
	}
	m := MemoryResult{ReadBufferBytes: readBufferSize}
	if len(warm) == 2 {
		m.LargeExtentBytes, m.LargePeakHeapBytes = warm[0].ExtentBytes, warm[0].PeakHeapBytes
		m.SmallExtentBytes, m.SmallPeakHeapBytes = warm[1].ExtentBytes, warm[1].PeakHeapBytes
	}
	return m
}
