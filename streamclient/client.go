// Package streamclient is the client library of clogs streams: it finds and
// follows the stream manager's leader, caches stream layouts, appends to
// streams with rollover, retries and exactly-once for a single writer, and
// reads and tails them across extents. It keeps no state a restart would
// need.
package streamclient

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/clogs-io/clogs/conn"
	"github.com/clogs-io/clogs/extent"
	"github.com/clogs-io/clogs/node"
	clogspb "github.com/clogs-io/clogs/proto"
	"github.com/clogs-io/clogs/streammanager"
	"github.com/clogs-io/clogs/xlog"
)

// Config configures a Client.
type Config struct {
	// Managers are the stream managers' gRPC addresses; any of them will
	// do, the client follows the leader.
	Managers []string
	// MaxExtentSize is where a writer rolls over to a new extent.
	MaxExtentSize uint64
	// Attempts bounds the tries of one operation; Backoff is the first
	// pause between them, doubling up to MaxBackoff.
	Attempts   int
	Backoff    time.Duration
	MaxBackoff time.Duration
	// WriterInflight bounds the append requests a Writer has in flight;
	// WriterBatchBytes bounds one request made of calls that queued up
	// while the window was full. WriterPipelineBytes is how much must be
	// queued before a request goes out while another is in flight (0:
	// as soon as the window has room); below it, calls wait for the
	// answer and go together, as the primary's batches do
	// (node.Config.PipelineBytes). WriterLinger bounds how long, with
	// nothing in flight, calls wait for the callers an answer released to
	// append again, so that they go as one request; a writer waits only
	// while such callers have been coming back (0: never wait).
	WriterInflight      int
	WriterBatchBytes    uint64
	WriterPipelineBytes uint64
	WriterLinger        time.Duration
	// CallTimeout bounds each RPC (a caller's deadline still applies).
	CallTimeout time.Duration
	Conn        conn.Config
	Logger      *zap.Logger
}

// DefaultConfig returns a client for the local cluster of make run.
func DefaultConfig() Config {
	return Config{
		Managers: []string{"127.0.0.1:3401"}, MaxExtentSize: extent.DefaultMaxSize,
		Attempts: 8, Backoff: 50 * time.Millisecond, MaxBackoff: 2 * time.Second,
		WriterInflight: 2, WriterBatchBytes: 4 << 20, WriterPipelineBytes: 1 << 20, WriterLinger: 300 * time.Microsecond,
		CallTimeout: 10 * time.Second, Conn: conn.DefaultConfig(),
	}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	if len(c.Managers) == 0 {
		return errors.New("streamclient: no stream manager addresses")
	}
	// Smaller than the largest block is allowed (tests roll over often);
	// an append that cannot fit in one extent fails with ErrPermanent.
	if c.MaxExtentSize < extent.ExtentHeaderSize+extent.BlockSize(1) {
		return fmt.Errorf("streamclient: max extent size %d cannot hold one block", c.MaxExtentSize)
	}
	if c.Attempts < 1 || c.Backoff <= 0 || c.MaxBackoff < c.Backoff || c.CallTimeout <= 0 {
		return errors.New("streamclient: attempts, backoff and call timeout must be positive")
	}
	if c.WriterInflight < 1 || c.WriterBatchBytes < extent.BlockSize(1) || c.WriterBatchBytes > conn.MaxMessageSize/2 {
		return fmt.Errorf("streamclient: writer in flight %d must be at least 1, writer batch bytes %d between %d and %d",
			c.WriterInflight, c.WriterBatchBytes, extent.BlockSize(1), conn.MaxMessageSize/2)
	}
	return c.Conn.Validate()
}

