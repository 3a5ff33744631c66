package streamclient

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/clogs-io/clogs/extent"
)

// sendGate queues a writer's calls and decides when they go out as a
// request; both writers use it, under their own mutex.
//
// While a request is in flight, another goes out only once
// Config.WriterPipelineBytes are queued: sending a few blocks the moment
// a slot frees splits the calls that come back together into a small
// request and a large one, each costing the replicas a batch (make
// bench-cluster's 4 KiB x 64 single writer made 41% of its batches from 1
// to 3 blocks, at 13k appends/s; waiting for the answer instead gave
// 16-18k).
//
// With none in flight, a request goes out at once, unless callers that the
// last answer released are still on their way back (hold): the first of
// them to append would otherwise go alone, and the split would repeat
// answer after answer (1 and 63 blocks taking turns at 4 KiB x 64,
// 17-18k appends/s; holding for the rest gave 23-25k).
type sendGate struct {
	cfg *Config
	// mu is the writer's mutex, which guards the fields below and which
	// a hold's timer takes to call pump.
	mu   *sync.Mutex
	pump func() // the writer's pumpLocked

	returning int    // callers the last answer released, expected to append again
	holdGen   uint64 // counts holds, so that a timer ends only its own

	// Whether callers come back: of the calls the last answer released,
	// how many calls arrived within WriterLinger of it (cameBack), and
	// the running share of returns over earlier answers (returnShare,
	// starting at 1). Callers that keep appends in flight come back at
	// once; callers that each append once and go (an open loop) do not,
	// and holding for them would only delay the calls that do arrive.
	answeredAt  time.Time
	released    int
	cameBack    int
	returnShare float64
}

// holdShare is the share of released callers that must have come back,
// on average, for the gate to hold for them.
const holdShare = 0.75

// appendAndWait is both writers' Append: it queues blocks as one call on
// queue (the writer's, guarded by g.mu), lets the writer send what the
// gate allows, and waits for the call's outcome or for ctx.
func (g *sendGate) appendAndWait(ctx context.Context, queue *[]*writeCall, blocks []extent.Block) ([]Address, error) {
	size, err := callSize(blocks)
	if err != nil {
		return nil, err
	}
	if extent.ExtentHeaderSize+size > g.cfg.MaxExtentSize {
		return nil, fmt.Errorf("%w: %d bytes of blocks do not fit in one extent of %d", ErrPermanent, size, g.cfg.MaxExtentSize)
	}
	call := &writeCall{blocks: blocks, done: make(chan struct{})}
	g.mu.Lock()
	*queue = append(*queue, call)
	g.arrivedLocked()
	g.pump()
	g.mu.Unlock()
	select {
	case <-call.done:
		if call.err != nil {
			return nil, call.err
		}
		return call.landed, nil
	case <-ctx.Done():
		g.mu.Lock()
		defer g.mu.Unlock()
		return nil, abandonLocked(queue, call, ctx.Err())
	}
}

// abandonLocked is Append's answer when the caller stops waiting: a call
// still queued is taken out and not sent (again); one in flight may still
// land.
// Called with the writer's mutex held; queue is the writer's.
func abandonLocked(queue *[]*writeCall, call *writeCall, cause error) error {
	select {
	case <-call.done:
		// Finished meanwhile: report the real outcome's absence honestly.
		if call.err != nil {
			return call.err
		}
		return fmt.Errorf("%w: the blocks landed at %v, but the caller gave up: %w", ErrOutcomeUnknown, call.landed, cause)
	default:
	}
	call.gaveUp = true
	for i, queued := range *queue {
		if queued == call && len(call.landed) == 0 {
			*queue = slices.Delete(*queue, i, i+1)
			call.finish(cause)
			if call.maybeLanded {
				return fmt.Errorf("%w: an earlier request of the append failed, and the caller gave up before it was sent again: %w", ErrOutcomeUnknown, cause)
			}
			return fmt.Errorf("streamclient: append not sent: %w", cause)
		}
	}
	return fmt.Errorf("%w: %w", ErrOutcomeUnknown, cause)
}

// arrivedLocked notes a new call: perhaps one of those expected back.
func (g *sendGate) arrivedLocked() {
	if g.returning > 0 {
		g.returning--
	}
	if g.released > 0 && time.Since(g.answeredAt) <= g.cfg.WriterLinger {
		g.cameBack++
	}
}

// maySendLocked says whether a request may go out now, with inflight
// requests awaiting answers and queue waiting.
func (g *sendGate) maySendLocked(inflight int, queue []*writeCall) bool {
	if inflight == 0 && g.returning == 0 {
		return true
	}
	var queued uint64
	for _, call := range queue {
		queued += blocksSize(call.pending())
		if queued >= g.cfg.WriterPipelineBytes {
			return true
		}
	}
	return false
}

// holdLocked expects the callers of the released calls, which an answer
// just finished, to append again, as callers that keep a number of
// appends in flight do: until they all have, or WriterLinger has passed,
// a request goes out only with a batch's worth queued. A caller that
// waits for one append at a time is not held: its next append is the one
// expected. Nothing is held while another request is in flight, nor while
// released callers have mostly not come back (returnShare below
// holdShare): with an open loop of callers, holding cost a request cycle
// a call (make bench-cluster's cluster, 2,000 appends/s from a fresh
// goroutine each: p50 1.1 ms without holding, 2.3 ms with).
func (g *sendGate) holdLocked(inflight, released int) {
	if g.released > 0 {
		share := min(1, float64(g.cameBack)/float64(g.released))
		g.returnShare = 0.75*g.returnShare + 0.25*share
	} else if g.answeredAt.IsZero() {
		g.returnShare = 1
	}
	g.answeredAt, g.released, g.cameBack = time.Now(), released, 0
	if g.cfg.WriterLinger <= 0 || inflight > 0 || released == 0 || g.returnShare < holdShare {
		return
	}
	g.returning = released
	g.holdGen++
	gen := g.holdGen
	time.AfterFunc(g.cfg.WriterLinger, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.holdGen == gen && g.returning > 0 {
			g.returning = 0
			g.pump()
		}
	})
}

// takeCalls takes queued calls, whole and in order, into one request of
// at most maxBytes (at least one call) that, written at start, ends at or
// before limit. It returns the calls taken and their bytes, and leaves the
// rest queued; none when the first call does not fit.
func takeCalls(queue *[]*writeCall, start, limit, maxBytes uint64) ([]*writeCall, uint64) {
	var calls []*writeCall
	var bytes uint64
	for len(*queue) > 0 {
		call := (*queue)[0]
		size := blocksSize(call.pending())
		if start+bytes+size > limit || (len(calls) > 0 && bytes+size > maxBytes) {
			break
		}
		*queue = (*queue)[1:]
		calls = append(calls, call)
		bytes += size
	}
	return calls, bytes
}
