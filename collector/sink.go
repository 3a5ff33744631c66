package collector

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/clogs-io/clogs/extent"
	"github.com/clogs-io/clogs/logblock"
	"github.com/clogs-io/clogs/streamclient"
)

// sink batches the lines of one stream into log blocks and appends them,
// one append in flight at a time, so that the lines of a stream (and so of
// one file) are stored in the order they were received. Lines that arrive
// while an append is in flight wait in the next block: under load blocks
// grow toward BlockBytes, when idle a line waits at most FlushInterval.
//
// A block whose append fails after the client's retries is dropped and its
// lines counted ("append_failed"); one that lands twice after an
// ambiguous failure carries the same (writer ID, batch sequence), and
// readers drop the repeat.
type sink struct {
	c    *Collector
	name string

	mu       sync.Mutex
	builder  logblock.Builder // guarded by mu
	building int64            // guarded by mu; buffered bytes of the lines in builder
	oldest   time.Time        // guarded by mu; when the first line in builder arrived
	ready    []pendingBlock   // guarded by mu; finished blocks waiting to be appended, in order
	closing  bool             // guarded by mu; flush everything, then stop
	retired  bool             // guarded by mu; idle and gone from the collector's map: add fails with errRetired
	active   time.Time        // guarded by mu; when the last line was added
	wake     chan struct{}    // capacity 1: something to do
	done     chan struct{}    // closed when run returns

	writer *streamclient.SharedWriter // used by run only
}

// pendingBlock is a finished block and the lines and buffered bytes it
// accounts for.
type pendingBlock struct {
	block       extent.Block
	lines       int
	recordBytes int
	buffered    int64
}

func newSink(c *Collector, name string) *sink {
	s := &sink{c: c, name: name, wake: make(chan struct{}, 1), done: make(chan struct{}), active: time.Now()}
	go s.run()
	return s
}

// add puts a line in the stream's current block. buffered is what the
// line holds of the collector's memory bound.
func (s *sink) add(r logblock.Record, buffered int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.retired {
		return errRetired
	}
	if s.closing {
		return errClosing
	}
	s.active = time.Now()
	err := s.builder.Add(r)
	if errors.Is(err, logblock.ErrBlockFull) {
		s.finishLocked()
		err = s.builder.Add(r)
	}
	if err != nil {
		return err
	}
	if s.builder.Count() == 1 {
		s.oldest = time.Now()
	}
	s.building += buffered
	if s.builder.Len() >= s.c.cfg.BlockBytes {
		s.finishLocked()
	}
	s.signal()
	return nil
}

var (
	errClosing = errors.New("collector: shutting down")
	// errRetired: the sink stopped for being idle; the caller takes a new
	// one for the stream.
	errRetired = errors.New("collector: stream sink retired")
)

// finishLocked turns the current batch into a block waiting to be
// appended.
func (s *sink) finishLocked() {
	if s.builder.Count() == 0 {
		return
	}
	lines, recordBytes := s.builder.Count(), s.builder.Len()
	payload, userData, err := s.builder.Finish(s.c.writerID, s.c.batchSeq.Add(1))
	if err != nil { // only ErrEmpty, excluded above
		s.c.lg.Error("finish log block", zap.String("stream", s.name), zap.Error(err))
		s.c.metrics.drop(reasonInternal, lines)
		s.c.release(s.building)
		s.building = 0
		return
	}
	s.ready = append(s.ready, pendingBlock{block: extent.Block{Payload: payload, UserData: userData}, lines: lines, recordBytes: recordBytes, buffered: s.building})
	s.building = 0
}

func (s *sink) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// close makes run flush everything and stop; it does not wait.
func (s *sink) close() {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	s.signal()
}

// run appends blocks as they become ready or old enough, until closed
// and empty.
func (s *sink) run() {
	defer close(s.done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		blocks, wait, stop := s.take()
		for _, b := range blocks {
			s.append(b)
		}
		if stop || (len(blocks) == 0 && s.retireIfIdle()) {
			return
		}
		if len(blocks) > 0 {
			continue
		}
		timer.Reset(wait)
		select {
		case <-s.wake:
		case <-timer.C:
		}
	}
}

// take returns the blocks to append now; when there are none, how long
// to wait for the current batch to come of age, and whether run is done.
func (s *sink) take() (blocks []pendingBlock, wait time.Duration, stop bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	wait = max(s.c.cfg.IdleTimeout-time.Since(s.active), time.Millisecond)
	if s.builder.Count() > 0 {
		age := time.Since(s.oldest)
		if s.closing || age >= s.c.cfg.FlushInterval {
			s.finishLocked()
		} else {
			wait = s.c.cfg.FlushInterval - age
		}
	}
	blocks, s.ready = s.ready, nil
	return blocks, wait, s.closing && len(blocks) == 0
}

// retireIfIdle stops a sink that has had nothing to do for IdleTimeout:
// streams come and go (a file a day), and a sink per stream ever seen
// would reach MaxStreams. It reports whether the sink retired.
func (s *sink) retireIfIdle() bool {
	s.c.mu.Lock() // lock order: the collector's mu, then the sink's
	defer s.c.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing || s.builder.Count() > 0 || len(s.ready) > 0 || time.Since(s.active) < s.c.cfg.IdleTimeout {
		return false
	}
	s.retired = true
	if s.c.sinks[s.name] == s {
		delete(s.c.sinks, s.name)
	}
	return true
}

// append stores one block, counting its lines as stored or dropped.
func (s *sink) append(b pendingBlock) {
	defer s.c.release(b.buffered)
	ctx, cancel := context.WithTimeout(context.Background(), s.c.appendTimeout())
	defer cancel()
	began := time.Now()
	err := s.openWriter(ctx)
	if err == nil {
		_, err = s.writer.Append(ctx, b.block)
	}
	if err != nil {
		s.c.lg.Warn("log block not stored", zap.String("stream", s.name), zap.Int("lines", b.lines), zap.Error(err))
		s.c.metrics.drop(reasonAppendFailed, b.lines)
		return
	}
	s.c.metrics.stored(b.lines, b.recordBytes, len(b.block.Payload), time.Since(began))
}

func (s *sink) openWriter(ctx context.Context) error {
	if s.writer != nil {
		return nil
	}
	if p := s.c.cfg.StreamPolicy; p != nil {
		// A new stream gets the collector's policy; an existing one
		// keeps its own.
		if _, err := s.c.client.CreateStreamWithPolicy(ctx, s.name, p); err != nil {
			return err
		}
	}
	w, err := s.c.client.OpenSharedWriter(ctx, s.name)
	if err != nil {
		return err
	}
	s.writer = w
	return nil
}