// Client talks to the stream managers and extent-nodes of one cluster. It
// is safe for concurrent use.
type Client struct {
	cfg  Config
	lg   *zap.Logger
	pool *conn.Pool

	mu      sync.Mutex
	leader  string                             // guarded by mu; the manager to try first
	layouts map[uint64]*clogspb.StreamResponse // guarded by mu; newest layout seen, by stream ID (layouts.go)
	// unreachable holds nodes a shard could not be opened on, and when
	// (coded.go); guarded by mu.
	unreachable map[string]time.Time

	// afterAppend, when set by tests, sees every AppendBlocks outcome and
	// may replace it (to lose an ack after the replicas wrote).
	afterAppend func(err error) error
}

// New makes a client; it connects lazily.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	pool, err := conn.NewPool(cfg.Conn)
	if err != nil {
		return nil, err
	}
	return &Client{cfg: cfg, lg: xlog.OrNop(cfg.Logger), pool: pool, leader: cfg.Managers[0]}, nil
}

// Close closes every connection.
func (c *Client) Close() error { return c.pool.Close() }

// ErrPermanent marks errors that retrying cannot fix (bad input, unknown
// names); they come back at once.
var ErrPermanent = errors.New("streamclient: cannot succeed")

// permanent reports whether err cannot succeed on retry.
func permanent(err error) bool {
	return errors.Is(err, streammanager.ErrBadRequest) || errors.Is(err, streammanager.ErrNotFound) ||
		errors.Is(err, node.ErrBadRequest) || errors.Is(err, extent.ErrBlockSize) ||
		errors.Is(err, extent.ErrUserDataSize) || errors.Is(err, ErrPermanent)
}

// retry runs op up to Attempts times with backoff, until it succeeds or
// fails permanently.
func (c *Client) retry(ctx context.Context, op func() error) error {
	var err error
	for attempt := 0; attempt < c.cfg.Attempts; attempt++ {
		if err = op(); err == nil || permanent(err) || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), err)
		case <-time.After(backoff(&c.cfg, attempt)):
		}
	}
	return fmt.Errorf("streamclient: %d attempts: %w", c.cfg.Attempts, err)
}

// backoff is the pause after failed attempt number attempt (from 0):
// Backoff, doubling each attempt up to MaxBackoff.
func backoff(cfg *Config, attempt int) time.Duration {
	pause := cfg.Backoff
	for range attempt {
		if pause >= cfg.MaxBackoff {
			break
		}
		pause *= 2
	}
	return min(pause, cfg.MaxBackoff)
}

// manager calls the leading stream manager: it tries the last known
// leader, follows not-leader answers to the leader they name, and moves on
// to the next address when one does not answer.
func (c *Client) manager(ctx context.Context, call func(context.Context, clogspb.StreamManagerClient) error) error {
	return c.retry(ctx, func() error {
		addr := c.currentLeader()
		err := c.callManager(ctx, addr, call)
		if err == nil {
			return nil
		}
		var remote *streammanager.RemoteError
		if errors.As(err, &remote) && errors.Is(err, streammanager.ErrNotLeader) && remote.Leader != "" && remote.Leader != addr {
			c.setLeader(remote.Leader)
			return c.callManager(ctx, remote.Leader, call)
		}
		if !permanent(err) {
			c.nextManager(addr)
		}
		return err
	})
}

func (c *Client) callManager(ctx context.Context, addr string, call func(context.Context, clogspb.StreamManagerClient) error) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
	defer cancel()
	cc, err := c.pool.Get(ctx, addr)
	if err != nil {
		return err
	}
	return streammanager.FromStatus(call(ctx, clogspb.NewStreamManagerClient(cc)))
}

func (c *Client) currentLeader() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.leader
}

func (c *Client) setLeader(addr string) {
	c.mu.Lock()
	c.leader = addr
	c.mu.Unlock()
}

// nextManager moves past addr in the configured list.
func (c *Client) nextManager(addr string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, m := range c.cfg.Managers {
		if m == addr {
			c.leader = c.cfg.Managers[(i+1)%len(c.cfg.Managers)]
			return
		}
	}
	c.leader = c.cfg.Managers[0]
}

