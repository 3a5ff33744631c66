package nodebench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/clogs-io/clogs/conn"
	"github.com/clogs-io/clogs/extent"
	"github.com/clogs-io/clogs/internal/benchkit"
	"github.com/clogs-io/clogs/node"
	clogspb "github.com/clogs-io/clogs/proto"
)

// callTimeout bounds one bench RPC; an append that takes this long is a
// failure of the run, not a latency sample.
const callTimeout = 30 * time.Second

// extentRoller hands out the extent the appenders write to, and
// allocates the next one on all three nodes when that is full.
type extentRoller struct {
	pool   *conn.Pool
	addrs  []string
	nextID func() uint64

	mu      sync.Mutex
	current uint64   // guarded by mu
	used    []uint64 // every extent allocated; guarded by mu
}

func newExtentRoller(ctx context.Context, pool *conn.Pool, addrs []string, nextID func() uint64) (*extentRoller, error) {
	e := &extentRoller{pool: pool, addrs: addrs, nextID: nextID}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e, e.allocLocked(ctx)
}

// id returns the extent to append to.
func (e *extentRoller) id() uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.current
}

// roll moves on from full, unless another appender already did.
func (e *extentRoller) roll(ctx context.Context, full uint64) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.current != full {
		return nil
	}
	return e.allocLocked(ctx)
}

// allocLocked allocates a fresh extent with node 1 as its primary.
func (e *extentRoller) allocLocked(ctx context.Context) error {
	id := e.nextID()
	var set []*clogspb.Replica
	for i, addr := range e.addrs {
		set = append(set, &clogspb.Replica{NodeId: uint64(i + 1), Addr: addr})
	}
	for self, addr := range e.addrs {
		client, err := e.client(ctx, addr)
		if err != nil {
			return err
		}
		callCtx, cancel := context.WithTimeout(ctx, callTimeout)
		_, err = client.AllocExtent(callCtx, &clogspb.AllocExtentRequest{ExtentId: id, Replicas: set, SelfIndex: uint32(self)})
		cancel()
		if err != nil {
			return fmt.Errorf("alloc extent %d on %s: %w", id, addr, node.FromStatus(err))
		}
	}
	e.current = id
	e.used = append(e.used, id)
	return nil
}

// removeAll deletes every extent it allocated from every node, so that
// the next workload starts with the disk as empty as this one did.
func (e *extentRoller) removeAll(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	var errs []error
	for _, id := range e.used {
		for _, addr := range e.addrs {
			client, err := e.client(ctx, addr)
			if err == nil {
				callCtx, cancel := context.WithTimeout(ctx, callTimeout)
				_, err = client.DeleteExtent(callCtx, &clogspb.DeleteExtentRequest{ExtentId: id})
				cancel()
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("delete extent %d on %s: %w", id, addr, node.FromStatus(err)))
			}
		}
	}
	return errors.Join(errs...)
}

func (e *extentRoller) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.used)
}

func (e *extentRoller) client(ctx context.Context, addr string) (clogspb.ExtentServiceClient, error) {
	cc, err := e.pool.Get(ctx, addr)
	if err != nil {
		return nil, err
	}
	return clogspb.NewExtentServiceClient(cc), nil
}

// appender is one in-flight slot: a goroutine doing synchronous appends.
type appender struct {
	latency *benchkit.LatencyRecorder
	ops     int64
	err     error
}

// appendOnce appends one block to the roller's extent, rolling over a
// full one. It returns the call's latency.
func appendOnce(ctx context.Context, primary clogspb.ExtentServiceClient, roller *extentRoller, payload []byte) (time.Duration, error) {
	for {
		id := roller.id()
		callCtx, cancel := context.WithTimeout(ctx, callTimeout)
		began := time.Now()
		_, err := primary.AppendBlocks(callCtx, &clogspb.AppendBlocksRequest{ExtentId: id, Blocks: []*clogspb.Block{{Payload: payload}}})
		took := time.Since(began)
		cancel()
		if err == nil {
			return took, nil
		}
		err = node.FromStatus(err)
		if !errors.Is(err, extent.ErrFull) {
			return 0, fmt.Errorf("append to extent %d: %w", id, err)
		}
		if err := roller.roll(ctx, id); err != nil {
			return 0, err
		}
	}
}

// run appends until the deadline, an error or cancellation, cycling
// through payloads from the first'th on.
func (a *appender) run(ctx context.Context, primary clogspb.ExtentServiceClient, roller *extentRoller, payloads [][]byte, first int, deadline time.Time) {
	for i := first; time.Now().Before(deadline); i++ {
		if a.err = ctx.Err(); a.err != nil {
			return
		}
		took, err := appendOnce(ctx, primary, roller, payloads[i%len(payloads)])
		if err != nil {
			a.err = err
			return
		}
		a.latency.Record(took)
		a.ops++
	}
}
