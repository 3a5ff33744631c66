package conn

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
)

// ErrPoolClosed is returned by Get after Close.
var ErrPoolClosed = errors.New("conn: pool closed")

// ErrNotReady is returned, wrapped with the address, the time waited and
// the context's error, when a connection did not become ready in time.
var ErrNotReady = errors.New("conn: not ready")

// errConnShutdown says that a connection was closed (by Remove or Close)
// while Get waited for it.
var errConnShutdown = errors.New("conn: connection shut down")

// backoffKickInterval is the shortest time between two backoff resets of
// one connection by Get (see Pool.kick). It equals gRPC's base backoff
// delay, so callers can never make a connection redial a dead peer more
// often than gRPC itself would after its first failure.
const backoffKickInterval = time.Second

// Pool shares one *grpc.ClientConn per address among all callers.
//
// A connection stays in the pool until Remove or Close, also while its peer
// is down: gRPC reconnects it in the background with exponential backoff,
// and Get waits (bounded) for it to be ready again. Callers must not close
// connections they get; they use Remove to drop one.
type Pool struct {
	cfg         Config
	lg          *zap.Logger
	dialOptions []grpc.DialOption

	mu     sync.Mutex
	conns  map[string]*pooledConn // guarded by mu; nil once closed
	closed bool                   // guarded by mu
}

type pooledConn struct {
	cc *grpc.ClientConn
	// lastKick is when Get last reset the connection's backoff, in Unix
	// nanoseconds.
	lastKick atomic.Int64
}

// NewPool returns an empty pool that connects as cfg says.
func NewPool(cfg Config) (*Pool, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	lg := cfg.Logger
	if lg == nil {
		lg = zap.NewNop()
	}
	return &Pool{
		cfg:         cfg,
		lg:          lg,
		dialOptions: cfg.DialOptions(),
		conns:       make(map[string]*pooledConn),
	}, nil
}

// Get returns the pool's connection to addr ("host:port"), creating it on
// first use, once it is ready to carry RPCs. It waits at most the shorter
// of ctx and Config.DialTimeout; if the connection is not ready by then,
// it returns an error wrapping ErrNotReady and the context error, and the
// connection stays pooled, reconnecting in the background. After Close it
// returns ErrPoolClosed.
func (p *Pool) Get(ctx context.Context, addr string) (*grpc.ClientConn, error) {
	if addr == "" {
		return nil, errors.New("conn: empty address")
	}
	pc, err := p.lookup(addr)
	if err != nil {
		return nil, err
	}
	if pc.cc.GetState() == connectivity.Ready {
		return pc.cc, nil
	}
	start := time.Now()
	waitCtx, cancel := context.WithTimeout(ctx, p.cfg.DialTimeout)
	defer cancel()
	for {
		err := p.waitReady(waitCtx, pc)
		if err == nil {
			return pc.cc, nil
		}
		if !errors.Is(err, errConnShutdown) {
			return nil, p.notReady(addr, pc.cc, start, err)
		}
		// Removed or closed while we waited: take the fresh connection,
		// or ErrPoolClosed.
		if pc, err = p.lookup(addr); err != nil {
			return nil, err
		}
	}
}

// lookup returns the pooled connection to addr, creating it if needed.
// grpc.NewClient does not connect, so creating under the mutex is cheap,
// and it makes concurrent first Gets share one connection.
func (p *Pool) lookup(addr string) (*pooledConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrPoolClosed
	}
	if pc := p.conns[addr]; pc != nil {
		return pc, nil
	}
	cc, err := grpc.NewClient(addr, p.dialOptions...)
	if err != nil {
		return nil, fmt.Errorf("conn: new client for %s: %w", addr, err)
	}
	pc := &pooledConn{cc: cc}
	p.conns[addr] = pc
	p.lg.Debug("new connection", zap.String("addr", addr))
	return pc, nil
}

// waitReady starts connecting if the connection is idle and waits until it
// is ready, shut down, or ctx is done.
func (p *Pool) waitReady(ctx context.Context, pc *pooledConn) error {
	for {
		state := pc.cc.GetState()
		switch state {
		case connectivity.Ready:
			return nil
		case connectivity.Shutdown:
			return errConnShutdown
		case connectivity.Idle:
			pc.cc.Connect()
		case connectivity.TransientFailure:
			p.kick(pc)
		}
		if !pc.cc.WaitForStateChange(ctx, state) {
			return ctx.Err()
		}
	}
}

// kick makes a connection in TRANSIENT_FAILURE try again now rather than
// when its backoff expires. gRPC's backoff grows to two minutes while a
// peer is down; without the kick, a peer that has come back would stay
// unusable for that long, and every Get would time out although a dial
// would succeed. Kicks are rate-limited per connection.
func (p *Pool) kick(pc *pooledConn) {
	now := time.Now().UnixNano()
	last := pc.lastKick.Load()
	if now-last < int64(backoffKickInterval) || !pc.lastKick.CompareAndSwap(last, now) {
		return
	}
	pc.cc.ResetConnectBackoff()
}

func (p *Pool) notReady(addr string, cc *grpc.ClientConn, start time.Time, cause error) error {
	waited := time.Since(start).Round(time.Millisecond)
	state := cc.GetState()
	p.lg.Debug("connection not ready", zap.String("addr", addr),
		zap.Duration("waited", waited), zap.Stringer("state", state), zap.Error(cause))
	return fmt.Errorf("%w: %s still %s after %v (dial timeout %v): %w",
		ErrNotReady, addr, state, waited, p.cfg.DialTimeout, cause)
}

// Remove closes the connection to addr and forgets it; the next Get
// creates a new one. Callers still using the old connection see their RPCs
// fail with codes.Canceled. Removing an unknown address does nothing.
func (p *Pool) Remove(addr string) error {
	p.mu.Lock()
	pc := p.conns[addr]
	delete(p.conns, addr)
	p.mu.Unlock()
	if pc == nil {
		return nil
	}
	p.lg.Debug("removing connection", zap.String("addr", addr))
	if err := pc.cc.Close(); err != nil {
		return fmt.Errorf("conn: close %s: %w", addr, err)
	}
	return nil
}

// Close closes every connection; later Gets fail with ErrPoolClosed.
// Closing a closed pool does nothing.
func (p *Pool) Close() error {
	p.mu.Lock()
	conns := p.conns
	p.conns = nil
	p.closed = true
	p.mu.Unlock()
	var errs []error
	for addr, pc := range conns {
		if err := pc.cc.Close(); err != nil {
			errs = append(errs, fmt.Errorf("conn: close %s: %w", addr, err))
		}
	}
	return errors.Join(errs...)
}