// extentNode calls an extent-node.
func (c *Client) extentNode(ctx context.Context, addr string, call func(context.Context, clogspb.ExtentServiceClient) error) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
	defer cancel()
	cc, err := c.pool.Get(ctx, addr)
	if err != nil {
		return err
	}
	return node.FromStatus(call(ctx, clogspb.NewExtentServiceClient(cc)))
}

// CreateStream creates a stream, or returns the existing one of that name.
func (c *Client) CreateStream(ctx context.Context, name string) (*clogspb.StreamResponse, error) {
	var resp *clogspb.StreamResponse
	err := c.manager(ctx, func(ctx context.Context, sm clogspb.StreamManagerClient) (err error) {
		resp, err = sm.CreateStream(ctx, &clogspb.CreateStreamRequest{Name: name})
		return err
	})
	return c.noteLayout(resp), err
}

// CreateStreamWithPolicy creates a stream with a retention policy, or
// returns the existing one of that name (whose policy it leaves alone).
func (c *Client) CreateStreamWithPolicy(ctx context.Context, name string, policy *clogspb.StreamPolicy) (*clogspb.StreamResponse, error) {
	var resp *clogspb.StreamResponse
	err := c.manager(ctx, func(ctx context.Context, sm clogspb.StreamManagerClient) (err error) {
		resp, err = sm.CreateStream(ctx, &clogspb.CreateStreamRequest{Name: name, Policy: policy})
		return err
	})
	return c.noteLayout(resp), err
}

// SetStreamPolicy replaces a stream's retention policy.
func (c *Client) SetStreamPolicy(ctx context.Context, streamID uint64, policy *clogspb.StreamPolicy) (*clogspb.StreamResponse, error) {
	var resp *clogspb.StreamResponse
	err := c.manager(ctx, func(ctx context.Context, sm clogspb.StreamManagerClient) (err error) {
		resp, err = sm.SetStreamPolicy(ctx, &clogspb.SetStreamPolicyRequest{StreamId: streamID, Policy: policy})
		return err
	})
	return c.noteLayout(resp), err
}

// StreamInfo returns a stream's layout by name.
func (c *Client) StreamInfo(ctx context.Context, name string) (*clogspb.StreamResponse, error) {
	var resp *clogspb.StreamResponse
	err := c.manager(ctx, func(ctx context.Context, sm clogspb.StreamManagerClient) (err error) {
		resp, err = sm.StreamInfo(ctx, &clogspb.StreamInfoRequest{Stream: &clogspb.StreamInfoRequest_Name{Name: name}})
		return err
	})
	return c.noteLayout(resp), err
}

// ListStreams lists every stream.
func (c *Client) ListStreams(ctx context.Context) (*clogspb.ListStreamsResponse, error) {
	var resp *clogspb.ListStreamsResponse
	err := c.manager(ctx, func(ctx context.Context, sm clogspb.StreamManagerClient) (err error) {
		resp, err = sm.ListStreams(ctx, &clogspb.ListStreamsRequest{})
		return err
	})
	return resp, err
}

// NodesInfo lists the extent-nodes.
func (c *Client) NodesInfo(ctx context.Context) (*clogspb.NodesInfoResponse, error) {
	var resp *clogspb.NodesInfoResponse
	err := c.manager(ctx, func(ctx context.Context, sm clogspb.StreamManagerClient) (err error) {
		resp, err = sm.NodesInfo(ctx, &clogspb.NodesInfoRequest{})
		return err
	})
	return resp, err
}

// allocExtent seals the stream's tail (if it is still tail) and adds a new
// extent; it returns the new layout.
func (c *Client) allocExtent(ctx context.Context, streamID, tail uint64) (*clogspb.StreamResponse, error) {
	var resp *clogspb.StreamResponse
	err := c.manager(ctx, func(ctx context.Context, sm clogspb.StreamManagerClient) (err error) {
		resp, err = sm.StreamAllocExtent(ctx, &clogspb.StreamAllocExtentRequest{StreamId: streamID, TailExtentId: tail})
		return err
	})
	return c.noteLayout(resp), err
}
